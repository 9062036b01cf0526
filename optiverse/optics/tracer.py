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

from optiverse.optics.hits import MISS, HitFinder
from optiverse.optics.prepare import ElementKind, PreparedScene, SceneLike, prepare
from optiverse.optics.results import (
    DEFAULT_SETTINGS,
    Termination,
    TraceResult,
    TraceSettings,
)

__all__ = ["trace_vectorized", "trace_vectorized_prepared"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

# Rows of the live-ray state, kept column-major: each quantity is one
# contiguous row, so filtering the rays is one ``take`` per generation and every
# expression runs on plain 1-D rows. Everything about a ray sits in one float
# array (the integer rows hold small integers, exact in float64): at a few
# hundred rays numpy's per-call cost, not arithmetic, is what a generation
# spends its time on.
_X, _Y, _DX, _DY, _I, _REM, _COUNT, _LAST, _SRC, _PATH = range(10)
_ROWS = 10

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

# The "nothing" column of the interaction table, met by rays that hit no
# element before their length ran out: it passes nothing on.
_NOTHING = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])


def trace_vectorized(scene: SceneLike, settings: TraceSettings = DEFAULT_SETTINGS) -> TraceResult:
    """Trace every source of ``scene`` through its elements."""
    return trace_vectorized_prepared(prepare(scene), settings)


def trace_vectorized_prepared(
    prepared: PreparedScene, settings: TraceSettings = DEFAULT_SETTINGS
) -> TraceResult:
    """Trace a scene already turned into arrays by :func:`optiverse.optics.prepare`."""
    # Lens maths runs on every ray and is then discarded where there is no lens:
    # silence the inf/nan warnings of those rows once here rather than per call.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _trace(prepared, settings)


class _Recorder:
    """Point records, gathered per generation and assembled once at the end.

    Each record is a point of a path with the intensity of the segment ending
    there (NaN for a path's first point). Records arrive in time order, so a
    stable sort by path id puts every path's points in order. How a path ended
    is read off its last record too (what the ray met, how far it looked,
    whether it was still bright, its interaction count), so rays that stop need
    no bookkeeping of their own while tracing. Path ids, sources and counts
    arrive as float rows of the ray state.
    """

    def __init__(self) -> None:
        self.path: list[F64] = []
        self.xy: list[F64] = []
        self.intensity: list[F64] = []
        self.met: list[NDArray[np.generic]] = []
        self.t: list[NDArray[np.generic]] = []
        self.alive: list[NDArray[np.generic]] = []
        self.count: list[NDArray[np.generic]] = []
        self.source: list[F64] = []
        self.parent: list[F64] = []
        self.truncated: F64 | None = None
        self.n_paths = 0
        self.n_segments = 0

    def begin(self, xy: F64, source: F64, parent: F64) -> F64:
        n = len(source)
        ids = np.arange(self.n_paths, self.n_paths + n, dtype=np.float64)
        self.n_paths += n
        self.path.append(ids)
        self.xy.append(xy)
        self.intensity.append(np.full(n, np.nan))
        # A first point is never a kept path's last record: any array will do.
        for column in (self.met, self.t, self.alive, self.count):
            column.append(ids)
        self.source.append(source)
        self.parent.append(parent)
        return ids

    def segment(
        self,
        path: F64,
        end_xy: F64,
        intensity: F64,
        met: I64,
        t: F64,
        alive: NDArray[np.bool_],
        count: F64,
    ) -> None:
        self.path.append(path)
        self.xy.append(end_xy)
        self.intensity.append(intensity)
        self.met.append(met)
        self.t.append(t)
        self.alive.append(alive)
        self.count.append(count)
        self.n_segments += len(path)

    def truncate(self, path: F64) -> None:
        """The segment cap stopped ``path``'s rays; their counts are their last records'."""
        self.truncated = path

    def result(self, prepared: PreparedScene, truncated: bool) -> TraceResult:
        n = self.n_paths
        sources = prepared.launch.sources
        if n == 0:
            return TraceResult.empty(sources, truncated)
        m = len(prepared.elements)
        # Small integer keys let the stable sort be a radix sort.
        path = np.concatenate(self.path).astype(np.uint16 if n <= 1 << 16 else np.int64)
        order = np.argsort(path, kind="stable")
        points = np.concatenate(self.xy, axis=1).take(order, axis=1).T.copy()
        intensity = np.concatenate(self.intensity).take(order)
        n_points = np.bincount(path, minlength=n)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(n_points, out=offsets[1:])

        # Each path's last record says how it ended.
        last = order.take(offsets[1:] - 1)
        met = np.concatenate(self.met).take(last).astype(np.int64)
        t = np.concatenate(self.t).take(last)
        alive = np.concatenate(self.alive).take(last).astype(bool)
        count = np.concatenate(self.count).take(last).astype(np.int64)
        dead = _dead_reason(prepared).take(np.minimum(met, m) + ((met == m) & (t < MISS)))
        reason = np.where(alive, _MAX, dead)
        if self.truncated is not None:
            reason[self.truncated.astype(np.int64)] = _TRUNCATED
        parent = np.concatenate(self.parent).astype(np.int64)
        source = np.concatenate(self.source).astype(np.int64)

        # A branch born in the generation the cap stopped has no segment: drop it.
        # Parents precede children and a dropped path has none, so renumbering
        # the kept ones keeps every parent index valid.
        keep = n_points >= 2
        if not keep.all():
            new_index = np.cumsum(keep) - 1
            parent = np.where(parent >= 0, new_index[np.maximum(parent, 0)], -1)[keep]
            point_kept = np.repeat(keep, n_points)
            points = points[point_kept]
            intensity = intensity[point_kept]
            n_points, reason, count, source = (
                n_points[keep],
                reason[keep],
                count[keep],
                source[keep],
            )
            offsets = np.zeros(len(n_points) + 1, dtype=np.int64)
            np.cumsum(n_points, out=offsets[1:])
        return TraceResult(
            points,
            intensity,
            offsets,
            sources,
            source,
            reason,
            count,
            parent,
            self.n_segments,
            truncated,
        )


