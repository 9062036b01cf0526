"""Per-user undo: the operation that reverts one of my edits in today's scene.

Undo is not the stored inverse: it is computed against the scene as it is
when undo is pressed (the Figma/Excalidraw rule), so it works while others
keep editing and needs no transformation of the undo stack:

* my Set is reverted to the values before my edit, even if others changed
  them since; the effective undo op records what was there at undo time, so
  reverting *it* (redo) puts those back;
* my Create is reverted by deleting the component with its current state,
  so redo brings it back as it was, others' edits included;
* my Delete is reverted by re-creating the component under the same id;
* a part whose component someone else deleted (or re-created) is obsolete
  and skipped; if nothing is left the whole entry is obsolete (``None``).

Redo is ``revert`` of the effective undo op, so undo n then redo n with
nobody editing in between restores the scene exactly.
"""

from __future__ import annotations

from optiverse.commands.apply import apply
from optiverse.commands.ops import Batch, Create, Delete, LeafOp, Noop, Op, Set
from optiverse.scene.components import prop_specs
from optiverse.scene.scene import Scene

__all__ = ["revert"]


def revert(op: Op, scene: Scene) -> Op | None:
    """An op that reverts ``op`` (as it applied) in ``scene`` now, or None if obsolete."""
    if isinstance(op, Batch):
        parts: list[LeafOp] = []
        work = scene.copy()
        for item in reversed(op.ops):
            part = revert(item, work)
            if part is not None and not isinstance(part, Batch | Noop):
                # Later parts are reverted first; apply them to a scratch copy so
                # earlier parts see the scene they will really meet.
                apply(work, part)
                parts.append(part)
        return Batch(tuple(parts)) if parts else None
    if isinstance(op, Noop):
        return None
    comp = scene.get(op.id)
    if isinstance(op, Set):
        if comp is None or not set(op.old) <= set(prop_specs(comp.kind)):
            return None
        return Set(op.id, dict(op.old), {k: getattr(comp, k) for k in op.old})
    if isinstance(op, Create):
        if comp is None or comp.kind != op.kind:
            return None
        return Delete(op.id)
    if comp is not None or op.kind is None:
        return None
    return Create(op.id, op.kind, dict(op.state))
