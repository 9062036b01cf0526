"""Nearest ray-element hits for many rays at once.

Ray i is ``P_i + t D_i`` (unit D, t >= 0); element m is ``A_m + s E_m`` (s in [0, 1]).
With cross(a, b) = a.x b.y - a.y b.x and R = A - P:

    denom = cross(D, E),  t = cross(R, E) / denom,  s = cross(R, D) / denom

A hit needs t > epsilon and 0 <= s <= 1; parallel pairs (denom == 0) never hit.
The reference tracer evaluates exactly these expressions one pair at a time.

Evaluating them for every (ray, element) pair costs about twenty array passes
over the (rays x elements) matrix. For small batches that is cheapest anyway
(numpy's per-call cost dominates), but for large ones the pairs are first
culled with a few passes: a ray can only cross an element if its line passes
within half the element's length of the element's centre. Only the survivors
(typically a few percent) get the exact test, on gathered 1-D arrays.
"""

from __future__ import annotations

import threading

import numpy as np
from numpy.typing import NDArray

from optiverse.optics.prepare import Elements

__all__ = ["MISS", "HitFinder"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

# Rays per chunk is chosen so each (rays, elements) temporary holds about this
# many cells: within L2 cache, yet few enough chunks that numpy's per-call cost
# stays small.
_CHUNK_CELLS = 1 << 16

# Batches up to this many (ray, element) pairs skip the cull: measured on
# 100 x 50 (dense ~8% faster) and 2000 x 200 (culled ~2x faster).
DENSE_MAX_CELLS = 1 << 13

# The cull compares a rounded distance with the element's half-length; the
# slack keeps every pair the exact test accepts (rounding is ~1e-16 relative,
# coordinates are bounded by 1e6 mm). The one exception is a ray parallel to
# an element to within ~1e-10 rad, whose computed s is rounding noise anyway.
_CULL_SLACK_MM = 1e-6
_CULL_SLACK_REL = 1e-9


class _Workspace(threading.local):
    """Work arrays reused across calls and traces, one set per thread.

    Fresh (rays x elements) temporaries cost an ``mmap`` and a page fault per
    page each once they pass glibc's mmap threshold (128 KiB); at a few thousand
    cells that cost more than the arithmetic.
    """

    def __init__(self) -> None:
        self.cells = 0
        self.f = np.empty((_F_ROWS, 0))
        self.b = np.empty((_B_ROWS, 0), dtype=bool)
        self.owner: HitFinder | None = None
        self.tiled_rays = 0
        # Row views by cell count: unpacking 16 rows costs more than the use of some.
        self.views: dict[int, tuple[list[F64], list[NDArray[np.bool_]]]] = {}
        self.row_base: dict[int, I64] = {}

    def arrays(self, cells: int) -> tuple[list[F64], list[NDArray[np.bool_]]]:
        views = self.views.get(cells)
        if views is None:
            if cells > self.cells:
                # Doubling, but never past a chunk unless one chunk needs more
                # (a single ray against more elements than a chunk holds).
                self.cells = max(cells, min(2 * self.cells, _CHUNK_CELLS))
                self.f = np.empty((_F_ROWS, self.cells))
                self.b = np.empty((_B_ROWS, self.cells), dtype=bool)
                self.owner = None
                self.views.clear()
            elif len(self.views) >= _MAX_CACHED:
                # Batch sizes vary from trace to trace: keep the cache bounded.
                self.views.clear()
            views = self.views[cells] = (list(self.f[:, :cells]), list(self.b[:, :cells]))
        return views

    def rows(self, k: int, m: int) -> I64:
        """``arange(k) * m``: where each ray's cells start."""
        base = self.row_base.get(m)
        if base is None or len(base) < k:
            if base is None and len(self.row_base) >= _MAX_CACHED:
                self.row_base.clear()
            base = self.row_base[m] = np.arange(max(k, 256), dtype=np.int64) * m
        return base[:k]


# Float rows: 0-3 the elements' ax, ay, ex, ey repeated for every ray, 4-7 the
# rays' px, py, dx, dy repeated for every element, then denom, rx, ry, t, s,
# tmp, penalty, dist.
_F_ROWS = 16
# Distances at or beyond this are "no hit"; coordinates are bounded far below it.
MISS = 1e300
_B_ROWS = 2
# Entries kept in each of a workspace's caches (row views by cell count, row
# starts by element count): a few KB each, so this bounds them at about 1 MB.
_MAX_CACHED = 256
_WORK = _Workspace()
_LENGTH_ROW = Elements.ROWS.index("length")


class HitFinder:
    """Finds, for a batch of rays, the nearest element each one hits.

    Rays come column-major, as the tracer keeps them: ``rays`` is (>= 4, R) with
    rows x, y, dx, dy.
    """

    def __init__(
        self, elements: Elements, epsilon: float, dense_max_cells: int | None = None
    ) -> None:
        self.n_elem = len(elements)
        self.dense_max_cells = DENSE_MAX_CELLS if dense_max_cells is None else dense_max_cells
        # Rows ax, ay, ex, ey; gathered per candidate pair in one call.
        self.segs = elements.table[0:4]
        self._length = elements.table[_LENGTH_ROW]
        self.epsilon = epsilon
        self.step = max(1, _CHUNK_CELLS // max(self.n_elem, 1))
        self._reach: F64 | None = None
        self._centre = np.empty((2, 0))

    def nearest(self, rays: F64, last: I64 | None) -> tuple[I64, F64, F64]:
        """Per ray: (element index, distance t or inf, position s along the element).

        ``last[i]`` is the element ray i has just left (a valid index), or
        ``last`` is None when no ray has left one. That element is skipped: a
        straight ray cannot meet a flat element twice in a row, and skipping it
        beats any epsilon at grazing incidence. Ties go to the lowest element
        index. Where a ray hits nothing, t is at least ``MISS`` (a distance no
        bench reaches) and the index and s are meaningless: callers tell those
        rays apart by t alone.

        Parallel pairs divide by zero, and their inf/nan fail every test, as
        meant: call this under ``np.errstate(divide="ignore", invalid="ignore")``
        (the tracer does, once per trace) to keep those quiet.
        """
        n_rays = rays.shape[1]
        if n_rays == 0 or self.n_elem == 0:
            return np.zeros(n_rays, dtype=np.int64), np.full(n_rays, np.inf), np.zeros(n_rays)
        step = self.step
        if n_rays <= step:
            return self._chunk(rays, last)
        parts = [
            self._chunk(rays[:, lo : lo + step], None if last is None else last[lo : lo + step])
            for lo in range(0, n_rays, step)
        ]
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )

    def _chunk(self, rays: F64, last: I64 | None) -> tuple[I64, F64, F64]:
        if rays.shape[1] * self.n_elem <= self.dense_max_cells:
            return self._dense(rays, last)
        return self._culled(rays, last)

    def _dense(self, rays: F64, last: I64 | None) -> tuple[I64, F64, F64]:
        # Every (ray, element) pair on flat arrays, ray-major: broadcasting a
        # (rays, 1) column against (elements,) rows runs numpy's inner loop once
        # per ray, about three times slower at these sizes than one flat pass.
        k = rays.shape[1]
        m = self.n_elem
        work = _WORK
        f, b = work.arrays(k * m)
        if work.owner is not self or work.tiled_rays < k:
            np.copyto(work.f[0:4, : k * m].reshape(4, k, m), self.segs[:, None, :])
            work.owner = self
            work.tiled_rays = k
        np.copyto(work.f[4:8, : k * m].reshape(4, k, m), rays[0:4, :, None])
        ax, ay, ex, ey, px, py, dx, dy, denom, rx, ry, t, s, tmp, penalty, dist = f
        ts = work.f[11:13, : k * m]  # rows t and s
        ok, flag = b
        np.multiply(dx, ey, out=denom)
        np.multiply(dy, ex, out=tmp)
        denom -= tmp
        np.subtract(ax, px, out=rx)
        np.subtract(ay, py, out=ry)
        np.multiply(rx, ey, out=t)
        np.multiply(ry, ex, out=tmp)
        t -= tmp
        np.multiply(rx, dy, out=s)
        np.multiply(ry, dx, out=tmp)
        s -= tmp
        ts /= denom
        # Written so that NaN (a pair on one line) fails every test.
        np.greater(t, self.epsilon, out=ok)
        np.greater_equal(s, 0.0, out=flag)
        ok &= flag
        np.less_equal(s, 1.0, out=flag)
        ok &= flag
        row_base = work.rows(k, m)
        if last is not None:
            ok[row_base + last] = False
        # t where the pair is a hit, else at least MISS: fmax ignores the NaN of
        # parallel pairs, and unlike a masked select it runs at full arithmetic
        # speed.
        np.multiply(ok, -2.0 * MISS, out=penalty)
        penalty += MISS
        np.fmax(t, penalty, out=dist)
        j = dist.reshape(k, m).argmin(axis=1)
        chosen = row_base + j
        return j, dist.take(chosen), s.take(chosen)

    def _culled(self, rays: F64, last: I64 | None) -> tuple[I64, F64, F64]:
        k = rays.shape[1]
        m = self.n_elem
        if self._reach is None:
            start = self.segs[0:2]
            span = self.segs[2:4]
            self._centre = start + 0.5 * span
            self._reach = 0.5 * self._length * (1.0 + _CULL_SLACK_REL) + _CULL_SLACK_MM
        cx, cy = self._centre
        f, b = _WORK.arrays(k * m)
        _WORK.owner = None  # the dense path's tiled rows are overwritten below
        near = f[0].reshape(k, m)
        tmp = f[1].reshape(k, m)
        table = f[2]
        cand = b[0]
        px = rays[0][:, None]
        py = rays[1][:, None]
        dx = rays[2][:, None]
        dy = rays[3][:, None]
        row_base = _WORK.rows(k, m)

        # Cull: distance of each element's centre from each ray's line,
        # cross(D, C - P) = dx cy - dy cx - (dx py - dy px).
        np.multiply(dx, cy, out=near)
        np.multiply(dy, cx, out=tmp)
        near -= tmp
        near -= dx * py - dy * px
        np.abs(near, out=near)
        np.less_equal(near, self._reach, out=cand.reshape(k, m))
        if last is not None:
            cand[row_base + last] = False
        flat = cand.nonzero()[0]
        ri, ej = np.divmod(flat, m)

        # Exact test on the candidates, in the reference's expressions.
        r = rays.take(ri, axis=1)
        e = self.segs.take(ej, axis=1)
        rx = e[0] - r[0]
        ry = e[1] - r[1]
        tn = rx * e[3] - ry * e[2]
        sn = rx * r[3] - ry * r[2]
        denom = r[2] * e[3] - r[3] * e[2]
        t = tn / denom
        s = sn / denom
        ok = (t > self.epsilon) & (s >= 0.0) & (s <= 1.0)

        # Scatter into a dense (rays, elements) table so argmin keeps the
        # lowest-index tie rule of the reference.
        table.fill(np.inf)
        table.put(flat, np.where(ok, t, np.inf))
        j = table.reshape(k, m).argmin(axis=1)
        chosen = row_base + j
        dist = table.take(chosen)
        # ``flat`` is sorted, so a chosen pair's candidate slot is a binary search
        # away; rays with no hit land anywhere (their s is not used).
        pos = s.take(np.searchsorted(flat, chosen), mode="clip") if len(flat) else np.zeros(k)
        return j, dist, pos
