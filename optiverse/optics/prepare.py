"""Turn a scene into arrays: the elements rays can hit, and the rays the sources launch.

The scene is read duck-typed (``scene.components`` maps id to an object with a
``kind`` and the documented attributes), so the tracer does not depend on the
scene package. Both tracers start from the same :class:`PreparedScene`; only
the tracing differs between them.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from optiverse.optics.geometry import fan, perpendicular, unit

__all__ = [
    "ElementKind",
    "Elements",
    "Launch",
    "PreparedScene",
    "SceneLike",
    "SourceInfo",
    "prepare",
]


class SceneLike(Protocol):
    """Anything with a ``components`` mapping of id to component."""

    @property
    def components(self) -> Mapping[str, object]: ...


class ElementKind(enum.IntEnum):
    LENS = 0
    MIRROR = 1
    BEAMSPLITTER = 2
    BLOCK = 3


_KIND_BY_NAME = {
    "lens": ElementKind.LENS,
    "mirror": ElementKind.MIRROR,
    "beamsplitter": ElementKind.BEAMSPLITTER,
    "block": ElementKind.BLOCK,
}


@dataclass(frozen=True, slots=True, eq=False)
class Elements:
    """M line elements as arrays; element i is the segment ``start[i] + s * span[i]``, s in [0, 1].

    ``normal`` is the optical axis (along the component's angle) and ``tangent`` the
    normal turned 90 degrees CCW, the direction from ``start`` to the segment's end.
    ``param`` is the efl (lens), reflectivity (mirror), transmission (beamsplitter) or
    0 (block).
    """

    ids: tuple[str, ...]
    kinds: NDArray[np.int64]
    start: NDArray[np.float64]
    span: NDArray[np.float64]
    normal: NDArray[np.float64]
    tangent: NDArray[np.float64]
    length: NDArray[np.float64]
    param: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    id: str
    color: str
    wavelength_nm: float


@dataclass(frozen=True, slots=True, eq=False)
class Launch:
    """K rays as the sources launch them; ``source[k]`` indexes ``sources``."""

    sources: tuple[SourceInfo, ...]
    origin: NDArray[np.float64]
    direction: NDArray[np.float64]
    source: NDArray[np.int64]
    max_length: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.source)


@dataclass(frozen=True, slots=True, eq=False)
class PreparedScene:
    elements: Elements
    launch: Launch


def _num(comp: object, name: str, default: float) -> float:
    value = float(getattr(comp, name, default))
    if not math.isfinite(value):
        raise ValueError(f"{name} is not finite: {value!r}")
    return value


def _element_param(cid: str, kind: ElementKind, comp: object) -> float:
    if kind is ElementKind.LENS:
        efl = _num(comp, "efl_mm", 100.0)
        if efl == 0.0:
            raise ValueError(f"lens {cid!r}: efl_mm must be non-zero")
        return efl
    if kind is ElementKind.MIRROR:
        return min(max(_num(comp, "reflectivity", 1.0), 0.0), 1.0)
    if kind is ElementKind.BEAMSPLITTER:
        return min(max(_num(comp, "transmission", 0.5), 0.0), 1.0)
    return 0.0


def prepare(scene: SceneLike) -> PreparedScene:
    """The elements and launched rays of ``scene``.

    Components are taken in id order, so every client traces the same scene the
    same way whatever order its dict was filled in. Unknown kinds are ignored
    (they neither emit nor interact).
    """
    ids: list[str] = []
    kinds: list[int] = []
    geom: list[tuple[float, ...]] = []
    sources: list[SourceInfo] = []
    rays: list[tuple[float, float, float, float, int, float]] = []

    for cid, comp in sorted(scene.components.items(), key=lambda item: item[0]):
        kind_name = getattr(comp, "kind", None)
        cx = _num(comp, "x_mm", 0.0)
        cy = _num(comp, "y_mm", 0.0)
        angle = _num(comp, "angle_deg", 0.0)
        if kind_name == "source":
            length = _num(comp, "ray_length_mm", 1000.0)
            if length <= 0.0:
                continue
            src = len(sources)
            sources.append(
                SourceInfo(
                    cid,
                    str(getattr(comp, "color", "#DC143C")),
                    _num(comp, "wavelength_nm", 633.0),
                )
            )
            ux, uy = perpendicular(*unit(angle))
            aperture = _num(comp, "aperture_mm", 10.0)
            spread = _num(comp, "spread_deg", 0.0)
            for offset, dangle in fan(int(getattr(comp, "n_rays", 9)), aperture, spread):
                dx, dy = unit(angle + dangle)
                rays.append((cx + offset * ux, cy + offset * uy, dx, dy, src, length))
            continue
        kind = _KIND_BY_NAME.get(str(kind_name))
        if kind is None:
            continue
        length = max(_num(comp, "length_mm", 25.4), 0.0)
        nx, ny = unit(angle)
        tx, ty = perpendicular(nx, ny)
        half = 0.5 * length
        ids.append(cid)
        kinds.append(int(kind))
        geom.append(
            (
                cx - half * tx,
                cy - half * ty,
                length * tx,
                length * ty,
                nx,
                ny,
                tx,
                ty,
                length,
                _element_param(cid, kind, comp),
            )
        )

    g = np.array(geom, dtype=np.float64).reshape(len(geom), 10)
    elements = Elements(
        ids=tuple(ids),
        kinds=np.array(kinds, dtype=np.int64),
        start=g[:, 0:2].copy(),
        span=g[:, 2:4].copy(),
        normal=g[:, 4:6].copy(),
        tangent=g[:, 6:8].copy(),
        length=g[:, 8].copy(),
        param=g[:, 9].copy(),
    )
    r = np.array([ray[:4] for ray in rays], dtype=np.float64).reshape(len(rays), 4)
    launch = Launch(
        sources=tuple(sources),
        origin=r[:, 0:2].copy(),
        direction=r[:, 2:4].copy(),
        source=np.array([ray[4] for ray in rays], dtype=np.int64),
        max_length=np.array([ray[5] for ray in rays], dtype=np.float64),
    )
    return PreparedScene(elements, launch)
