"""The vectorized tracer: every live ray of a generation against every element at once.

A generation is one straight segment per live ray. The nearest hit of every ray
is found with (rays x elements) array expressions (:mod:`optiverse.optics.hits`),
then all hit rays are updated together with masks.

:mod:`optiverse.optics.reference` computes the same thing one ray and one
element at a time with the same float expressions, and keeps the rays in the same
order, so the two agree to the bit on ordinary scenes. Keep them in step when
changing either.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from optiverse.optics.hits import HitFinder
from optiverse.optics.prepare import ElementKind, PreparedScene, SceneLike, prepare
from optiverse.optics.results import (
    DEFAULT_SETTINGS,
    RayPath,
    Termination,
    TraceResult,
    TraceSettings,
)

__all__ = ["trace", "trace_prepared"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

# Columns of the live-ray state. Everything about a ray sits in one float row
# (the integer columns hold small integers, exact in float64), so filtering
# the rays is one ``take`` per generation: at a few hundred rays numpy's
# per-call cost, not arithmetic, is what a generation spends its time on.
_X, _Y, _DX, _DY, _I, _REM, _COUNT, _LAST, _SRC, _PATH = range(10)
_COLUMNS = 10

# Plain ints: comparing an array with an IntEnum member goes through a slow
# object path in numpy.
_LENS = int(ElementKind.LENS)
_BLOCK = int(ElementKind.BLOCK)
_ESCAPED = int(Termination.ESCAPED)
_LENGTH = int(Termination.LENGTH)
_ABSORBED = int(Termination.ABSORBED)
_DIM = int(Termination.DIM)
_MAX = int(Termination.MAX_INTERACTIONS)
_TRUNCATED = int(Termination.TRUNCATED)
_TERMINATIONS = list(Termination)


def trace(scene: SceneLike, settings: TraceSettings = DEFAULT_SETTINGS) -> TraceResult:
    """Trace every source of ``scene`` through its elements."""
    return trace_prepared(prepare(scene), settings)


def trace_prepared(
    prepared: PreparedScene, settings: TraceSettings = DEFAULT_SETTINGS
) -> TraceResult:
    """Trace a scene already turned into arrays by :func:`optiverse.optics.prepare`."""
    # Lens maths runs on every row and is then discarded where there is no lens
    # (efl = inf, and dn may be 0 for rays that met nothing): silence the
    # resulting inf/nan warnings once here rather than per call.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _trace(prepared, settings)


class _Recorder:
    """Point records, gathered per generation and assembled once at the end.

    Each record is a point of a path with the intensity of the segment ending
    there (NaN for a path's first point). Records arrive in time order, so a
    stable sort by path id puts every path's points in order. Path ids, sources
    and counts arrive as float columns of the ray state.
    """

    def __init__(self) -> None:
        self.path: list[F64] = []
        self.xy: list[F64] = []
        self.intensity: list[F64] = []
        self.source: list[F64] = []
        self.parent: list[F64] = []
        self.end_path: list[F64] = []
        self.end_reason: list[I64] = []
        self.end_count: list[F64] = []
        self.n_paths = 0
        self.n_segments = 0

    def begin(self, xy: F64, source: F64, parent: F64) -> F64:
        n = len(source)
        ids = np.arange(self.n_paths, self.n_paths + n, dtype=np.float64)
        self.n_paths += n
        self.path.append(ids)
        self.xy.append(xy)
        self.intensity.append(np.full(n, np.nan))
        self.source.append(source)
        self.parent.append(parent)
        return ids

    def segment(self, path: F64, end_xy: F64, intensity: F64) -> None:
        self.path.append(path)
        self.xy.append(end_xy)
        self.intensity.append(intensity)
        self.n_segments += len(path)

    def end(self, path: F64, reason: I64, count: F64) -> None:
        self.end_path.append(path)
        self.end_reason.append(reason)
        self.end_count.append(count)

    def result(self, prepared: PreparedScene, truncated: bool) -> TraceResult:
        n = self.n_paths
        if n == 0:
            return TraceResult((), 0, truncated)
        path = np.concatenate(self.path)
        order = np.argsort(path, kind="stable")
        points = np.concatenate(self.xy)[order]
        # Entry i is the intensity of the segment ending at point i; a path's
        # segment intensities are its entries after the first.
        intensity = np.concatenate(self.intensity)[order]
        points.flags.writeable = False
        intensity.flags.writeable = False
        n_points = np.bincount(path.astype(np.int64), minlength=n)
        end = np.cumsum(n_points)

        reason = np.empty(n, dtype=np.int64)
        count = np.empty(n, dtype=np.int64)
        end_path = np.concatenate(self.end_path).astype(np.int64)
        reason[end_path] = np.concatenate(self.end_reason)
        count[end_path] = np.concatenate(self.end_count)

        # A branch born in the generation the cap stopped has no segment: drop it.
        # Parents precede children and a dropped path has none, so renumbering
        # the kept ones keeps every parent index valid.
        keep = n_points >= 2
        parent = np.concatenate(self.parent).astype(np.int64)
        if not keep.all():
            new_index = np.cumsum(keep) - 1
            parent = np.where(parent >= 0, new_index[np.maximum(parent, 0)], -1)

        infos = [(i.id, i.color, i.wavelength_nm) for i in prepared.launch.sources]
        terms = _TERMINATIONS
        paths = [
            RayPath(
                info[0],
                info[1],
                info[2],
                points[stop - npt : stop],
                intensity[stop - npt + 1 : stop],
                terms[why],
                cnt,
                par,
            )
            for info, par, why, cnt, npt, stop in zip(
                [infos[i] for i in np.concatenate(self.source).astype(np.int64).tolist()],
                parent.tolist(),
                reason.tolist(),
                count.tolist(),
                n_points.tolist(),
                end.tolist(),
                strict=True,
            )
            if npt >= 2
        ]
        return TraceResult(tuple(paths), self.n_segments, truncated)


def _trace(prepared: PreparedScene, settings: TraceSettings) -> TraceResult:
    el = prepared.elements
    launch = prepared.launch
    m = len(el)
    finder = HitFinder(el, settings.epsilon_mm)
    # One gather per generation fetches everything the update needs about the
    # element each ray met. Two pseudo-elements follow the real ones, for rays
    # that met none (escaped) or ran out of length first: they pass nothing on,
    # so those rays end through the same path as absorbed or dimmed ones.
    etab = np.column_stack((el.normal, el.tangent, el.length, el.efl, el.transmit, el.reflect))
    etab = np.concatenate((etab, [[1.0, 0.0, 0.0, 1.0, 0.0, np.inf, 0.0, 0.0]] * 2))
    # Why a ray that passes nothing on ends, by what it met.
    dead_reason = np.concatenate(
        (np.where(el.kinds == _BLOCK, _ABSORBED, _DIM), [_ESCAPED, _LENGTH])
    )
    is_lens = np.concatenate((el.kinds == _LENS, [False, False]))
    threshold = settings.min_intensity
    max_count = settings.max_interactions
    out = _Recorder()

    n = len(launch)
    state = np.empty((n, _COLUMNS))
    state[:, _X : _Y + 1] = launch.origin
    state[:, _DX : _DY + 1] = launch.direction
    state[:, _I] = 1.0
    state[:, _REM] = launch.max_length
    state[:, _COUNT] = 0.0
    state[:, _LAST] = -1.0
    state[:, _SRC] = launch.source
    state[:, _PATH] = out.begin(launch.origin.copy(), state[:, _SRC].copy(), np.full(n, -1.0))
    truncated = False
    first = True

    # ``take`` rather than fancy indexing throughout: it is several times faster
    # for row gathers.
    while len(state):
        n = len(state)
        if out.n_segments + n > settings.max_segments:
            out.end(state[:, _PATH], np.full(n, _TRUNCATED), state[:, _COUNT])
            truncated = True
            break
        # Every ray but a freshly launched one has just left an element.
        last = None if first else state[:, _LAST].astype(np.int64)
        first = False
        j, t, s = finder.nearest(state, last)
        rem = state[:, _REM]
        hit = t < rem
        travel = np.minimum(t, rem)
        ends = state[:, _X : _Y + 1] + travel[:, None] * state[:, _DX : _DY + 1]
        out.segment(state[:, _PATH], ends, state[:, _I])
        met = np.where(hit, j, np.where(j < 0, m, m + 1))

        e = etab.take(met, axis=0)
        d = state[:, _DX : _DY + 1]
        normal = e[:, 0:2]
        dn = (d * normal).sum(axis=1)
        reflected = d - (2.0 * dn)[:, None] * normal

        through = d
        lens = is_lens.take(met)
        if lens.any():
            tangent = e[:, 2:4]
            du = (d * tangent).sum(axis=1)
            height = (s - 0.5) * e[:, 4]
            # In the frame where the ray travels along +axis the thin-lens law is
            # tan(out) = tan(in) - h/f; the lens is symmetric, so it holds from
            # either side with the axis flipped to the ray's side. Rows that are
            # not lenses (efl = inf) are computed too and then discarded.
            side = np.where(dn >= 0.0, 1.0, -1.0)
            tan_out = du / np.abs(dn) - height / e[:, 5]
            norm = np.sqrt(1.0 + tan_out * tan_out)
            bent = (side[:, None] * normal + tan_out[:, None] * tangent) / norm[:, None]
            through = np.where(lens[:, None], bent, d)

        # Columns: through, reflected.
        split = e[:, 6:8] * state[:, _I : _I + 1]
        bright = split >= threshold
        keep_through = bright[:, 0]
        count = state[:, _COUNT] + hit
        alive = keep_through | bright[:, 1]
        go = alive & (count < max_count)
        g = np.flatnonzero(go)
        if len(g) < n:
            done = np.flatnonzero(~go)
            why = np.where(alive.take(done), _MAX, dead_reason.take(met.take(done)))
            out.end(state[:, _PATH].take(done), why, count.take(done))
            if not len(g):
                break

        # A path carries on as its through ray when that is bright enough, else as
        # its reflected ray; only when both survive does the reflection start a
        # new path (a branch).
        nxt = np.concatenate(
            (
                ends,
                np.where(keep_through[:, None], through, reflected),
                np.where(keep_through, split[:, 0], split[:, 1])[:, None],
                (rem - travel)[:, None],
                count[:, None],
                met[:, None],
                state[:, _SRC : _PATH + 1],
            ),
            axis=1,
        )
        b = np.flatnonzero(go & bright[:, 1] & keep_through)
        if len(b):
            branch = nxt.take(b, axis=0)
            branch[:, _DX : _DY + 1] = reflected.take(b, axis=0)
            branch[:, _I] = split[:, 1].take(b)
            branch[:, _PATH] = out.begin(
                ends.take(b, axis=0), branch[:, _SRC].copy(), state[:, _PATH].take(b)
            )
            state = np.concatenate((nxt.take(g, axis=0), branch))
        elif len(g) == n:
            state = nxt
        else:
            state = nxt.take(g, axis=0)

    return out.result(prepared, truncated)
