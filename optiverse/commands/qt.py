"""The editor's undo commands: one QUndoCommand per kind of edit.

Every command holds one operation and goes through its target's single edit
path, ``target.submit(op, origin)``, which applies it to the scene at once
and hands it to the sync client:

* the first ``redo()`` (the push) submits the command's operation as an
  ``"edit"`` and remembers it as it applied;
* ``undo()`` submits ``revert(applied, scene)`` computed against the scene as
  it is *now* (origin ``"undo"``), and remembers that as applied;
* a later ``redo()`` does the same with origin ``"redo"``.

So undo puts back the values from before my edit even if others changed them
since, and redo puts back what undo replaced (see docs/undo.md).  When
nothing of an entry still applies (someone else deleted its components) the
command makes itself obsolete; QUndoStack then drops it, and
``SceneDocument.undo()`` goes on to the next entry.

Remote operations never come here: they are applied by the sync engine and
are never on the local stack.  A failing apply is not raised out of
``redo()``/``undo()`` (PyQt would abort the process on an exception in a
virtual called from C++); it makes the command obsolete and is kept in
:attr:`OpCommand.error` for the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from PyQt6.QtGui import QUndoCommand

from optiverse.collab.messages import Origin
from optiverse.commands.edits import compose_sets
from optiverse.commands.ops import Batch, Create, Noop, Op, component_ids
from optiverse.commands.undo import revert
from optiverse.errors import OptiverseError
from optiverse.scene.scene import Scene

__all__ = [
    "AddComponentsCommand",
    "BatchCommand",
    "EditTarget",
    "MoveComponentsCommand",
    "OpCommand",
    "PasteCommand",
    "RemoveComponentsCommand",
    "ReorderCommand",
    "RotateComponentsCommand",
    "SetPropertiesCommand",
]


class EditTarget(Protocol):
    """What a command edits: a live scene and the one path that changes it."""

    @property
    def scene(self) -> Scene: ...

    def submit(self, op: Op, origin: Origin) -> Op:
        """Apply ``op`` locally now, send it, and return it as it applied."""
        ...


class OpCommand(QUndoCommand):
    """An undo entry holding one operation; see the module docstring."""

    def __init__(self, target: EditTarget, op: Op, text: str) -> None:
        super().__init__(text)
        self._target = target
        self._op = op
        self._applied: Op | None = None
        self.error: OptiverseError | None = None

    @property
    def op(self) -> Op:
        """The operation as the command was made."""
        return self._op

    @property
    def applied(self) -> Op | None:
        """What the last redo/undo applied (None before the first redo)."""
        return self._applied

    def redo(self) -> None:
        if self._applied is None:
            self._submit(self._op, "edit")
        else:
            self._revert("redo")

    def undo(self) -> None:
        self._revert("undo")

    def _revert(self, origin: Origin) -> None:
        assert self._applied is not None, "undo before the first redo"
        step = revert(self._applied, self._target.scene)
        if step is None:
            self.setObsolete(True)
            return
        self._submit(step, origin)

    def _submit(self, op: Op, origin: Origin) -> None:
        try:
            self._applied = self._target.submit(op, origin)
        except OptiverseError as exc:
            self.error = exc
            self.setObsolete(True)
            return
        if isinstance(self._applied, Noop) or (
            isinstance(self._applied, Batch) and not self._applied.ops
        ):
            self.setObsolete(True)


class AddComponentsCommand(OpCommand):
    """Add one or more new components (their Create ops carry ids and props)."""

    def __init__(self, target: EditTarget, creates: Sequence[Create], text: str = "") -> None:
        op: Op = creates[0] if len(creates) == 1 else Batch(tuple(creates))
        super().__init__(target, op, text or _add_text("Add", creates))

    @property
    def ids(self) -> list[str]:
        """The ids of the components this command adds."""
        return sorted(component_ids(self._op))


class PasteCommand(AddComponentsCommand):
    """Paste copies of components under new ids."""

    def __init__(self, target: EditTarget, creates: Sequence[Create]) -> None:
        super().__init__(target, creates, _add_text("Paste", creates))


class RemoveComponentsCommand(OpCommand):
    """Delete components; undo re-creates them under the same ids."""

    def __init__(self, target: EditTarget, op: Op, count: int) -> None:
        super().__init__(
            target, op, "Delete component" if count == 1 else f"Delete {count} components"
        )


class SetPropertiesCommand(OpCommand):
    """Change properties of one component (the property panel)."""

    def __init__(self, target: EditTarget, op: Op, text: str = "Edit properties") -> None:
        super().__init__(target, op, text)


class ReorderCommand(OpCommand):
    """Change z-order keys (bring to front/back, forward/backward)."""

    TEXTS = {
        "front": "Bring to front",
        "back": "Send to back",
        "forward": "Bring forward",
        "backward": "Send backward",
    }

    def __init__(self, target: EditTarget, op: Op, where: str) -> None:
        super().__init__(target, op, self.TEXTS.get(where, "Reorder"))


class _DragCommand(OpCommand):
    """A drag step; consecutive steps on the same selection merge into one entry.

    The merged entry's ``applied`` keeps the pre-drag ``old`` values, so one
    undo returns to where the drag started.  A step with ``final=True`` (or
    any undo) closes the drag: the next step starts a new entry.
    """

    MERGE_ID = -1
    VERB = ""  # the Edit-menu verb: "Move", "Rotate"

    def __init__(
        self, target: EditTarget, op: Op, selection: Sequence[str], *, final: bool
    ) -> None:
        n = len(selection)
        text = f"{self.VERB} component" if n == 1 else f"{self.VERB} {n} components"
        super().__init__(target, op, text)
        self.selection = tuple(selection)
        self.final = final
        self._open = not final

    @property
    def is_open(self) -> bool:
        """True while later steps of the same drag still merge into this entry."""
        return self._open

    def close(self) -> None:
        self._open = False

    def id(self) -> int:
        return self.MERGE_ID

    def undo(self) -> None:
        self._open = False
        super().undo()

    def mergeWith(self, other: QUndoCommand | None) -> bool:
        if (
            not isinstance(other, type(self))
            or not self._open
            or other.selection != self.selection
            or self._applied is None
            or other._applied is None
        ):
            return False
        self._applied = compose_sets(self._applied, other._applied)
        self._open = not other.final
        if isinstance(self._applied, Noop):
            # Dragged back to the start: nothing to undo.
            self.setObsolete(True)
        return True


class MoveComponentsCommand(_DragCommand):
    MERGE_ID = 0x4D4F5645  # "MOVE"
    VERB = "Move"


class RotateComponentsCommand(_DragCommand):
    MERGE_ID = 0x524F5441  # "ROTA"
    VERB = "Rotate"


class BatchCommand(OpCommand):
    """Several edits made as one (``SceneDocument.macro``): one Batch, one undo step."""


def _add_text(verb: str, creates: Sequence[Create]) -> str:
    if len(creates) == 1:
        return f"{verb} {creates[0].kind}"
    return f"{verb} {len(creates)} components"
