"""Applying and inverting operations: the only way a scene changes.

``apply`` is atomic: it checks everything before it changes anything, and a
Batch that fails half-way is rolled back, so an invalid operation raises a
specific error and leaves the scene as it was.
"""

from __future__ import annotations

from optiverse.commands.ops import Batch, Create, Delete, LeafOp, Noop, Op, Props, Set
from optiverse.errors import ComponentExists, InvalidOperation, UnknownComponent
from optiverse.scene.components import (
    Component,
    component_props,
    make_component,
    update_component,
)
from optiverse.scene.scene import Scene

__all__ = ["applied", "apply", "invert"]


def apply(scene: Scene, op: Op) -> Op:
    """Apply ``op`` to ``scene`` in place and return it as it applied.

    The returned operation carries exact inverse data (a Create's full props,
    a Delete's kind and state, a Set's old values), so ``invert`` of it undoes
    it exactly.  On error the scene is unchanged.
    """
    if isinstance(op, Noop):
        return op
    if isinstance(op, Create):
        if op.id in scene.components:
            raise ComponentExists(op.id)
        comp = make_component(op.kind, op.props, op.id)
        scene.components[op.id] = comp
        return Create(op.id, op.kind, component_props(comp))
    if isinstance(op, Delete):
        comp = _existing(scene, op.id)
        if op.kind is not None and op.kind != comp.kind:
            raise InvalidOperation(f"Delete of {op.id!r} names kind {op.kind!r}; it is {comp.kind}")
        del scene.components[op.id]
        return Delete(op.id, comp.kind, component_props(comp))
    if isinstance(op, Set):
        comp = _existing(scene, op.id)
        new = update_component(comp, op.props, op.id)
        scene.components[op.id] = new
        return _set_of(
            op.id,
            {k: getattr(new, k) for k in op.props},
            {k: getattr(comp, k) for k in op.props},
        )
    return _apply_batch(scene, op)


_setattr = object.__setattr__


def _set_of(component_id: str, props: Props, old: Props) -> Set:
    """``Set(component_id, props, old)`` without re-running its validators.

    Only for what ``apply`` builds from a valid Set: the same id, the same
    non-empty keys in both dicts, values the scene accepted.  This runs for
    every applied move; tests/server/test_fast_paths.py checks it equals ``Set(...)``.
    """
    out = object.__new__(Set)
    _setattr(out, "id", component_id)
    _setattr(out, "props", props)
    _setattr(out, "old", old)
    return out


def _apply_batch(scene: Scene, batch: Batch) -> Batch:
    done: list[LeafOp] = []
    try:
        for op in batch.ops:
            effective = apply(scene, op)
            assert not isinstance(effective, Batch)
            done.append(effective)
    except Exception:
        for effective in reversed(done):
            apply(scene, invert(effective))
        raise
    return Batch(tuple(done))


def _existing(scene: Scene, component_id: str) -> Component:
    comp = scene.components.get(component_id)
    if comp is None:
        raise UnknownComponent(component_id)
    return comp


def invert(op: Op) -> Op:
    """The operation that undoes ``op`` (as returned by ``apply``) right after it."""
    if isinstance(op, Noop):
        return op
    if isinstance(op, Create):
        return Delete(op.id, op.kind, dict(op.props))
    if isinstance(op, Delete):
        if op.kind is None:
            raise InvalidOperation(f"cannot invert a Delete of {op.id!r} that carries no state")
        return Create(op.id, op.kind, dict(op.state))
    if isinstance(op, Set):
        missing = set(op.props) - set(op.old)
        if missing:
            raise InvalidOperation(
                f"cannot invert a Set on {op.id!r} without old values of {sorted(missing)}"
            )
        return Set(op.id, dict(op.old), dict(op.props))
    inverted = [invert(o) for o in reversed(op.ops)]
    return Batch(tuple(o for o in inverted if not isinstance(o, Batch)))


def applied(scene: Scene, op: Op) -> Scene:
    """A new scene: ``scene`` with ``op`` applied (``scene`` itself is untouched)."""
    out = scene.copy()
    apply(out, op)
    return out
