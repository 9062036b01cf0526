"""The component kinds of a scene, their properties, defaults and ranges.

Each kind is a frozen attrs class.  Every property is declared with a
:class:`PropSpec` (type, unit, range) kept in the field's metadata, so the
validators, the error messages, the file loader and the UI's property panel
all read the same table.  Units are in the property names: mm, deg, nm.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, cast

import attrs

from optiverse.errors import InvalidOperation, PropertyError
from optiverse.scene.zorder import FIRST_KEY, is_valid_key

__all__ = [
    "KINDS",
    "BeamBlock",
    "Beamsplitter",
    "Component",
    "Lens",
    "Mirror",
    "PropSpec",
    "PropValue",
    "Source",
    "component_class",
    "component_props",
    "full_props",
    "make_component",
    "prop_specs",
    "update_component",
    "validate_id",
]

PropValue = str | int | float | bool | None
PropType = Literal["float", "int", "str", "bool", "color", "zkey"]

MAX_COORD_MM = 1_000_000.0
MAX_SIZE_MM = 10_000.0
MAX_NAME_LENGTH = 200
MAX_ID_LENGTH = 128
_ID_RE = re.compile(r"^[A-Za-z0-9_.:\-]+$")
_COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")
_INVALID = object()


@attrs.frozen
class PropSpec:
    """What a property accepts: its type, unit and inclusive range."""

    type: PropType
    unit: str = ""
    lo: float | None = None
    hi: float | None = None
    nonzero: bool = False
    lo_open: bool = False
    doc: str = ""

    def describe(self) -> str:
        """The allowed values, as a user would read them."""
        if self.type in ("float", "int"):
            kind = "an integer" if self.type == "int" else "a finite number"
            parts = []
            if self.lo is not None:
                parts.append(f"{'>' if self.lo_open else '>='} {self.lo:g}")
            if self.hi is not None:
                parts.append(f"<= {self.hi:g}")
            if self.nonzero:
                parts.append("non-zero")
            unit = f" in {self.unit}" if self.unit else ""
            return f"{kind}{unit}" + (f" ({', '.join(parts)})" if parts else "")
        return {
            "str": f"a string of at most {MAX_NAME_LENGTH} characters",
            "bool": "true or false",
            "color": "a colour '#RRGGBB'",
            "zkey": "a fractional z-order key such as 'a0' (see optiverse.scene.zorder)",
        }[self.type]

    def check(self, name: str, value: object) -> PropValue:
        """``value`` normalised (ints become floats for float properties), or PropertyError."""
        normalised = self._normalise(value)
        if normalised is _INVALID:
            raise PropertyError(name, f"{value!r} is not allowed; expected {self.describe()}")
        return cast(PropValue, normalised)

    def _normalise(self, value: object) -> object:
        # Returns _INVALID rather than raising: this runs for every property of
        # every applied op, and building the error message is the costly part.
        if self.type == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                return _INVALID
            number = float(value)
            if not math.isfinite(number) or not self._in_range(number):
                return _INVALID
            return number
        if self.type == "int":
            if isinstance(value, bool) or not isinstance(value, int) or not self._in_range(value):
                return _INVALID
            return value
        if self.type == "bool":
            return value if isinstance(value, bool) else _INVALID
        if not isinstance(value, str):
            return _INVALID
        if (
            (self.type == "str" and len(value) > MAX_NAME_LENGTH)
            or (self.type == "color" and not _COLOR_RE.match(value))
            or (self.type == "zkey" and not is_valid_key(value))
        ):
            return _INVALID
        return value

    def _in_range(self, number: float) -> bool:
        if self.lo is not None and (number <= self.lo if self.lo_open else number < self.lo):
            return False
        if self.hi is not None and number > self.hi:
            return False
        return not (self.nonzero and number == 0)


def _prop(default: PropValue, spec: PropSpec) -> Any:
    def validate(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        spec.check(attribute.name, value)

    def convert(value: object) -> object:
        # JSON gives 100 for 100.0; keep one spelling so equal scenes compare equal.
        if spec.type == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    return attrs.field(
        default=default, validator=validate, converter=convert, metadata={"spec": spec}
    )


def _position(doc: str) -> Any:
    return _prop(0.0, PropSpec("float", "mm", -MAX_COORD_MM, MAX_COORD_MM, doc=doc))


def _angle(default: float) -> Any:
    return _prop(
        default,
        PropSpec("float", "deg", -360.0, 360.0, doc="optical axis, counter-clockwise from +x"),
    )


def _length(default: float) -> Any:
    return _prop(
        default, PropSpec("float", "mm", 0.0, MAX_SIZE_MM, lo_open=True, doc="length of the optic")
    )


def _fraction(default: float, doc: str) -> Any:
    return _prop(default, PropSpec("float", "", 0.0, 1.0, doc=doc))


@attrs.frozen
class _Common:
    x_mm: float = _position("centre, x")
    y_mm: float = _position("centre, y (up)")
    angle_deg: float = _angle(0.0)
    name: str = _prop("", PropSpec("str", doc="label shown on the canvas"))
    locked: bool = _prop(False, PropSpec("bool", doc="locked components cannot be moved"))
    z: str = _prop(FIRST_KEY, PropSpec("zkey", doc="fractional z-order key; draw order is (z, id)"))


@attrs.frozen
class Source(_Common):
    kind: ClassVar[str] = "source"
    aperture_mm: float = _prop(
        10.0, PropSpec("float", "mm", 0.0, MAX_SIZE_MM, doc="beam width", lo_open=False)
    )
    n_rays: int = _prop(9, PropSpec("int", "", 1, 2001, doc="rays across the aperture"))
    spread_deg: float = _prop(
        0.0, PropSpec("float", "deg", 0.0, 179.0, doc="full fan angle of the rays")
    )
    wavelength_nm: float = _prop(633.0, PropSpec("float", "nm", 200.0, 2000.0, doc="wavelength"))
    ray_length_mm: float = _prop(
        1000.0,
        PropSpec("float", "mm", 0.0, MAX_COORD_MM, lo_open=True, doc="path length of each ray"),
    )
    color: str = _prop("#DC143C", PropSpec("color", doc="ray colour"))


@attrs.frozen
class Lens(_Common):
    kind: ClassVar[str] = "lens"
    length_mm: float = _length(25.4)
    efl_mm: float = _prop(
        100.0,
        PropSpec(
            "float", "mm", -MAX_COORD_MM, MAX_COORD_MM, nonzero=True, doc="effective focal length"
        ),
    )


@attrs.frozen
class Mirror(_Common):
    kind: ClassVar[str] = "mirror"
    length_mm: float = _length(25.4)
    reflectivity: float = _fraction(1.0, "fraction of intensity reflected")


@attrs.frozen
class Beamsplitter(_Common):
    kind: ClassVar[str] = "beamsplitter"
    angle_deg: float = _angle(45.0)
    length_mm: float = _length(25.4)
    transmission: float = _fraction(0.5, "fraction transmitted; the rest is reflected")


@attrs.frozen
class BeamBlock(_Common):
    kind: ClassVar[str] = "block"
    length_mm: float = _length(25.4)


Component = Source | Lens | Mirror | Beamsplitter | BeamBlock
KINDS: dict[str, type[Component]] = {
    cls.kind: cls for cls in (Source, Lens, Mirror, Beamsplitter, BeamBlock)
}


def component_class(kind: str) -> type[Component]:
    """The class of ``kind``, or InvalidOperation naming the kinds there are."""
    try:
        return KINDS[kind]
    except (KeyError, TypeError):
        raise InvalidOperation(
            f"unknown component kind {kind!r}; expected one of {', '.join(sorted(KINDS))}"
        ) from None


def prop_specs(kind: str) -> dict[str, PropSpec]:
    """Property name to spec, in declaration order (common properties first)."""
    return dict(_SPECS[component_class(kind)])


# Per kind, computed once: the specs and the (validated) defaults.  Building a
# component through attrs would run every field's converter and validator
# again after `_checked` has validated the values that changed; `_build` sets
# the fields directly instead (the class is frozen and slotted), so each value
# is checked exactly once.  tests/test_scene.py checks that both paths agree.
_SPECS: dict[type[Component], dict[str, PropSpec]] = {
    cls: {a.name: a.metadata["spec"] for a in attrs.fields(cls)} for cls in KINDS.values()
}
_DEFAULTS: dict[type[Component], dict[str, Any]] = {
    cls: attrs.asdict(cls(), recurse=False) for cls in KINDS.values()
}
_setattr = object.__setattr__


def _build(cls: type[Component], values: dict[str, Any]) -> Component:
    """An instance of ``cls`` holding ``values`` (every field, each already valid)."""
    comp = object.__new__(cls)
    for name, value in values.items():
        _setattr(comp, name, value)
    return comp


def validate_id(component_id: object) -> str:
    """``component_id`` if it is a usable id, else InvalidOperation."""
    if (
        not isinstance(component_id, str)
        or not 0 < len(component_id) <= MAX_ID_LENGTH
        or not _ID_RE.match(component_id)
    ):
        raise InvalidOperation(
            f"invalid component id {component_id!r}: 1-{MAX_ID_LENGTH} characters of "
            "letters, digits, '_', '.', ':' or '-'"
        )
    return component_id


def _checked(kind: str, props: Mapping[str, object], component: str | None) -> dict[str, Any]:
    specs = _SPECS[component_class(kind)]
    out: dict[str, Any] = {}
    for name, value in props.items():
        spec = specs.get(name)
        try:
            if spec is None:
                raise PropertyError(
                    name, f"unknown to a {kind}; its properties are {', '.join(specs)}"
                )
            out[name] = spec.check(name, value)
        except PropertyError as exc:
            raise exc.for_component(component) if component else exc from None
    return out


def make_component(
    kind: str, props: Mapping[str, object], component: str | None = None
) -> Component:
    """A ``kind`` component from (possibly partial) ``props``; defaults fill the rest."""
    cls = component_class(kind)
    return _build(cls, {**_DEFAULTS[cls], **_checked(kind, props, component)})


def update_component(
    comp: Component, props: Mapping[str, object], component: str | None = None
) -> Component:
    """``comp`` with ``props`` changed; every value is checked first."""
    changed = _checked(comp.kind, props, component)
    fields = _DEFAULTS.get(type(comp))
    if fields is None:  # a subclass of a kind: let attrs build it
        return attrs.evolve(comp, **changed)
    return _build(type(comp), {name: changed.get(name, getattr(comp, name)) for name in fields})


def component_props(comp: Component) -> dict[str, PropValue]:
    """Every property of ``comp`` by name."""
    return attrs.asdict(comp, recurse=False)


def full_props(kind: str, props: Mapping[str, object]) -> dict[str, PropValue]:
    """``props`` completed with the kind's defaults and normalised."""
    return component_props(make_component(kind, props))
