"""The vectorized tracer: every live ray of a generation against every element at once.

A generation is one straight segment per live ray. For R rays and M elements the
ray-segment intersections are (R, M) array expressions; each ray keeps its nearest
valid hit (argmin over positive distances) and is then updated by kind with masks.
Rays are processed in row chunks so the (R, M) temporaries stay cache-sized.

:mod:`optiverse.optics.reference` computes the same thing one ray and one
element at a time with the same float expressions, so the two agree to the bit
on ordinary scenes; keep them in step when changing either.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from optiverse.optics.prepare import ElementKind, PreparedScene, SceneLike, prepare
from optiverse.optics.results import (
    DEFAULT_SETTINGS,
    RayPath,
    Termination,
    TraceResult,
    TraceSettings,
)

__all__ = ["nearest_hits", "trace", "trace_prepared"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

# Rays per chunk is chosen so each (rays, elements) temporary is about this many
# floats: small enough for L2, large enough to amortise numpy's per-call cost.
_CHUNK_CELLS = 1 << 15

_LENS = int(ElementKind.LENS)
_MIRROR = int(ElementKind.MIRROR)
_SPLITTER = int(ElementKind.BEAMSPLITTER)
_BLOCK = int(ElementKind.BLOCK)


def trace(scene: SceneLike, settings: TraceSettings = DEFAULT_SETTINGS) -> TraceResult:
    """Trace every source of ``scene`` through its elements."""
    return trace_prepared(prepare(scene), settings)


def nearest_hits(
    px: F64,
    py: F64,
    dx: F64,
    dy: F64,
    last: I64,
    start: F64,
    span: F64,
    epsilon: float,
) -> tuple[I64, F64, F64]:
    """For each ray, (element index or -1, distance, position s in [0, 1] along the element).

    Ray i is ``(px, py) + t (dx, dy)`` with a unit direction; element ``last[i]`` (the
    one the ray just left, or -1) is skipped, and so is any hit at ``t <= epsilon``.
    Ties go to the lowest element index.
    """
    n_rays = len(px)
    n_elem = len(start)
    hit = np.full(n_rays, -1, dtype=np.int64)
    dist = np.full(n_rays, np.inf)
    pos = np.zeros(n_rays)
    if n_rays == 0 or n_elem == 0:
        return hit, dist, pos
    ax = start[:, 0]
    ay = start[:, 1]
    ex = span[:, 0]
    ey = span[:, 1]
    step = max(1, _CHUNK_CELLS // n_elem)
    for lo in range(0, n_rays, step):
        hi = min(lo + step, n_rays)
        cdx = dx[lo:hi, None]
        cdy = dy[lo:hi, None]
        denom = cdx * ey - cdy * ex
        rx = ax - px[lo:hi, None]
        ry = ay - py[lo:hi, None]
        # Parallel rays give denom == 0 and so inf/nan here, which fail every
        # comparison below: they never hit, without a separate mask.
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (rx * ey - ry * ex) / denom
            s = (rx * cdy - ry * cdx) / denom
        ok = (t > epsilon) & (s >= 0.0) & (s <= 1.0)
        rows = np.arange(hi - lo)
        cl = last[lo:hi]
        left = cl >= 0
        ok[rows[left], cl[left]] = False
        t = np.where(ok, t, np.inf)
        j = np.argmin(t, axis=1)
        tj = t[rows, j]
        found = tj < np.inf
        hit[lo:hi] = np.where(found, j, -1)
        dist[lo:hi] = tj
        pos[lo:hi] = s[rows, j]
    return hit, dist, pos


class _Paths:
    """Point and segment records, gathered per generation and assembled once at the end.

    Points are recorded in time order (a path's first point before its segment
    ends), so a stable sort by path index puts each path's points in order.
    """

    def __init__(self) -> None:
        self.point_path: list[I64] = []
        self.point_xy: list[F64] = []
        self.seg_path: list[I64] = []
        self.seg_intensity: list[F64] = []
        self.source: list[I64] = []
        self.parent: list[I64] = []
        self.end_path: list[I64] = []
        self.end_reason: list[I64] = []
        self.end_count: list[I64] = []
        self.n_paths = 0
        self.n_segments = 0

    def begin(self, xy: F64, source: I64, parent: I64) -> I64:
        ids = np.arange(self.n_paths, self.n_paths + len(source), dtype=np.int64)
        self.n_paths += len(source)
        self.point_path.append(ids)
        self.point_xy.append(xy)
        self.source.append(source)
        self.parent.append(parent)
        return ids

    def segment(self, path: I64, end_xy: F64, intensity: F64) -> None:
        self.point_path.append(path)
        self.point_xy.append(end_xy)
        self.seg_path.append(path)
        self.seg_intensity.append(intensity)
        self.n_segments += len(path)

    def end(self, path: I64, reason: Termination | I64, count: I64) -> None:
        self.end_path.append(path)
        self.end_reason.append(np.broadcast_to(np.asarray(reason, dtype=np.int64), path.shape))
        self.end_count.append(count)

    def result(self, prepared: PreparedScene, truncated: bool) -> TraceResult:
        n = self.n_paths
        if n == 0:
            return TraceResult((), 0, truncated)
        point_path = np.concatenate(self.point_path)
        order = np.argsort(point_path, kind="stable")
        points = np.concatenate(self.point_xy)[order]
        n_points = np.bincount(point_path, minlength=n)
        seg_path = np.concatenate(self.seg_path) if self.seg_path else np.zeros(0, np.int64)
        seg_int = np.concatenate(self.seg_intensity) if self.seg_path else np.zeros(0)
        seg_int = seg_int[np.argsort(seg_path, kind="stable")]
        points.flags.writeable = False
        seg_int.flags.writeable = False
        p_off = np.concatenate(([0], np.cumsum(n_points))).tolist()
        s_off = np.concatenate(([0], np.cumsum(n_points - 1))).tolist()

        reason = np.empty(n, dtype=np.int64)
        count = np.empty(n, dtype=np.int64)
        end_path = np.concatenate(self.end_path)
        reason[end_path] = np.concatenate(self.end_reason)
        count[end_path] = np.concatenate(self.end_count)

        # A branch born in the generation the cap stopped has no segment: drop it.
        # Parents precede children and a dropped path has none, so renumbering
        # the kept ones keeps every parent index valid.
        keep = n_points >= 2
        new_index = np.cumsum(keep) - 1
        parent = np.concatenate(self.parent)
        parent = np.where(parent >= 0, new_index[np.maximum(parent, 0)], -1)

        infos = prepared.launch.sources
        terms = list(Termination)
        paths = []
        for src, par, why, cnt, a, b, c, d in zip(
            np.concatenate(self.source).tolist(),
            parent.tolist(),
            reason.tolist(),
            count.tolist(),
            p_off[:-1],
            p_off[1:],
            s_off[:-1],
            s_off[1:],
            strict=True,
        ):
            if b - a < 2:
                continue
            info = infos[src]
            paths.append(
                RayPath(
                    info.id,
                    info.color,
                    info.wavelength_nm,
                    points[a:b],
                    seg_int[c:d],
                    terms[why],
                    cnt,
                    par,
                )
            )
        return TraceResult(tuple(paths), self.n_segments, truncated)


def trace_prepared(
    prepared: PreparedScene, settings: TraceSettings = DEFAULT_SETTINGS
) -> TraceResult:
    """Trace a scene already turned into arrays by :func:`optiverse.optics.prepare`."""
    el = prepared.elements
    launch = prepared.launch
    kinds = el.kinds
    param = el.param
    length = el.length
    nx_all = el.normal[:, 0]
    ny_all = el.normal[:, 1]
    tx_all = el.tangent[:, 0]
    ty_all = el.tangent[:, 1]
    threshold = settings.min_intensity
    max_count = settings.max_interactions

    out = _Paths()
    # State of the live rays, one entry per ray.
    px = launch.origin[:, 0].copy()
    py = launch.origin[:, 1].copy()
    dx = launch.direction[:, 0].copy()
    dy = launch.direction[:, 1].copy()
    inten = np.ones(len(px))
    remaining = launch.max_length.copy()
    count = np.zeros(len(px), dtype=np.int64)
    last = np.full(len(px), -1, dtype=np.int64)
    src = launch.source.copy()
    path = out.begin(launch.origin.copy(), src, np.full(len(px), -1, dtype=np.int64))
    truncated = False

    while len(px):
        if out.n_segments + len(px) > settings.max_segments:
            out.end(path, Termination.TRUNCATED, count)
            truncated = True
            break
        j, t, s = nearest_hits(px, py, dx, dy, last, el.start, el.span, settings.epsilon_mm)
        hits = t < remaining

        miss = np.flatnonzero(~hits)
        if len(miss):
            r = remaining[miss]
            end = np.stack((px[miss] + r * dx[miss], py[miss] + r * dy[miss]), axis=1)
            out.segment(path[miss], end, inten[miss])
            why = np.where(j[miss] < 0, int(Termination.ESCAPED), int(Termination.LENGTH))
            out.end(path[miss], why, count[miss])

        h = np.flatnonzero(hits)
        if not len(h):
            break
        jh = j[h]
        th = t[h]
        hx = px[h] + th * dx[h]
        hy = py[h] + th * dy[h]
        ph = path[h]
        ih = inten[h]
        out.segment(ph, np.stack((hx, hy), axis=1), ih)
        ch = count[h] + 1
        rem = remaining[h] - th
        kind = kinds[jh]
        ddx = dx[h]
        ddy = dy[h]
        nx = nx_all[jh]
        ny = ny_all[jh]
        dn = ddx * nx + ddy * ny

        # The ray that carries this path on: new direction and intensity per kind.
        new_dx = ddx.copy()
        new_dy = ddy.copy()
        new_i = ih.copy()
        mirror = kind == _MIRROR
        splitter = kind == _SPLITTER
        rdx = ddx - 2.0 * dn * nx
        rdy = ddy - 2.0 * dn * ny

        lens = np.flatnonzero(kind == _LENS)
        if len(lens):
            ldn = dn[lens]
            tx = tx_all[jh[lens]]
            ty = ty_all[jh[lens]]
            du = ddx[lens] * tx + ddy[lens] * ty
            height = (s[h[lens]] - 0.5) * length[jh[lens]]
            # Work in the frame where the ray travels along +axis; the lens is
            # symmetric, so the same tan-form law holds from either side.
            side = np.where(ldn >= 0.0, 1.0, -1.0)
            tan_out = du / np.abs(ldn) - height / param[jh[lens]]
            norm = np.sqrt(1.0 + tan_out * tan_out)
            new_dx[lens] = (side * nx[lens] + tan_out * tx) / norm
            new_dy[lens] = (side * ny[lens] + tan_out * ty) / norm

        new_i[mirror] = ih[mirror] * param[jh[mirror]]
        trans = param[jh] * ih
        refl = (1.0 - param[jh]) * ih
        # A splitter's path continues as the transmitted ray when that is bright
        # enough, else as the reflected one; a new path only when both survive.
        keep_t = trans >= threshold
        keep_r = refl >= threshold
        sp_t = splitter & keep_t
        sp_r = splitter & ~keep_t
        new_i[sp_t] = trans[sp_t]
        new_i[sp_r] = refl[sp_r]
        turn = mirror | sp_r
        new_dx[turn] = rdx[turn]
        new_dy[turn] = rdy[turn]

        block = kind == _BLOCK
        alive = ~block & (new_i >= threshold)
        capped = ch >= max_count
        go = alive & ~capped
        branch = np.flatnonzero(splitter & keep_t & keep_r & ~capped)

        done = ~go
        if done.any():
            why = np.full(len(h), int(Termination.MAX_INTERACTIONS), dtype=np.int64)
            why[~alive] = int(Termination.DIM)
            why[block] = int(Termination.ABSORBED)
            out.end(ph[done], why[done], ch[done])

        g = np.flatnonzero(go)
        bx = hx[branch]
        by = hy[branch]
        child = out.begin(np.stack((bx, by), axis=1), src[h[branch]], ph[branch])
        px = np.concatenate((hx[g], bx))
        py = np.concatenate((hy[g], by))
        dx = np.concatenate((new_dx[g], rdx[branch]))
        dy = np.concatenate((new_dy[g], rdy[branch]))
        inten = np.concatenate((new_i[g], refl[branch]))
        remaining = np.concatenate((rem[g], rem[branch]))
        count = np.concatenate((ch[g], ch[branch]))
        last = np.concatenate((jh[g], jh[branch]))
        src = np.concatenate((src[h[g]], src[h[branch]]))
        path = np.concatenate((ph[g], child))

    return out.result(prepared, truncated)
