"""The document: the one object the UI edits the scene through.

:class:`SceneDocument` owns the scene, the undo stack and (while shared) the
sync client.  Widgets read :attr:`SceneDocument.scene` and call the editing
methods; every editing method pushes exactly one undoable command (or
raises and changes nothing), and every change of the scene, mine or
another user's, is announced by :attr:`~SceneDocument.componentsChanged` or
:attr:`~SceneDocument.sceneReset`.

Rules the UI can rely on:

* ``scene`` is the same :class:`~optiverse.scene.Scene` object for the
  document's whole life; it is replaced in place (open, join, rollback).
* Undo/redo are per user: only my edits are on :attr:`undo_stack`; remote
  edits are applied but never pushed (docs/undo.md has the semantics).  Use
  :meth:`undo`/:meth:`redo` (or :meth:`create_undo_action`), not the stack's
  own slots: they skip entries that no longer do anything.
* A drag is ``move_components(..., final=False)`` per mouse move and one
  ``final=True`` at release: one undo entry, whose undo returns to where the
  drag started; the intermediate positions reach the others, throttled.
* ``with document.macro("Paste and align"):`` makes everything inside one
  undo entry and one Batch on the wire.  Inside a macro the edits are
  collected and applied together when the block ends: ``scene`` does not
  show them until then, and the event loop must not be spun inside.
* :meth:`load_scene` and :meth:`new_scene` replace a *local* document; in a
  session they raise :class:`SessionActive` (leave first): replacing the
  scene under everyone else's feet is not an edit anyone should make by
  opening a file.  To bring a file's content into a session, paste it.
* :meth:`close` ends the document's life while its receivers are still
  alive: it leaves the session (joining the sync thread), and empties and
  unhooks the undo stack, so destroying the document (or the window that
  owns it) emits nothing into half-destroyed widgets.  A document destroyed
  without ``close()`` (its parent deleted first) does the same quietly, with
  its signals blocked, as its destruction begins.

With a :class:`~optiverse.collab.recording.Recorder`, every session the
document shares is recorded exactly as the headless client records one
(docs/client.md, "Recordings"): the sync client writes ``start``, the
connection and the frames; the document writes every local edit, undo and
redo (with the op as applied and its seq, or the error), presence, and an
``obsolete`` line when undo/redo skips an entry that no longer does anything.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import attrs
from PyQt6.QtCore import QObject, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QUndoStack

from optiverse.collab.aio import new_client_id
from optiverse.collab.engine import (
    ClientEngine,
    Event,
    PeerLeft,
    RemoteApplied,
    Reset,
    Welcomed,
)
from optiverse.collab.messages import Origin, User
from optiverse.collab.qt import QtSyncClient
from optiverse.collab.recording import Recorder
from optiverse.commands import Batch, Create, Noop, Op, Set, apply, component_ids
from optiverse.commands.edits import (
    ReorderWhere,
    delete_op,
    move_op,
    reorder_op,
    rotate_op,
)
from optiverse.commands.qt import (
    AddComponentsCommand,
    BatchCommand,
    MoveComponentsCommand,
    OpCommand,
    PasteCommand,
    RemoveComponentsCommand,
    ReorderCommand,
    RotateComponentsCommand,
    SetPropertiesCommand,
)
from optiverse.errors import OptiverseError, UnknownComponent
from optiverse.scene import Scene, component_props, make_component, update_component
from optiverse.scene.components import MAX_COORD_MM, PropValue
from optiverse.scene.zorder import key_after

__all__ = ["PASTE_OFFSET_MM", "PRESENCE_RATE", "SceneDocument", "SessionActive"]

PASTE_OFFSET_MM = 10.0
PRESENCE_RATE = 30.0


class SessionActive(RuntimeError):
    """Raised when an operation needs a local document but it is shared (leave first)."""


@attrs.define
class _Macro:
    text: str
    work: Scene
    ops: list[Op] = attrs.field(factory=list)
    changed: set[str] = attrs.field(factory=set)


class SceneDocument(QObject):
    """The scene, its undo stack and its session; see the module docstring."""

    componentsChanged = pyqtSignal(object)  # set[str]: ids added, removed or changed
    sceneReset = pyqtSignal()  # the whole scene was replaced: redraw everything
    remoteEdit = pyqtSignal(object, object)  # (Op as applied here, User who made it)
    connectionStateChanged = pyqtSignal(str)  # offline/connecting/connected/reconnecting
    # The session id once joined (not again on reconnects), or None after leave().
    sessionChanged = pyqtSignal(object)
    peersChanged = pyqtSignal()  # peers changed
    # user, client id, cursor (x, y) mm or None, selection tuple or None
    presenceReceived = pyqtSignal(object, str, object, object)
    errorOccurred = pyqtSignal(str, str)  # code, message (refused edit, join refused, ...)
    modifiedChanged = pyqtSignal(bool)

    def __init__(
        self,
        user: User | None = None,
        scene: Scene | None = None,
        *,
        sync_options: dict[str, Any] | None = None,
        sync_factory: Callable[..., QtSyncClient] = QtSyncClient,
        recorder: Recorder | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.user = user or User("u" + secrets.token_hex(6), "Me")
        self._scene = scene if scene is not None else Scene()
        self.engine = ClientEngine(new_client_id(), self.user, self._scene)
        self.sync: QtSyncClient | None = None
        self.undo_stack = QUndoStack(self)
        # Extra QtSyncClient arguments (backoff delays, submit rate), and what
        # builds it: tests substitute a client on a simulated network.
        self._sync_options = dict(sync_options or {})
        self._sync_factory = sync_factory
        self.recorder = recorder
        self._closed = False
        self._macro: _Macro | None = None
        self._announced_session: str | None = None
        self._id_counter = 0
        self._remote_dirty = False
        self._modified = False
        self._presence_pending: tuple[tuple[float, float] | None, tuple[str, ...] | None] | None = (
            None
        )
        self._presence_last = -1e9
        self._presence_timer = QTimer(self)
        self._presence_timer.setSingleShot(True)
        self._presence_timer.timeout.connect(self._send_presence)
        self.undo_stack.cleanChanged.connect(self._update_modified)

    # --- reading ------------------------------------------------------------------

    @property
    def scene(self) -> Scene:
        """The live scene (mine plus everyone's).  Read it; change it with the methods below."""
        return self._scene

    @property
    def client_id(self) -> str:
        """This document's client id; new component ids start with it."""
        return self.engine.client_id

    @property
    def connection_state(self) -> str:
        """``"offline"`` (not shared), ``"connecting"``, ``"connected"`` or ``"reconnecting"``."""
        return self.sync.state if self.sync is not None else "offline"

    @property
    def in_session(self) -> bool:
        """True between :meth:`share` and :meth:`leave`, connected or not."""
        return self.sync is not None

    @property
    def session_id(self) -> str | None:
        return self.engine.session if self.sync is not None else None

    @property
    def peers(self) -> list[User]:
        """The other users online in the session (one entry per user)."""
        if self.sync is None:
            return []
        return [u for u in self.sync.users if u.id != self.user.id]

    @property
    def is_closed(self) -> bool:
        """True after :meth:`close`: the document edits nothing and shares nothing any more."""
        return self._closed

    @property
    def is_modified(self) -> bool:
        """True if the scene changed (by me or, shared, by others) since :meth:`mark_saved`."""
        return self._modified

    @property
    def synced(self) -> bool:
        """True when joined with none of my edits waiting for the server."""
        return self.sync is not None and self.engine.synced

    def mark_saved(self) -> None:
        """The scene was saved: it is no longer modified."""
        self._remote_dirty = False
        self.undo_stack.setClean()
        self._update_modified()

    # --- the one edit path ----------------------------------------------------------

    def submit(self, op: Op, origin: Origin) -> Op:
        """Apply ``op`` now and send it if shared; returns it as applied.

        This is the path every command takes (edit, undo, redo); it pushes
        nothing on the undo stack, so the UI should call the editing methods.
        """
        if self._macro is not None:
            raise RuntimeError("submit() inside a macro; the macro submits when it ends")
        if self._closed:
            raise RuntimeError("the document is closed")
        if self.sync is None:
            applied = apply(self._scene, op)
        else:
            applied = self._local(op, origin)
            self.sync.flush()
        ids = component_ids(applied)
        if ids:
            self.componentsChanged.emit(ids)
        return applied

    # --- editing ------------------------------------------------------------------

    def add_component(self, kind: str, props: dict[str, PropValue] | None = None) -> str:
        """Add one component; returns its new id.  PropertyError if ``props`` are invalid."""
        return self.add_components([(kind, props or {})])[0]

    def add_components(self, items: Sequence[tuple[str, dict[str, PropValue]]]) -> list[str]:
        """Add components in one undo step, each on top of the previous; returns their ids."""
        creates = self._creates(items, offset=0.0)
        if creates:
            self._push(_batch(creates), lambda op: AddComponentsCommand(self, creates))
        return [c.id for c in creates]

    def paste(self, items: Sequence[tuple[str, dict[str, PropValue]]]) -> list[str]:
        """Paste copies (new ids, offset by :data:`PASTE_OFFSET_MM`, on top); returns the ids."""
        # Created in their stacking order, so the copies stack like the originals.
        order = sorted(range(len(items)), key=lambda i: (str(items[i][1].get("z", "")), i))
        made = self._creates(
            [(items[i][0], {k: v for k, v in items[i][1].items() if k != "z"}) for i in order],
            offset=PASTE_OFFSET_MM,
        )
        by_index = dict(zip(order, made, strict=True))
        creates = [by_index[i] for i in range(len(items))]
        if creates:
            self._push(_batch(creates), lambda op: PasteCommand(self, creates))
        return [c.id for c in creates]

    def remove_components(self, ids: Iterable[str]) -> None:
        """Delete the components of ``ids`` that exist, in one undo step."""
        op = delete_op(self._working_scene, ids)
        count = len(component_ids(op))
        self._push(op, lambda op: RemoveComponentsCommand(self, op, count))

    def move_components(
        self, ids: Iterable[str], dx_mm: float, dy_mm: float, *, final: bool = True
    ) -> None:
        """Move by (dx, dy) mm.  Drag steps (``final=False``) merge into one undo entry
        until a ``final=True`` call ends the drag.  Locked components stay put."""
        selection = tuple(ids)
        op = move_op(self._working_scene, selection, dx_mm, dy_mm)
        self._drag(op, selection, final, MoveComponentsCommand)

    def rotate_components(self, ids: Iterable[str], ddeg: float, *, final: bool = True) -> None:
        """Rotate by ``ddeg`` (counter-clockwise; several turn about their centroid).
        Drag steps merge like :meth:`move_components`."""
        selection = tuple(ids)
        op = rotate_op(self._working_scene, selection, ddeg)
        self._drag(op, selection, final, RotateComponentsCommand)

    def set_properties(self, component_id: str, props: dict[str, PropValue]) -> None:
        """Change properties of one component.

        Raises PropertyError (or UnknownComponent) and changes nothing if a
        value is invalid; the message is meant for the user.  Values equal to
        the current ones push nothing.
        """
        self.set_properties_of([component_id], props)

    def set_properties_of(self, ids: Sequence[str], props: dict[str, PropValue]) -> None:
        """Give every component of ``ids`` the same ``props``: one undo entry, one op.

        Every component is checked first; if any refuses a value (PropertyError
        naming it, or UnknownComponent), nothing changes.  Components that already
        have the values are left out; if none changes, nothing is pushed.
        """
        scene = self._working_scene
        sets: list[Set] = []
        for cid in dict.fromkeys(ids):
            comp = scene.get(cid)
            if comp is None:
                raise UnknownComponent(cid)
            new = update_component(comp, props, cid)
            changed = {k: getattr(new, k) for k in props if getattr(new, k) != getattr(comp, k)}
            if changed:
                sets.append(Set(cid, changed))
        if not sets:
            return
        if len(ids) == 1:
            comp = scene.components[ids[0]]
            text = f"Edit {comp.name or comp.kind}"
        else:
            text = f"Edit {len(sets)} components"
        op = sets[0] if len(sets) == 1 else Batch.of(tuple(sets))
        self._push(op, lambda op: SetPropertiesCommand(self, op, text))

    def reorder(self, ids: Iterable[str], where: ReorderWhere) -> None:
        """Bring to ``"front"``/``"back"`` or one step ``"forward"``/``"backward"``."""
        op = reorder_op(self._working_scene, list(ids), where)
        self._push(op, lambda op: ReorderCommand(self, op, where))

    @contextmanager
    def macro(self, text: str) -> Iterator[None]:
        """Everything edited inside is one undo entry and one Batch on the wire.

        If the block raises, none of its edits happen.  Nested macros join the
        outermost one.
        """
        if self._macro is not None:
            yield
            return
        self._close_drags()
        self._macro = _Macro(text, self._scene.copy())
        try:
            yield
        finally:
            macro, self._macro = self._macro, None
        batch = Batch.of(macro.ops)
        if batch.ops:
            self._push(batch, lambda op: BatchCommand(self, op, text))

    def undo(self) -> bool:
        """Undo my last edit that still does something; False if there was none."""
        return self._step("undo", self.undo_stack.undo, self.undo_stack.canUndo)

    def redo(self) -> bool:
        """Redo my last undone edit that still does something; False if there was none."""
        return self._step("redo", self.undo_stack.redo, self.undo_stack.canRedo)

    def create_undo_action(self, parent: QObject | None = None) -> QAction:
        """An Edit > Undo action (Ctrl+Z) bound to :meth:`undo`, with the stack's text."""
        action = self.undo_stack.createUndoAction(parent or self, "Undo")
        assert action is not None
        # Qt's action calls QUndoStack.undo(), which stops at an obsolete entry.
        action.triggered.disconnect()
        action.triggered.connect(self._undo_slot)
        action.setShortcut("Ctrl+Z")
        return action

    def create_redo_action(self, parent: QObject | None = None) -> QAction:
        """An Edit > Redo action (Ctrl+Shift+Z) bound to :meth:`redo`."""
        action = self.undo_stack.createRedoAction(parent or self, "Redo")
        assert action is not None
        action.triggered.disconnect()
        action.triggered.connect(self._redo_slot)
        action.setShortcut("Ctrl+Shift+Z")
        return action

    def new_scene(self) -> None:
        """Start an empty local scene (SessionActive while shared)."""
        self.load_scene(Scene())

    def load_scene(self, scene: Scene) -> None:
        """Replace the local scene with ``scene`` (e.g. an opened file) and clear undo.

        Raises SessionActive while shared: leave the session first.
        """
        if self.sync is not None:
            raise SessionActive("leave the session before opening or creating a scene")
        self._close_drags()
        self._scene.components = dict(scene.components)
        self.engine = ClientEngine(new_client_id(), self.user, self._scene)
        self._id_counter = 0
        self.undo_stack.clear()
        self._remote_dirty = False
        self.undo_stack.setClean()
        self._update_modified()
        self.sceneReset.emit()

    # --- collaboration --------------------------------------------------------------

    def share(
        self,
        url: str,
        *,
        create: bool,
        session: str | None = None,
        password: str | None = None,
        name: str | None = None,
    ) -> None:
        """Start a session (``create=True``: upload this scene) or join ``session``.

        Joining replaces the scene with the session's and clears my undo
        history; creating keeps both.  Returns at once: watch
        :attr:`connectionStateChanged`, :attr:`sessionChanged` and
        :attr:`errorOccurred` (e.g. ``bad_password``).
        """
        if self._closed:
            raise RuntimeError("the document is closed")
        if self.sync is not None:
            raise SessionActive("already in a session; leave() first")
        if create == (session is not None):
            raise ValueError("share() needs exactly one of create=True and session=...")
        if name:
            self.user = attrs.evolve(self.user, name=name)
        self._close_drags()
        components = dict(self._scene.components) if create else {}
        # The engine starts from an empty confirmed scene; what I have is
        # uploaded as my first edit, so the server gets it before anything else.
        self._scene.components = {}
        self.engine = ClientEngine(new_client_id(), self.user, self._scene)
        self._id_counter = 0
        # Built before the upload below, so a recording starts from the empty scene.
        sync = self._sync_factory(
            self.engine,
            url,
            session=session,
            create=create,
            password=password,
            recorder=self.recorder,
            parent=self,
            **self._sync_options,
        )
        if components:
            self._local(
                Batch(
                    tuple(
                        Create(cid, comp.kind, component_props(comp))
                        for cid, comp in sorted(components.items(), key=lambda kv: (kv[1].z, kv[0]))
                    )
                ),
                "edit",
            )
        if not create:
            self.undo_stack.clear()
            self.sceneReset.emit()
        self.attach_sync(sync)
        sync.start()

    def attach_sync(self, sync: QtSyncClient) -> None:
        """Use ``sync`` (built on :attr:`engine`) as this document's transport; for tests and tools.

        :meth:`share` calls this; a test may pass a QtSyncClient subclass
        that talks to a simulated network instead.
        """
        if sync.engine is not self.engine:
            raise ValueError("the sync client must drive this document's engine")
        self.sync = sync
        sync.stateChanged.connect(self.connectionStateChanged)
        sync.usersChanged.connect(self.peersChanged)
        sync.presenceReceived.connect(self.presenceReceived)
        sync.errorOccurred.connect(self.errorOccurred)
        sync.eventsReceived.connect(self._on_events)
        if sync.state != "offline":
            self.connectionStateChanged.emit(sync.state)

    def leave(self) -> None:
        """Leave the session; the scene stays as a local document, with my undo history."""
        sync, self.sync = self.sync, None
        if sync is None:
            return
        for signal in (
            sync.stateChanged,
            sync.usersChanged,
            sync.presenceReceived,
            sync.errorOccurred,
            sync.eventsReceived,
        ):
            signal.disconnect()
        sync.stop()
        sync.deleteLater()
        self._presence_timer.stop()
        self._announced_session = None
        self.connectionStateChanged.emit("offline")
        self.peersChanged.emit()
        self.sessionChanged.emit(None)

    def close(self) -> None:
        """End the document: leave the session, stop its thread, empty and unhook the undo stack.

        Call it while everything connected to the document is still alive
        (``MainWindow.closeEvent`` does); afterwards nothing the document owns
        emits anything, so it and its parent can be destroyed in any order.
        The scene stays readable; editing or sharing raises RuntimeError.
        Calling it again does nothing.
        """
        if self._closed:
            return
        self._macro = None
        self.leave()
        self._closed = True
        self._presence_timer.stop()
        self._presence_pending = None
        self.undo_stack.cleanChanged.disconnect(self._update_modified)
        # Emptied now, while its views and actions are alive; an empty stack
        # emits nothing when it is destroyed.  Its commands hold this document.
        self.undo_stack.clear()

    def __dtor__(self) -> None:
        # sip calls this as the C++ object starts to be destroyed: its parent
        # (the window) is being deleted, or deleteLater ran, without close().
        # The receivers may be half-destroyed already, so close in silence.
        if not self._closed:
            self.blockSignals(True)
            self.undo_stack.blockSignals(True)
            self.close()

    def set_presence(
        self, cursor: tuple[float, float] | None, selection: Sequence[str] | None = None
    ) -> None:
        """Tell the others my cursor (scene mm) and selection; sent at most 30 times a second."""
        self._presence_pending = (cursor, tuple(selection) if selection is not None else None)
        if self._presence_timer.isActive():
            return
        wait = self._presence_last + 1.0 / PRESENCE_RATE - time.monotonic()
        if wait > 0:
            self._presence_timer.start(max(1, round(wait * 1000)))
        else:
            self._send_presence()

    # --- internals ------------------------------------------------------------------

    @property
    def _working_scene(self) -> Scene:
        """What the next edit sees: inside a macro, the scene with the macro's edits so far."""
        return self._macro.work if self._macro is not None else self._scene

    def _new_id(self, taken: Scene) -> str:
        while True:
            self._id_counter += 1
            cid = f"{self.engine.client_id}-{self._id_counter}"
            if cid not in taken and cid not in self._scene:
                return cid

    def _creates(
        self, items: Sequence[tuple[str, dict[str, PropValue]]], offset: float
    ) -> list[Create]:
        scene = self._working_scene
        top = scene.top_z()
        creates: list[Create] = []
        for kind, given in items:
            props = dict(given)
            if offset:
                for axis in ("x_mm", "y_mm"):
                    value = props.get(axis, 0.0)
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        props[axis] = max(-MAX_COORD_MM, min(MAX_COORD_MM, value + offset))
            if "z" not in props:
                top = key_after(top)
                props["z"] = top
            cid = self._new_id(scene)
            make_component(kind, props, cid)  # PropertyError now, before anything is pushed
            creates.append(Create(cid, kind, props))
        return creates

    def _push(self, op: Op, make: Callable[[Op], OpCommand]) -> None:
        if isinstance(op, Noop):
            return
        if self._macro is not None:
            self._macro.ops.append(apply(self._macro.work, op))
            return
        self._close_drags()
        command = make(op)
        self.undo_stack.push(command)
        if command.error is not None:
            raise command.error

    def _drag(
        self,
        op: Op,
        selection: tuple[str, ...],
        final: bool,
        kind: type[MoveComponentsCommand] | type[RotateComponentsCommand],
    ) -> None:
        if self._macro is not None:
            if not isinstance(op, Noop):
                self._macro.ops.append(apply(self._macro.work, op))
            return
        top = self._top_command()
        continues = isinstance(top, kind) and top.is_open and top.selection == selection
        if not continues:
            self._close_drags()
        if isinstance(op, Noop):
            if final and continues:
                assert isinstance(top, kind)
                top.close()
            return
        command = kind(self, op, selection, final=final)
        self.undo_stack.push(command)
        if command.error is not None:
            raise command.error

    def _top_command(self) -> object:
        index = self.undo_stack.index()
        return self.undo_stack.command(index - 1) if index > 0 else None

    def _close_drags(self) -> None:
        top = self._top_command()
        if isinstance(top, MoveComponentsCommand | RotateComponentsCommand):
            top.close()

    def _step(self, origin: Origin, step: Callable[[], None], possible: Callable[[], bool]) -> bool:
        if self._macro is not None:
            raise RuntimeError("undo/redo inside a macro")
        self._close_drags()
        while possible():
            count = self.undo_stack.count()
            index = self.undo_stack.index()
            entry = self.undo_stack.command(index - 1 if origin == "undo" else index)
            text = entry.text() if entry is not None else ""
            step()
            if self.undo_stack.count() == count:
                return True
            # The entry was obsolete and QUndoStack dropped it: go on to the next.
            if self.recorder is not None and self.sync is not None:
                self.recorder.local({"type": "obsolete", "origin": origin, "text": text})
        return False

    def _local(self, op: Op, origin: Origin) -> Op:
        """``engine.local``, recorded like ``AsyncClient.edit`` records it."""
        recorder = self.recorder
        if recorder is None:
            return self.engine.local(op, origin)
        before = self._last_pending_seq()
        try:
            applied = self.engine.local(op, origin)
        except OptiverseError as exc:
            recorder.edit(op, origin, error=str(exc))
            raise
        seq = self._last_pending_seq()
        recorder.edit(op, origin, applied=applied, seq=seq if seq != before else None)
        return applied

    def _last_pending_seq(self) -> int | None:
        pending = self.engine.pending
        return pending[-1].seq if pending else None

    def _undo_slot(self) -> None:
        self.undo()

    def _redo_slot(self) -> None:
        self.redo()

    def _on_events(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, RemoteApplied):
                ids = component_ids(event.op)
                self._remote_dirty = True
                self._update_modified()
                if ids:
                    self.componentsChanged.emit(ids)
                self.remoteEdit.emit(event.op, event.user)
            elif isinstance(event, Reset):
                self.sceneReset.emit()
            elif isinstance(event, Welcomed) and event.session != self._announced_session:
                self._announced_session = event.session
                self.sessionChanged.emit(event.session)
            elif isinstance(event, PeerLeft):
                self.presenceReceived.emit(event.user, event.client, None, None)

    def _send_presence(self) -> None:
        pending, self._presence_pending = self._presence_pending, None
        if pending is None or self.sync is None:
            return
        self._presence_last = time.monotonic()
        if self.recorder is not None:
            self.recorder.presence(*pending)
        self.engine.presence(*pending)
        self.sync.flush()

    def _update_modified(self, *_args: object) -> None:
        modified = self._remote_dirty or not self.undo_stack.isClean()
        if modified != self._modified:
            self._modified = modified
            self.modifiedChanged.emit(modified)


def _batch(creates: Sequence[Create]) -> Op:
    return creates[0] if len(creates) == 1 else Batch(tuple(creates))
