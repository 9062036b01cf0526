"""The operations that change a scene.

Every edit (add, delete, move, rotate, property edit, paste, reorder) is one
of these frozen attrs classes; their JSON form comes from the one converter
in :mod:`optiverse.wire`, tagged by ``"type"``.  Moves, rotations, reorders
and property edits are all :class:`Set`.

Inverse data (``Delete.state``, ``Set.old``) may be omitted by a client:
``apply`` returns the operation as it actually applied, with that data
filled in from the scene, and that is what is logged and broadcast.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from optiverse.errors import InvalidOperation
from optiverse.scene.components import KINDS, PropValue, validate_id

__all__ = ["Batch", "Create", "Delete", "LeafOp", "Noop", "Op", "Props", "Set", "component_ids"]

Props = dict[str, PropValue]


def _valid_id(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
    validate_id(value)


def _valid_kind(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
    if value not in KINDS:
        raise InvalidOperation(
            f"unknown component kind {value!r}; expected one of {', '.join(sorted(KINDS))}"
        )


def _valid_props(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise InvalidOperation(f"{attr.name} must be an object of property values")


@attrs.frozen
class Create:
    """Add component ``id`` of ``kind``; ``props`` not given take the kind's defaults."""

    id: str = attrs.field(validator=_valid_id)
    kind: str = attrs.field(validator=_valid_kind)
    props: Props = attrs.field(factory=dict, validator=_valid_props)


@attrs.frozen
class Delete:
    """Remove component ``id``; ``kind`` and ``state`` are what it was, for undo."""

    id: str = attrs.field(validator=_valid_id)
    kind: str | None = attrs.field(default=None)
    state: Props = attrs.field(factory=dict, validator=_valid_props)

    @kind.validator
    def _check_kind(self, attr: attrs.Attribute[Any], value: str | None) -> None:
        if value is not None:
            _valid_kind(self, attr, value)


@attrs.frozen
class Set:
    """Change properties of ``id`` to ``props``; ``old`` holds their previous values."""

    id: str = attrs.field(validator=_valid_id)
    props: Props = attrs.field(validator=_valid_props)
    old: Props = attrs.field(factory=dict, validator=_valid_props)

    def __attrs_post_init__(self) -> None:
        if not self.props:
            raise InvalidOperation(f"Set on {self.id!r} changes no property")
        extra = set(self.old) - set(self.props)
        if extra:
            raise InvalidOperation(
                f"Set on {self.id!r}: old values for properties it does not set: {sorted(extra)}"
            )


@attrs.frozen
class Noop:
    """An operation that changes nothing (what a transformed-away edit becomes)."""


LeafOp = Create | Delete | Set | Noop


def _as_tuple(ops: Iterable[LeafOp]) -> tuple[LeafOp, ...]:
    return tuple(ops)


@attrs.frozen
class Batch:
    """Operations applied atomically, in order: all of them or none.

    Batches are flat: nesting adds nothing to atomicity, and a flat list keeps
    transform and the wire format non-recursive.  Use :meth:`of` to flatten.
    """

    ops: tuple[LeafOp, ...] = attrs.field(converter=_as_tuple)

    @ops.validator
    def _flat(self, _attr: attrs.Attribute[Any], value: tuple[object, ...]) -> None:
        for op in value:
            if not isinstance(op, Create | Delete | Set | Noop):
                raise InvalidOperation(f"a Batch holds Create, Delete, Set or Noop, not {op!r}")

    @classmethod
    def of(cls, ops: list[Op] | tuple[Op, ...]) -> Batch:
        """A flat batch of ``ops``, inner batches spliced in and no-ops dropped."""
        flat: list[LeafOp] = []
        for op in ops:
            if isinstance(op, Batch):
                flat.extend(o for o in op.ops if not isinstance(o, Noop))
            elif not isinstance(op, Noop):
                flat.append(op)
        return cls(tuple(flat))


Op = Create | Delete | Set | Batch | Noop


def component_ids(op: Op) -> set[str]:
    """The ids an operation touches."""
    if isinstance(op, Batch):
        return {i for o in op.ops for i in component_ids(o)}
    if isinstance(op, Noop):
        return set()
    return {op.id}
