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

from optiverse.optics.geometry import fan, perpendicular, unit, units

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

    Every element is described by the same interaction model: a hit ray gives a
    "through" ray of intensity ``transmit * I`` (bent by a lens of focal length
    ``efl``, straight on otherwise) and a specularly reflected ray of intensity
    ``reflect * I``. So a lens is (1, 0), a mirror (0, R), a beamsplitter (T, 1 - T)
    and a block (0, 0); ``efl`` is +inf for everything but lenses.
    """

    ids: tuple[str, ...]
    kinds: NDArray[np.int64]
    start: NDArray[np.float64]
    span: NDArray[np.float64]
    normal: NDArray[np.float64]
    tangent: NDArray[np.float64]
    length: NDArray[np.float64]
    efl: NDArray[np.float64]
    transmit: NDArray[np.float64]
    reflect: NDArray[np.float64]

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


def _interaction(cid: str, kind: ElementKind, comp: object) -> tuple[float, float, float]:
    """(efl, transmit, reflect) of an element."""
    if kind is ElementKind.LENS:
        efl = _num(comp, "efl_mm", 100.0)
        if efl == 0.0:
            raise ValueError(f"lens {cid!r}: efl_mm must be non-zero")
        return efl, 1.0, 0.0
    if kind is ElementKind.MIRROR:
        return math.inf, 0.0, min(max(_num(comp, "reflectivity", 1.0), 0.0), 1.0)
    if kind is ElementKind.BEAMSPLITTER:
        transmission = min(max(_num(comp, "transmission", 0.5), 0.0), 1.0)
        return math.inf, transmission, 1.0 - transmission
    return math.inf, 0.0, 0.0


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
    origins: list[NDArray[np.float64]] = []
    directions: list[NDArray[np.float64]] = []
    ray_source: list[int] = []
    ray_length: list[float] = []

    for cid, comp in sorted(scene.components.items(), key=lambda item: item[0]):
        kind_name = getattr(comp, "kind", None)
        cx = _num(comp, "x_mm", 0.0)
        cy = _num(comp, "y_mm", 0.0)
        angle = _num(comp, "angle_deg", 0.0)
        if kind_name == "source":
            length = _num(comp, "ray_length_mm", 1000.0)
            offsets, turns = fan(
                int(getattr(comp, "n_rays", 9)),
                _num(comp, "aperture_mm", 10.0),
                _num(comp, "spread_deg", 0.0),
            )
            if length <= 0.0 or not len(offsets):
                continue
            ux, uy = perpendicular(*unit(angle))
            origins.append(np.stack((cx + offsets * ux, cy + offsets * uy), axis=1))
            directions.append(units(angle + turns))
            ray_source += [len(sources)] * len(offsets)
            ray_length += [length] * len(offsets)
            sources.append(
                SourceInfo(
                    cid,
                    str(getattr(comp, "color", "#DC143C")),
                    _num(comp, "wavelength_nm", 633.0),
                )
            )
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
                *_interaction(cid, kind, comp),
            )
        )

    g = np.array(geom, dtype=np.float64).reshape(len(geom), 12)
    elements = Elements(
        ids=tuple(ids),
        kinds=np.array(kinds, dtype=np.int64),
        start=g[:, 0:2].copy(),
        span=g[:, 2:4].copy(),
        normal=g[:, 4:6].copy(),
        tangent=g[:, 6:8].copy(),
        length=g[:, 8].copy(),
        efl=g[:, 9].copy(),
        transmit=g[:, 10].copy(),
        reflect=g[:, 11].copy(),
    )
    launch = Launch(
        sources=tuple(sources),
        origin=np.concatenate(origins) if origins else np.zeros((0, 2)),
        direction=np.concatenate(directions) if directions else np.zeros((0, 2)),
        source=np.array(ray_source, dtype=np.int64),
        max_length=np.array(ray_length, dtype=np.float64),
    )
    return PreparedScene(elements, launch)
