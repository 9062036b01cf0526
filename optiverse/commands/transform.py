"""Transforming concurrent operations (the OT algebra of the scene).

``transform(a, b)`` takes two operations made on the same scene where the
server ordered ``a`` first, and returns ``(a2, b2)`` such that::

        S --a--> Sa
        |         |
        b         b2          apply(apply(S, a), b2) == apply(apply(S, b), a2)
        v         v           (TP1; the later-ordered b wins conflicts)
        Sb --a2-> S'

The rules (docs/operations.md has the full table with examples):

* Set vs Set on the same property: the later one wins; its ``old`` becomes
  the earlier one's new value, and the earlier one drops that property.
* Set vs Set on different properties or ids: both apply.
* Set after a concurrent Delete of its id: no-op.
* Delete after a concurrent Set: still deletes; its state includes the Set.
* Delete vs Delete of one id: the second is a no-op.
* Create vs Create of one id (two users undoing the same delete): the later
  one's state wins.  Otherwise Create never conflicts: ids are unique.
* A Batch transforms element by element.
"""

from __future__ import annotations

from collections.abc import Iterable

from optiverse.commands.ops import Batch, Create, Delete, Noop, Op, Set
from optiverse.scene.components import full_props

__all__ = ["transform", "transform_against"]


def transform(a: Op, b: Op) -> tuple[Op, Op]:
    """``(a2, b2)``: ``a`` ordered first, ``b`` second; see the module docstring."""
    if isinstance(a, Batch):
        new_a: list[Op] = []
        for item in a.ops:
            item2, b = transform(item, b)
            new_a.append(item2)
        return Batch.of(new_a), b
    if isinstance(b, Batch):
        new_b: list[Op] = []
        for item in b.ops:
            a, item2 = transform(a, item)
            new_b.append(item2)
        return a, Batch.of(new_b)
    if isinstance(a, Noop) or isinstance(b, Noop) or a.id != b.id:
        return a, b
    return _same_id(a, b)


def _same_id(a: Create | Delete | Set, b: Create | Delete | Set) -> tuple[Op, Op]:
    if isinstance(a, Set) and isinstance(b, Set):
        common = a.props.keys() & b.props.keys()
        if not common:
            return a, b
        a_props = {k: v for k, v in a.props.items() if k not in common}
        a2: Op = (
            Set(a.id, a_props, {k: v for k, v in a.old.items() if k in a_props})
            if a_props
            else Noop()
        )
        b2 = Set(b.id, b.props, {**b.old, **{k: a.props[k] for k in common}})
        return a2, b2
    if isinstance(a, Set) and isinstance(b, Delete):
        return Noop(), Delete(b.id, b.kind, {**b.state, **a.props})
    if isinstance(a, Delete) and isinstance(b, Set):
        return Delete(a.id, a.kind, {**a.state, **b.props}), Noop()
    if isinstance(a, Delete) and isinstance(b, Delete):
        return Noop(), Noop()
    if isinstance(a, Create) and isinstance(b, Create):
        return Noop(), _replace(a, b)
    # Create against Set/Delete of the same id cannot both be valid on one
    # scene (one needs the id absent, the other present): leave both as they
    # are and let apply reject whichever is invalid.
    return a, b


def _replace(first: Create, second: Create) -> Op:
    """What turns the component ``first`` created into the one ``second`` creates."""
    before = full_props(first.kind, first.props)
    after = full_props(second.kind, second.props)
    if first.kind != second.kind:
        return Batch((Delete(first.id, first.kind, before), Create(second.id, second.kind, after)))
    changed = {k: v for k, v in after.items() if before[k] != v}
    if not changed:
        return Noop()
    return Set(second.id, changed, {k: before[k] for k in changed})


def transform_against(op: Op, history: Iterable[Op]) -> Op:
    """``op`` transformed past every operation of ``history``, which were ordered before it."""
    for earlier in history:
        _, op = transform(earlier, op)
    return op
