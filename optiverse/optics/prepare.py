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


# The attribute holding each element kind's interaction parameter.
_PARAM = {
    ElementKind.LENS: ("efl_mm", 100.0),
    ElementKind.MIRROR: ("reflectivity", 1.0),
    ElementKind.BEAMSPLITTER: ("transmission", 0.5),
}


def prepare(scene: SceneLike) -> PreparedScene:
    """The elements and launched rays of ``scene``.

    Components are taken in id order, so every client traces the same scene the
    same way whatever order its dict was filled in. Unknown kinds are ignored
    (they neither emit nor interact).
    """
    ids: list[str] = []
    kinds: list[int] = []
    raw: list[tuple[float, float, float, float, float]] = []
    sources: list[SourceInfo] = []
    origins: list[NDArray[np.float64]] = []
    directions: list[NDArray[np.float64]] = []
    ray_source: list[int] = []
    ray_length: list[float] = []

    # Ids are unique, so sorting the pairs never compares two components.
    for cid, comp in sorted(scene.components.items()):
        kind_name = getattr(comp, "kind", None)
        if kind_name == "source":
            length = _num(comp, "ray_length_mm", 1000.0)
            offsets, turns = fan(
                int(getattr(comp, "n_rays", 9)),
                _num(comp, "aperture_mm", 10.0),
                _num(comp, "spread_deg", 0.0),
            )
            if length <= 0.0 or not len(offsets):
                continue
            cx = _num(comp, "x_mm", 0.0)
            cy = _num(comp, "y_mm", 0.0)
            angle = _num(comp, "angle_deg", 0.0)
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
        name, default = _PARAM.get(kind, ("", 0.0))
        ids.append(cid)
        kinds.append(kind)
        raw.append(
            (
                getattr(comp, "x_mm", 0.0),
                getattr(comp, "y_mm", 0.0),
                getattr(comp, "angle_deg", 0.0),
                getattr(comp, "length_mm", 25.4),
                getattr(comp, name, default) if name else 0.0,
            )
        )

    launch = Launch(
        sources=tuple(sources),
        origin=np.concatenate(origins) if origins else np.zeros((0, 2)),
        direction=np.concatenate(directions) if directions else np.zeros((0, 2)),
        source=np.array(ray_source, dtype=np.int64),
        max_length=np.array(ray_length, dtype=np.float64),
    )
    return PreparedScene(_elements(ids, kinds, raw), launch)


def _elements(
    ids: list[str], kinds: list[int], raw: list[tuple[float, float, float, float, float]]
) -> Elements:
    values = np.array(raw, dtype=np.float64).reshape(len(raw), 5)
    if not np.isfinite(values).all():
        bad = ids[int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])]
        raise ValueError(f"element {bad!r} has a non-finite property")
    kind = np.array(kinds, dtype=np.int64)
    centre = values[:, 0:2]
    normal = units(values[:, 2])
    tangent = np.stack((-normal[:, 1], normal[:, 0]), axis=1)
    length = np.maximum(values[:, 3], 0.0)
    param = values[:, 4]
    lens = kind == ElementKind.LENS
    if np.any(lens & (param == 0.0)):
        bad = ids[int(np.flatnonzero(lens & (param == 0.0))[0])]
        raise ValueError(f"lens {bad!r}: efl_mm must be non-zero")
    fraction = np.clip(param, 0.0, 1.0)
    mirror = kind == ElementKind.MIRROR
    splitter = kind == ElementKind.BEAMSPLITTER
    span = length[:, None] * tangent
    return Elements(
        ids=tuple(ids),
        kinds=kind,
        start=centre - 0.5 * span,
        span=span,
        normal=normal,
        tangent=tangent,
        length=length,
        efl=np.where(lens, param, np.inf),
        transmit=np.where(lens, 1.0, np.where(splitter, fraction, 0.0)),
        reflect=np.where(mirror, fraction, np.where(splitter, 1.0 - fraction, 0.0)),
    )
