"""The compiled tracer: the reference's per-ray loop, compiled to machine code by numba.

On small scenes numpy's cost per call (1-3 us here, whatever the array size)
bounds the vectorized tracer: a generation of a hundred rays makes about 65
calls, so the 1 x 101-ray, 50-element bench scene cannot get much under
1.6 ms that way. Compiled, the straightforward loop of
:mod:`optiverse.optics.reference` runs it in about 0.1 ms (0.46 ms with
reading the scene), and large scenes faster than the vectorized tracer too
(see ``docs/optics.md``).

:func:`trace_loop` is that loop written once more over flat arrays: the same
float expressions, the same element order and tie rule, rays advanced
generation by generation in the same order. Numba compiles it without
fast-math, so results agree with the reference to the bit
(``tests/test_optics_compiled.py`` checks that exactly; the shared optics
tests compare every fast tracer with the reference to 1e-6). It is plain
typed Python too, which is how mypy and a reader see it.

Compiling takes about 10 s the first time on this machine; numba then caches
the machine code beside this file (or in its user-wide cache when this folder
is read-only), and later processes load it in about 0.4 s. Nothing compiles,
and numba is not even imported, at import: :func:`warm_up` does both when
asked (the app asks from a background thread at start-up). Without numba (it
is an optional dependency, see ``pyproject.toml``) :func:`available` is False
and callers use the vectorized tracer.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from optiverse.optics.prepare import ElementKind, PreparedScene, prepare
from optiverse.optics.results import DEFAULT_SETTINGS, Termination, TraceResult, TraceSettings

__all__ = ["available", "ready", "trace_compiled_prepared", "trace_loop", "warm_up"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
_Out = tuple[F64, F64, I64, I64, I64, I64, I64, int, bool]
_Raw = tuple[F64, I64, int, bool]

# Columns of the live-ray rows (float; the integer ones hold small integers, exact).
_X, _Y, _DX, _DY, _I, _REM, _COUNT, _LAST, _PATH = range(9)
# Columns of a point record: path id, x, y, intensity of the segment ending there.
# Columns of a path row: source, parent, termination, interactions.
_SOURCE, _PARENT, _END, _INTERACTIONS = range(4)

# Plain ints: numba freezes module globals into the machine code as constants.
_ESCAPED = int(Termination.ESCAPED)
_LENGTH = int(Termination.LENGTH)
_ABSORBED = int(Termination.ABSORBED)
_DIM = int(Termination.DIM)
_MAX = int(Termination.MAX_INTERACTIONS)
_TRUNCATED = int(Termination.TRUNCATED)
_LENS = int(ElementKind.LENS)
_BLOCK = int(ElementKind.BLOCK)


def trace_loop(
    table: F64,
    kinds: I64,
    origin: F64,
    direction: F64,
    source: I64,
    max_length: F64,
    max_count: float,
    threshold: float,
    epsilon: float,
    max_segments: float,
) -> _Raw:
    """Trace launched rays through elements, recording points as they come.

    ``table`` is :attr:`Elements.table`; the rest are :class:`Launch` arrays and
    :class:`TraceSettings` values. Mirrors ``trace_reference_prepared`` step by
    step. Returns the point records in time order (path id, x, y, intensity of
    the segment ending there, NaN at a path's first point), one row per path
    (source, parent, termination, interactions), the segment count and whether
    the cap stopped the trace: :func:`assemble` turns them into a result.
    """
    m = kinds.shape[0]
    n = source.shape[0]
    ax, ay, ex, ey = table[0], table[1], table[2], table[3]
    nx, ny, tx, ty = table[4], table[5], table[6], table[7]
    power, transmit, reflect = table[8], table[9], table[10]

    rays = np.empty((n, 9))
    records = np.empty((max(4 * n, 64), 4))
    paths = np.empty((max(2 * n, 64), 4), dtype=np.int64)
    for k in range(n):
        rays[k, _X] = origin[k, 0]
        rays[k, _Y] = origin[k, 1]
        rays[k, _DX] = direction[k, 0]
        rays[k, _DY] = direction[k, 1]
        rays[k, _I] = 1.0
        rays[k, _REM] = max_length[k]
        rays[k, _COUNT] = 0.0
        rays[k, _LAST] = -1.0
        rays[k, _PATH] = k
        paths[k, _SOURCE] = source[k]
        paths[k, _PARENT] = -1
        paths[k, _END] = _TRUNCATED
        paths[k, _INTERACTIONS] = 0
        records[k, 0] = k
        records[k, 1] = origin[k, 0]
        records[k, 2] = origin[k, 1]
        records[k, 3] = math.nan
    n_records = n
    n_paths = n
    n_segments = 0
    truncated = False

    while n > 0:
        if n_segments + n > max_segments:
            for k in range(n):
                p = int(rays[k, _PATH])
                paths[p, _END] = _TRUNCATED
                paths[p, _INTERACTIONS] = int(rays[k, _COUNT])
            truncated = True
            break
        # A generation adds at most a segment and a branch's first point per ray,
        # and a path per ray.
        if n_records + 2 * n > records.shape[0]:
            bigger = np.empty((max(2 * records.shape[0], n_records + 2 * n), 4))
            bigger[:n_records] = records[:n_records]
            records = bigger
        if n_paths + n > paths.shape[0]:
            more = np.empty((max(2 * paths.shape[0], n_paths + n), 4), dtype=np.int64)
            more[:n_paths] = paths[:n_paths]
            paths = more
        carry = np.empty((n, 9))
        branch = np.empty((n, 9))
        n_carry = 0
        n_branch = 0
        for k in range(n):
            x = rays[k, _X]
            y = rays[k, _Y]
            dx = rays[k, _DX]
            dy = rays[k, _DY]
            last = int(rays[k, _LAST])
            best_j = -1
            best_t = math.inf
            best_s = 0.0
            for j in range(m):
                if j == last:
                    continue
                denom = dx * ey[j] - dy * ex[j]
                if denom == 0.0:
                    continue
                rx = ax[j] - x
                ry = ay[j] - y
                t = (rx * ey[j] - ry * ex[j]) / denom
                s = (rx * dy - ry * dx) / denom
                if t > epsilon and s >= 0.0 and s <= 1.0 and t < best_t:
                    best_j = j
                    best_t = t
                    best_s = s

            n_segments += 1
            p = int(rays[k, _PATH])
            intensity = rays[k, _I]
            remaining = rays[k, _REM]
            records[n_records, 0] = p
            records[n_records, 3] = intensity
            if not best_t < remaining:
                records[n_records, 1] = x + remaining * dx
                records[n_records, 2] = y + remaining * dy
                n_records += 1
                paths[p, _END] = _ESCAPED if best_j < 0 else _LENGTH
                paths[p, _INTERACTIONS] = int(rays[k, _COUNT])
                continue
            j = best_j
            hx = x + best_t * dx
            hy = y + best_t * dy
            records[n_records, 1] = hx
            records[n_records, 2] = hy
            n_records += 1
            count = rays[k, _COUNT] + 1.0
            remaining = remaining - best_t
            paths[p, _INTERACTIONS] = int(count)

            dn = dx * nx[j] + dy * ny[j]
            reflected_dx = dx - 2.0 * dn * nx[j]
            reflected_dy = dy - 2.0 * dn * ny[j]
            through_dx = dx
            through_dy = dy
            if kinds[j] == _LENS:
                bend = abs(dn) * (best_s - 0.5) * power[j]
                vx = dx - bend * tx[j]
                vy = dy - bend * ty[j]
                norm = math.sqrt(vx * vx + vy * vy)
                through_dx = vx / norm
                through_dy = vy / norm
            through = transmit[j] * intensity
            reflected = reflect[j] * intensity
            keep_through = through >= threshold
            keep_reflected = reflected >= threshold
            if not (keep_through or keep_reflected):
                paths[p, _END] = _ABSORBED if kinds[j] == _BLOCK else _DIM
                continue
            if count >= max_count:
                paths[p, _END] = _MAX
                continue

            # The path carries on as its through ray if that is bright enough,
            # else as its reflected one; both surviving starts a branch.
            out = carry[n_carry]
            n_carry += 1
            out[_X] = hx
            out[_Y] = hy
            out[_DX] = through_dx if keep_through else reflected_dx
            out[_DY] = through_dy if keep_through else reflected_dy
            out[_I] = through if keep_through else reflected
            out[_REM] = remaining
            out[_COUNT] = count
            out[_LAST] = j
            out[_PATH] = p
            if keep_through and keep_reflected:
                fork = branch[n_branch]
                n_branch += 1
                fork[:] = out
                fork[_DX] = reflected_dx
                fork[_DY] = reflected_dy
                fork[_I] = reflected
                fork[_PATH] = n_paths
                paths[n_paths, _SOURCE] = paths[p, _SOURCE]
                paths[n_paths, _PARENT] = p
                paths[n_paths, _END] = _TRUNCATED
                paths[n_paths, _INTERACTIONS] = int(count)
                records[n_records, 0] = n_paths
                records[n_records, 1] = hx
                records[n_records, 2] = hy
                records[n_records, 3] = math.nan
                n_records += 1
                n_paths += 1
        rays = np.concatenate((carry[:n_carry], branch[:n_branch]))
        n = n_carry + n_branch

    return records[:n_records], paths[:n_paths], n_segments, truncated


def assemble(records: F64, paths: I64, n_segments: int, truncated: bool) -> _Out:
    """Group the time-ordered records by path (a counting sort), dropping paths
    the cap left without a segment and renumbering parents to match."""
    n_paths = paths.shape[0]
    n_points = np.zeros(n_paths, dtype=np.int64)
    for r in range(records.shape[0]):
        n_points[int(records[r, 0])] += 1
    index = np.empty(n_paths, dtype=np.int64)
    kept = 0
    for p in range(n_paths):
        if n_points[p] >= 2:
            index[p] = kept
            kept += 1
        else:
            index[p] = -1
    offsets = np.zeros(kept + 1, dtype=np.int64)
    source = np.empty(kept, dtype=np.int64)
    termination = np.empty(kept, dtype=np.int64)
    interactions = np.empty(kept, dtype=np.int64)
    parent = np.empty(kept, dtype=np.int64)
    for p in range(n_paths):
        q = index[p]
        if q >= 0:
            offsets[q + 1] = offsets[q] + n_points[p]
            source[q] = paths[p, _SOURCE]
            termination[q] = paths[p, _END]
            interactions[q] = paths[p, _INTERACTIONS]
            # Parents come before their children and a dropped path has none.
            parent[q] = index[paths[p, _PARENT]] if paths[p, _PARENT] >= 0 else -1
    fill = offsets[:-1].copy()
    points = np.empty((offsets[kept], 2))
    intensities = np.empty(offsets[kept])
    for r in range(records.shape[0]):
        q = index[int(records[r, 0])]
        if q >= 0:
            w = fill[q]
            fill[q] += 1
            points[w, 0] = records[r, 1]
            points[w, 1] = records[r, 2]
            intensities[w] = records[r, 3]
    flat = (points, intensities, offsets, source, termination, interactions, parent)
    return (*flat, n_segments, truncated)


class _Compiled:
    """The two compiled functions, once :func:`warm_up` has built them."""

    def __init__(self, loop: Callable[..., _Raw], assemble: Callable[..., _Out]) -> None:
        self.loop = loop
        self.assemble = assemble

    def __call__(self, *args: Any) -> _Out:
        return self.assemble(*self.loop(*args))


_compiled: _Compiled | None = None
_lock = threading.Lock()


def _import_numba() -> ModuleType | None:
    # Imported when the loop is compiled, not with this module: numba takes
    # about 0.3 s to import, which the app pays in its warm-up thread instead
    # of at start-up.
    try:
        import numba
    except ImportError:  # optional: the vectorized tracer does without it
        return None
    return numba


def available() -> bool:
    """True when numba is installed, so the loop can be compiled (nothing is imported)."""
    try:
        return importlib.util.find_spec("numba") is not None
    except (ImportError, ValueError):
        return False


def ready() -> bool:
    """True once the loop is compiled (or loaded from numba's cache) in this process."""
    return _compiled is not None


def warm_up() -> bool:
    """Compile the loop now (blocking; ~10 s the first time, ~0.4 s from the cache).

    Returns whether the compiled tracer is ready. Safe to call from any thread
    and more than once.
    """
    global _compiled
    with _lock:
        if _compiled is None:
            numba = _import_numba()
            if numba is None:
                return False
            # No fast-math: the results must agree with the reference to the bit.
            # The numpy error model gives IEEE inf/nan on a division by zero, as
            # the vectorized tracer does, instead of raising.
            jit = numba.njit(cache=True, nogil=True, error_model="numpy")
            compiled = _Compiled(jit(trace_loop), jit(assemble))
            # Compile for the argument types every call passes (see _arguments).
            compiled(*_warm_up_arguments())
            _compiled = compiled
    return True


def trace_compiled_prepared(
    prepared: PreparedScene, settings: TraceSettings = DEFAULT_SETTINGS
) -> TraceResult:
    """Trace with the compiled loop, compiling it first if need be.

    Raises RuntimeError when numba is not installed.
    """
    if _compiled is None and not warm_up():
        raise RuntimeError("the compiled tracer needs numba, which is not installed")
    assert _compiled is not None
    points, intensities, offsets, source, termination, interactions, parent, n_seg, trunc = (
        _compiled(*_arguments(prepared, settings))
    )
    return TraceResult(
        points,
        intensities,
        offsets,
        prepared.launch.sources,
        source,
        termination,
        interactions,
        parent,
        int(n_seg),
        bool(trunc),
    )


def _arguments(prepared: PreparedScene, settings: TraceSettings) -> tuple[Any, ...]:
    # The same argument types on every call: numba compiles once per
    # combination of types, and for arrays their layout, alignment and
    # writability are part of the type (a read-only array would mean another
    # 10 s compile). The limits go as floats, compared as the other tracers
    # compare them: any number (2.5 interactions, 1e30 segments) means the same.
    need: tuple[Literal["C", "A", "W"], ...] = ("C", "A", "W")
    el = prepared.elements
    launch = prepared.launch
    return (
        np.require(el.table, np.float64, need),
        np.require(el.kinds, np.int64, need),
        np.require(launch.origin, np.float64, need).reshape(-1, 2),
        np.require(launch.direction, np.float64, need).reshape(-1, 2),
        np.require(launch.source, np.int64, need),
        np.require(launch.max_length, np.float64, need),
        float(settings.max_interactions),
        float(settings.min_intensity),
        float(settings.epsilon_mm),
        float(settings.max_segments),
    )


def _warm_up_arguments() -> tuple[Any, ...]:
    """A lens and a source: any scene compiles the same types."""
    lens = SimpleNamespace(kind="lens", x_mm=50.0, efl_mm=50.0)
    source = SimpleNamespace(kind="source", n_rays=3)
    prepared = prepare(SimpleNamespace(components={"l": lens, "s": source}))
    return _arguments(prepared, DEFAULT_SETTINGS)
