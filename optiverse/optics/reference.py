"""A plain per-ray tracer: the baseline for the benchmark and the oracle for the tests.

One ray and one element at a time, in Python floats. It follows the same rules
and the same float expressions as :mod:`optiverse.optics.tracer`, and advances
rays generation by generation in the same order, so both give the same paths,
to the bit, segment cap included (the one exception: a ray parallel to an
element to within ~1e-10 rad, which the vectorized cull may drop while this
loop takes the rounding noise for a hit). It is far too slow for the UI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from optiverse.optics.prepare import ElementKind, PreparedScene, SceneLike, prepare
from optiverse.optics.results import (
    DEFAULT_SETTINGS,
    Termination,
    TraceResult,
    TraceSettings,
)

__all__ = ["trace_reference", "trace_reference_prepared"]


@dataclass
class _Ray:
    x: float
    y: float
    dx: float
    dy: float
    intensity: float
    remaining: float
    count: int
    last: int
    path: int


@dataclass
class _Path:
    source: int
    parent: int
    points: list[tuple[float, float]]
    intensities: list[float] = field(default_factory=list)
    termination: Termination = Termination.TRUNCATED
    interactions: int = 0


@dataclass(frozen=True, slots=True)
class _Element:
    kind: int
    ax: float
    ay: float
    ex: float
    ey: float
    nx: float
    ny: float
    tx: float
    ty: float
    power: float
    transmit: float
    reflect: float


def trace_reference(scene: SceneLike, settings: TraceSettings = DEFAULT_SETTINGS) -> TraceResult:
    """Same as :func:`optiverse.optics.trace`, one ray at a time."""
    return trace_reference_prepared(prepare(scene), settings)


def _nearest(ray: _Ray, elements: list[_Element], epsilon: float) -> tuple[int, float, float]:
    best_j = -1
    best_t = math.inf
    best_s = 0.0
    for j, e in enumerate(elements):
        if j == ray.last:
            continue
        denom = ray.dx * e.ey - ray.dy * e.ex
        if denom == 0.0:
            continue
        rx = e.ax - ray.x
        ry = e.ay - ray.y
        t = (rx * e.ey - ry * e.ex) / denom
        s = (rx * ray.dy - ry * ray.dx) / denom
        if t > epsilon and 0.0 <= s <= 1.0 and t < best_t:
            best_j, best_t, best_s = j, t, s
    return best_j, best_t, best_s


def trace_reference_prepared(
    prepared: PreparedScene, settings: TraceSettings = DEFAULT_SETTINGS
) -> TraceResult:
    """Trace a prepared scene one ray at a time."""
    el = prepared.elements
    elements = [
        _Element(int(k), ax, ay, ex, ey, nx, ny, tx, ty, power, transmit, reflect)
        for k, (ax, ay), (ex, ey), (nx, ny), (tx, ty), power, transmit, reflect in zip(
            el.kinds.tolist(),
            el.start.tolist(),
            el.span.tolist(),
            el.normal.tolist(),
            el.tangent.tolist(),
            el.power.tolist(),
            el.transmit.tolist(),
            el.reflect.tolist(),
            strict=True,
        )
    ]
    launch = prepared.launch
    threshold = settings.min_intensity
    paths: list[_Path] = []
    rays: list[_Ray] = []
    for (x, y), (dx, dy), src, length in zip(
        launch.origin.tolist(),
        launch.direction.tolist(),
        launch.source.tolist(),
        launch.max_length.tolist(),
        strict=True,
    ):
        rays.append(_Ray(x, y, dx, dy, 1.0, length, 0, -1, len(paths)))
        paths.append(_Path(src, -1, [(x, y)]))

    n_segments = 0
    truncated = False
    while rays:
        if n_segments + len(rays) > settings.max_segments:
            for ray in rays:
                paths[ray.path].termination = Termination.TRUNCATED
                paths[ray.path].interactions = ray.count
            truncated = True
            break
        carry_on: list[_Ray] = []
        branches: list[_Ray] = []
        for ray in rays:
            path = paths[ray.path]
            j, t, s = _nearest(ray, elements, settings.epsilon_mm)
            n_segments += 1
            path.intensities.append(ray.intensity)
            if not t < ray.remaining:
                r = ray.remaining
                path.points.append((ray.x + r * ray.dx, ray.y + r * ray.dy))
                path.termination = Termination.ESCAPED if j < 0 else Termination.LENGTH
                path.interactions = ray.count
                continue
            hx = ray.x + t * ray.dx
            hy = ray.y + t * ray.dy
            path.points.append((hx, hy))
            count = ray.count + 1
            remaining = ray.remaining - t
            e = elements[j]
            path.interactions = count
            # Every element gives a through ray and a reflected ray (see Elements);
            # the path carries on as the through ray if it is bright enough,
            # else as the reflected one, and both surviving makes a branch.
            dn = ray.dx * e.nx + ray.dy * e.ny
            reflected_dir = (ray.dx - 2.0 * dn * e.nx, ray.dy - 2.0 * dn * e.ny)
            through_dir = (ray.dx, ray.dy)
            if e.kind == ElementKind.LENS:
                # Thin lens: in the frame where the ray travels along +axis,
                # tan(out) = tan(in) - h/f at height h from the centre. Scaled by
                # |dn| that is d - |dn| (h/f) tangent, normalised; the lens is
                # symmetric, so this holds from either side.
                bend = abs(dn) * (s - 0.5) * e.power
                vx = ray.dx - bend * e.tx
                vy = ray.dy - bend * e.ty
                norm = math.sqrt(vx * vx + vy * vy)
                through_dir = (vx / norm, vy / norm)
            through = e.transmit * ray.intensity
            reflected = e.reflect * ray.intensity
            keep_through = through >= threshold
            keep_reflected = reflected >= threshold

            if not (keep_through or keep_reflected):
                absorbed = e.kind == ElementKind.BLOCK
                path.termination = Termination.ABSORBED if absorbed else Termination.DIM
                continue
            if count >= settings.max_interactions:
                path.termination = Termination.MAX_INTERACTIONS
                continue
            if keep_through:
                carry_on.append(_Ray(hx, hy, *through_dir, through, remaining, count, j, ray.path))
                if keep_reflected:
                    branches.append(
                        _Ray(hx, hy, *reflected_dir, reflected, remaining, count, j, len(paths))
                    )
                    paths.append(_Path(path.source, ray.path, [(hx, hy)]))
            else:
                carry_on.append(
                    _Ray(hx, hy, *reflected_dir, reflected, remaining, count, j, ray.path)
                )
        rays = carry_on + branches

    return _result(prepared, paths, n_segments, truncated)


def _result(
    prepared: PreparedScene, paths: list[_Path], n_segments: int, truncated: bool
) -> TraceResult:
    kept = [p for p in paths if len(p.points) >= 2]
    if not kept:
        return TraceResult.empty(prepared.launch.sources, truncated)
    # A kept parent's index in ``kept`` is the number of kept paths before it.
    new_index: list[int] = []
    before = 0
    for p in paths:
        new_index.append(before)
        before += len(p.points) >= 2
    offsets = [0]
    for p in kept:
        offsets.append(offsets[-1] + len(p.points))
    return TraceResult(
        np.array([xy for p in kept for xy in p.points], dtype=np.float64),
        np.array([v for p in kept for v in (math.nan, *p.intensities)], dtype=np.float64),
        np.array(offsets, dtype=np.int64),
        prepared.launch.sources,
        np.array([p.source for p in kept], dtype=np.int64),
        np.array([int(p.termination) for p in kept], dtype=np.int64),
        np.array([p.interactions for p in kept], dtype=np.int64),
        np.array([new_index[p.parent] if p.parent >= 0 else -1 for p in kept], dtype=np.int64),
        n_segments,
        truncated,
    )
