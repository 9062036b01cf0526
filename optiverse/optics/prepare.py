"""Turn a scene into arrays: the elements rays can hit, and the rays the sources launch.

The scene is read duck-typed (``scene.components`` maps id to an object with a
``kind`` and the documented attributes), so the tracer does not depend on the
scene package. Both tracers start from the same :class:`PreparedScene`; only
the tracing differs between them.
"""

from __future__ import annotations

import enum
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from optiverse.optics.geometry import fan, perpendicular, unit, unit_rows, units

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

    Every array is a view into ``table``, one row per quantity (see ``ROWS``), so
    the tracer gathers all it needs about the elements rays met in one call.
    """

    ROWS = (
        *("ax", "ay", "ex", "ey", "nx", "ny", "tx", "ty"),
        *("power", "transmit", "reflect", "length", "efl"),
    )

    ids: tuple[str, ...]
    table: NDArray[np.float64]
    kinds: NDArray[np.int64]
    start: NDArray[np.float64]
    span: NDArray[np.float64]
    normal: NDArray[np.float64]
    tangent: NDArray[np.float64]
    length: NDArray[np.float64]
    efl: NDArray[np.float64]
    power: NDArray[np.float64]
    """``length / efl``: the lens's bend per unit of ``s - 0.5`` (0 for everything else)."""
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


def _num(comp: object, name: str, default: float, cid: str) -> float:
    return _number(getattr(comp, name, default), name, cid)


def _number(raw: object, name: str, cid: str) -> float:
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{cid!r}: {name} is not a number: {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{cid!r}: {name} is not finite: {value!r}")
    return value


# Reads an element's x, y, angle, length and interaction parameter in one C
# call: a scene of a few dozen components is read per trace, and per-attribute
# Python calls used to cost as much as tracing it. A block has no parameter;
# it reads its length twice and ignores the second.
_READERS = {
    "lens": (ElementKind.LENS, ("efl_mm", 100.0)),
    "mirror": (ElementKind.MIRROR, ("reflectivity", 1.0)),
    "beamsplitter": (ElementKind.BEAMSPLITTER, ("transmission", 0.5)),
    "block": (ElementKind.BLOCK, ("length_mm", 25.4)),
}
_GEOMETRY = (("x_mm", 0.0), ("y_mm", 0.0), ("angle_deg", 0.0), ("length_mm", 25.4))
_READ = {
    name: (int(kind), operator.attrgetter(*(attr for attr, _ in (*_GEOMETRY, param))))
    for name, (kind, param) in _READERS.items()
}


def _read_slowly(comp: object, cid: str, name: str) -> tuple[float, ...]:
    """Like the fast reader, with defaults for missing attributes and clear errors."""
    param = _READERS[name][1]
    return tuple(_num(comp, attr, default, cid) for attr, default in (*_GEOMETRY, param))


def prepare(scene: SceneLike) -> PreparedScene:
    """The elements and launched rays of ``scene``.

    Components are taken in id order, so every client traces the same scene the
    same way whatever order its dict was filled in. Unknown kinds are ignored
    (they neither emit nor interact).
    """
    ids: list[str] = []
    kinds: list[int] = []
    # Five per element: x, y, angle, length, interaction parameter.
    raw: list[float] = []
    sources: list[SourceInfo] = []
    origins: list[NDArray[np.float64]] = []
    directions: list[NDArray[np.float64]] = []
    ray_source: list[int] = []
    ray_length: list[float] = []

    # Ids are unique, so sorting the pairs never compares two components.
    for cid, comp in sorted(scene.components.items()):
        kind_name = getattr(comp, "kind", None)
        reader = _READ.get(kind_name)  # type: ignore[arg-type]
        if reader is not None:
            try:
                raw += reader[1](comp)
            except AttributeError:
                raw += _read_slowly(comp, cid, str(kind_name))
            ids.append(cid)
            kinds.append(reader[0])
        elif kind_name == "source":
            length = _num(comp, "ray_length_mm", 1000.0, cid)
            offsets, turns = fan(
                int(getattr(comp, "n_rays", 9)),
                _num(comp, "aperture_mm", 10.0, cid),
                _num(comp, "spread_deg", 0.0, cid),
            )
            if length <= 0.0 or not len(offsets):
                continue
            cx = _num(comp, "x_mm", 0.0, cid)
            cy = _num(comp, "y_mm", 0.0, cid)
            angle = _num(comp, "angle_deg", 0.0, cid)
            ux, uy = perpendicular(*unit(angle))
            origins.append(np.stack((cx + offsets * ux, cy + offsets * uy), axis=1))
            directions.append(units(angle + turns))
            ray_source += [len(sources)] * len(offsets)
            ray_length += [length] * len(offsets)
            sources.append(
                SourceInfo(
                    cid,
                    str(getattr(comp, "color", "#DC143C")),
                    _num(comp, "wavelength_nm", 633.0, cid),
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


def _elements(ids: list[str], kinds: list[int], raw: list[float]) -> Elements:
    m = len(ids)
    try:
        values = np.array(raw, dtype=np.float64).reshape(m, 5)
        invalid = not np.isfinite(values).all()
    except (TypeError, ValueError):
        invalid = True
    if invalid:
        # Read them one by one: that names the first bad value (in id order).
        for i in range(m):
            for name, value in zip(_names(kinds[i]), raw[5 * i : 5 * i + 5], strict=True):
                _number(value, name, ids[i])
        raise ValueError("an element property is not a finite number")
    kind = np.array(kinds, dtype=np.int64)
    x, y, angle, length, param = values.T
    lens = kind == _LENS
    if (lens & (param == 0.0)).any():
        bad = ids[int(np.flatnonzero(lens & (param == 0.0))[0])]
        raise ValueError(f"lens {bad!r}: efl_mm must be non-zero")
    fraction = np.minimum(np.maximum(param, 0.0), 1.0)
    splitter = kind == _SPLITTER

    table = np.empty((len(Elements.ROWS), m))
    table[4:6] = unit_rows(angle)
    table[6] = -table[5]  # tangent: the normal turned 90 degrees CCW
    table[7] = table[4]
    table[11] = np.maximum(length, 0.0)
    table[2:4] = table[6:8] * table[11]  # span
    table[0] = x - 0.5 * table[2]  # start
    table[1] = y - 0.5 * table[3]
    table[12] = np.where(lens, param, np.inf)
    np.divide(table[11], table[12], out=table[8])
    table[9] = np.where(lens, 1.0, np.where(splitter, fraction, 0.0))
    table[10] = np.where(kind == _MIRROR, fraction, np.where(splitter, 1.0 - fraction, 0.0))
    return Elements(
        ids=tuple(ids),
        table=table,
        kinds=kind,
        start=table[0:2].T,
        span=table[2:4].T,
        normal=table[4:6].T,
        tangent=table[6:8].T,
        power=table[8],
        transmit=table[9],
        reflect=table[10],
        length=table[11],
        efl=table[12],
    )


# Plain ints: comparing an array with an IntEnum member goes through a slow
# object path in numpy.
_LENS = int(ElementKind.LENS)
_MIRROR = int(ElementKind.MIRROR)
_SPLITTER = int(ElementKind.BEAMSPLITTER)
_KIND_NAMES = {int(kind): name for name, (kind, _) in _READERS.items()}


def _names(kind: int) -> list[str]:
    """The attributes behind an element's five raw values, for error messages."""
    return [attr for attr, _ in _GEOMETRY] + [_READERS[_KIND_NAMES[kind]][1][0]]