def _dead_reason(prepared: PreparedScene) -> I64:
    """Why a ray that passes nothing on ends, by what it met: each element, then
    the "nothing" column (escaped), then "nothing before the length ran out"."""
    kinds = prepared.elements.kinds
    return np.append(np.where(kinds == _BLOCK, _ABSORBED, _DIM), (_ESCAPED, _LENGTH))


def _trace(prepared: PreparedScene, settings: TraceSettings) -> TraceResult:
    el = prepared.elements
    launch = prepared.launch
    m = len(el)
    finder = HitFinder(el, settings.epsilon_mm)
    # One gather per generation fetches everything the update needs about the
    # element each ray met (rows nx, ny, tx, ty, power, transmit, reflect).
    etab = np.empty((7, m + 1))
    etab[:, :m] = el.table[4:11]
    etab[:, m] = _NOTHING
    is_lens = np.append(el.kinds == _LENS, False)
    any_lens = bool(is_lens.any())
    threshold = settings.min_intensity
    max_count = settings.max_interactions
    out = _Recorder()

    n = len(launch)
    state = np.empty((_ROWS, n))
    state[_X : _Y + 1] = launch.origin.T
    state[_DX : _DY + 1] = launch.direction.T
    state[_I] = 1.0
    state[_REM] = launch.max_length
    state[_COUNT] = 0.0
    state[_SRC] = launch.source
    state[_PATH] = out.begin(state[_X : _Y + 1].copy(), state[_SRC].copy(), np.full(n, -1.0))
    truncated = False
    last: I64 | None = None
    # Misses come back as t >= MISS (see HitFinder.nearest), so ``t < rem``
    # tells hits from misses only while paths are shorter than MISS. Longer
    # ones (a finite but absurd ``ray_length_mm``) get their misses as inf.
    far = bool(n) and float(launch.max_length.max()) >= MISS

    # ``take`` rather than fancy indexing, and ``nonzero`` rather than
    # ``flatnonzero``, throughout: at these sizes they cost a fraction.
    while n:
        if out.n_segments + n > settings.max_segments:
            out.truncate(state[_PATH])
            truncated = True
            break
        j, t, s = finder.nearest(state, last)
        if far:
            t = np.where(t < MISS, t, np.inf)
        rem = state[_REM]
        hit = t < rem
        travel = np.minimum(t, rem)
        d = state[_DX : _DY + 1]
        ends = state[_X : _Y + 1] + travel * d
        # What each ray met: its element, or "nothing" (column m).
        met = np.where(hit, j, m)
        e = etab.take(met, axis=1)
        count = state[_COUNT] + hit

        dn = d[0] * e[0]
        dn += d[1] * e[1]
        reflected = d - (dn + dn) * e[0:2]
        through = d
        if any_lens:
            # Thin lens: see the reference tracer for the derivation. Rays that
            # met no lens are computed too (bend 0) and then discarded, so they
            # keep d to the bit.
            bend = np.abs(dn)
            bend *= s - 0.5
            bend *= e[4]
            bent = d - bend * e[2:4]
            norm = bent * bent
            bent /= np.sqrt(norm[0] + norm[1])
            through = np.where(is_lens.take(met), bent, d)

        # Rows: through, reflected.
        split = e[5:7] * state[_I]
        bright = split >= threshold
        keep_through = bright[0]
        alive = keep_through | bright[1]
        out.segment(state[_PATH], ends, state[_I], met, t, alive, count)
        go = alive & (count < max_count)
        g = go.nonzero()[0]
        if not len(g):
            break

        # A path carries on as its through ray when that is bright enough, else as
        # its reflected ray; only when both survive does the reflection start a
        # new path (a branch).
        rest = np.concatenate(((rem - travel)[None], count[None], met[None], state[_SRC:]))
        carry = np.concatenate(
            (
                ends,
                np.where(keep_through, through, reflected),
                np.where(keep_through, split[0], split[1])[None],
                rest,
            )
        )
        b = (go & keep_through & bright[1]).nonzero()[0]
        if len(b):
            # Branch columns are built for every ray and only the branching ones
            # are kept: one gather instead of one per row.
            fork = np.concatenate((ends, reflected, split[1:2], rest))
            state = np.concatenate((carry, fork), axis=1).take(np.append(g, b + n), axis=1)
            born = state[:, len(g) :]
            parent = born[_PATH].copy()
            born[_PATH] = out.begin(born[_X : _Y + 1], born[_SRC], parent)
        elif len(g) == n:
            state = carry
        else:
            state = carry.take(g, axis=1)
        n = state.shape[1]
        # Every ray has now just left an element.
        last = state[_LAST].astype(np.int64)

    return out.result(prepared, truncated)
