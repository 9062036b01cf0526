"""Nearest ray-element hits for many rays at once.

Ray i is ``P_i + t D_i`` (unit D, t >= 0); element m is ``A_m + s E_m`` (s in [0, 1]).
With cross(a, b) = a.x b.y - a.y b.x and R = A - P:

    denom = cross(D, E),  t = cross(R, E) / denom,  s = cross(R, D) / denom

A hit needs t > epsilon and 0 <= s <= 1; parallel pairs (denom == 0) never hit.
The reference tracer evaluates exactly these expressions one pair at a time.

Evaluating them for every (ray, element) pair costs about twenty array passes
over the (rays x elements) matrix, so the pairs are first culled with a
three-pass test: a ray can only cross an element if its line passes within
half the element's length of the element's centre. Only the survivors
(typically a few percent) get the exact test, on gathered 1-D arrays.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from optiverse.optics.prepare import Elements

__all__ = ["HitFinder"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

# Rays per chunk is chosen so each (rays, elements) temporary holds about this
# many cells: within L2 cache, yet few enough chunks that numpy's per-call cost
# stays small.
_CHUNK_CELLS = 1 << 16

# The cull compares a rounded distance with the element's half-length; the
# slack keeps every pair the exact test could accept (rounding is ~1e-16
# relative, coordinates are bounded by 1e6 mm).
_CULL_SLACK_MM = 1e-6
_CULL_SLACK_REL = 1e-9


class HitFinder:
    """Finds, for a batch of rays, the nearest element each one hits."""

    def __init__(self, elements: Elements, epsilon: float) -> None:
        self.n_elem = len(elements)
        # Gathered per candidate pair in one call; columns ax, ay, ex, ey.
        self.segs = np.ascontiguousarray(np.column_stack((elements.start, elements.span)))
        centre = elements.start + 0.5 * elements.span
        self.cx = np.ascontiguousarray(centre[:, 0])
        self.cy = np.ascontiguousarray(centre[:, 1])
        self.reach = 0.5 * elements.length * (1.0 + _CULL_SLACK_REL) + _CULL_SLACK_MM
        self.epsilon = epsilon

    def nearest(self, rays: F64, last: I64) -> tuple[I64, F64, F64]:
        """Per ray: (element index or -1, distance t or inf, position s along the element).

        ``rays`` is (R, >= 4) with columns x, y, dx, dy. Element ``last[i]`` (the one
        ray i just left, or -1) is skipped: a straight ray cannot meet a flat
        element twice in a row, and skipping it beats any epsilon at grazing
        incidence. Ties go to the lowest element index.
        """
        n_rays = len(rays)
        n_elem = self.n_elem
        if n_rays == 0 or n_elem == 0:
            return np.full(n_rays, -1, dtype=np.int64), np.full(n_rays, np.inf), np.zeros(n_rays)
        step = max(1, _CHUNK_CELLS // n_elem)
        if n_rays <= step:
            return self._chunk(rays, last)
        parts = [
            self._chunk(rays[lo : lo + step], last[lo : lo + step]) for lo in range(0, n_rays, step)
        ]
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )

    def _chunk(self, rays: F64, last: I64) -> tuple[I64, F64, F64]:
        k = len(rays)
        m = self.n_elem
        px = rays[:, 0:1]
        py = rays[:, 1:2]
        dx = rays[:, 2:3]
        dy = rays[:, 3:4]
        rows = np.arange(k)

        # Cull: distance of each element's centre from each ray's line,
        # cross(D, C - P) = dx cy - dy cx - (dx py - dy px).
        near = dx * self.cy
        near -= dy * self.cx
        near -= dx * py - dy * px
        np.abs(near, out=near)
        cand = near <= self.reach
        has_last = last >= 0
        cand[rows[has_last], last[has_last]] = False
        flat = np.flatnonzero(cand)
        ri = flat // m
        ej = flat - ri * m

        # Exact test on the candidates, in the reference's expressions.
        r = rays[ri]
        e = self.segs[ej]
        rdx = r[:, 2]
        rdy = r[:, 3]
        ex = e[:, 2]
        ey = e[:, 3]
        denom = rdx * ey - rdy * ex
        rx = e[:, 0] - r[:, 0]
        ry = e[:, 1] - r[:, 1]
        t = (rx * ey - ry * ex) / denom
        s = (rx * rdy - ry * rdx) / denom
        ok = (t > self.epsilon) & (s >= 0.0) & (s <= 1.0)

        # Scatter into a dense (rays, elements) table so argmin keeps the
        # lowest-index tie rule of the reference.
        table = np.full(k * m, np.inf)
        table[flat] = np.where(ok, t, np.inf)
        j = np.argmin(table.reshape(k, m), axis=1)
        chosen = rows * m + j
        dist = table[chosen]
        found = dist < np.inf
        # ``flat`` is sorted, so a chosen pair's candidate slot is a binary search
        # away; rays with no hit land anywhere and are masked out.
        slot = np.minimum(np.searchsorted(flat, chosen), max(len(flat) - 1, 0))
        pos = s[slot] if len(flat) else np.zeros(k)
        return np.where(found, j, -1), dist, np.where(found, pos, 0.0)
