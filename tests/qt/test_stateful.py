"""Hypothesis stateful tests: documents editing, undoing and reconnecting in one session.

Rules: local edit (add, move, drag, rotate, set, delete, reorder, paste,
macro), undo, redo, deliver one message, disconnect, reconnect, server
restart, and "undo n then redo n".  After every drain, every replica equals
the server's snapshot.  Undo n then redo n, with nobody editing in between,
must leave the scene exactly as it was.

The fast machine runs SceneDocuments (their real undo commands and
engines) on :mod:`tests.qt.simnet`, which decides every interleaving of
messages.  The small machine does the same on the real server, with real
threads, sockets and a real kill-and-restart.
"""

from __future__ import annotations

import itertools
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)
from PyQt6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from optiverse.collab.messages import User
from optiverse.errors import OptiverseError
from optiverse.scene.components import KINDS
from optiverse.ui.document import SceneDocument
from tests.qt.conftest import fast_delays, server_snapshot, wait_converged
from tests.qt.simnet import SESSION, SimServer
from tests.server.conftest import ServerFactory, ServerProcess

CLIENTS = 3
clients = st.integers(0, CLIENTS - 1)
KIND_NAMES = sorted(KINDS)
EDITS = ["add", "move", "drag", "rotate", "set", "delete", "reorder", "paste", "macro"]
SMALL = st.floats(-20, 20, allow_nan=False).map(lambda v: round(v, 1))


def edit(doc: SceneDocument, data: st.DataObject) -> None:
    """One user gesture on ``doc``, drawn by hypothesis."""
    ids = sorted(doc.scene.components)
    action = data.draw(st.sampled_from(EDITS if ids else ["add", "paste"]), label="edit")
    some = st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True) if ids else None
    if action == "add":
        doc.add_component(data.draw(st.sampled_from(KIND_NAMES)), {"x_mm": data.draw(SMALL)})
    elif action == "paste":
        kinds = data.draw(st.lists(st.sampled_from(KIND_NAMES), min_size=1, max_size=3))
        doc.paste([(k, {"y_mm": float(i)}) for i, k in enumerate(kinds)])
    else:
        assert some is not None
        selection = data.draw(some, label="selection")
        if action == "move":
            doc.move_components(selection, data.draw(SMALL), data.draw(SMALL))
        elif action == "drag":
            before = doc.undo_stack.count()
            for _ in range(data.draw(st.integers(1, 4))):
                doc.move_components(selection, data.draw(SMALL), data.draw(SMALL), final=False)
            doc.move_components(selection, 0.0, 0.0, final=True)
            assert doc.undo_stack.count() <= before + 1, "a drag is at most one undo entry"
        elif action == "rotate":
            doc.rotate_components(selection, data.draw(st.sampled_from([15.0, -90.0, 45.0])))
        elif action == "delete":
            doc.remove_components(selection)
        elif action == "reorder":
            where = data.draw(st.sampled_from(["front", "back", "forward", "backward"]))
            doc.reorder(selection, where)
        elif action == "set":
            target = selection[0]
            props: dict[str, Any] = data.draw(
                st.sampled_from(
                    [
                        {"name": data.draw(st.sampled_from(["a", "b", ""]))},
                        {"locked": data.draw(st.booleans())},
                        {"x_mm": data.draw(SMALL), "angle_deg": data.draw(SMALL)},
                    ]
                )
            )
            doc.set_properties(target, props)
        elif action == "macro":
            with doc.macro("macro"):
                new = doc.add_component("lens")
                doc.move_components([new, *selection], 1.0, 2.0)
                doc.remove_components(selection[-1:])


def undo_then_redo_is_identity(doc: SceneDocument, n: int) -> None:
    before = doc.scene.copy()
    undone = 0
    for _ in range(n):
        if not doc.undo():
            break
        undone += 1
    for _ in range(undone):
        assert doc.redo(), "every undone step can be redone while nobody else edits"
    assert doc.scene == before, f"undo {undone} then redo {undone} changed the scene"


class SimulatedSession(RuleBasedStateMachine):
    """CLIENTS documents on the simulated server."""

    def __init__(self) -> None:
        super().__init__()
        self.net = SimServer()
        self.docs = [
            SceneDocument(User(f"u{i}", f"user{i}"), sync_factory=self.net.sync_factory)
            for i in range(CLIENTS)
        ]

    @initialize()
    def join(self) -> None:
        first, *others = self.docs
        first.share("sim://", create=True)
        self.net.drain()
        assert first.session_id == SESSION
        for doc in others:
            doc.share("sim://", create=False, session=SESSION)
        self.net.drain()

    def _client(self, i: int) -> str:
        return self.docs[i].client_id

    @rule(i=clients, data=st.data())
    def local_edit(self, i: int, data: st.DataObject) -> None:
        edit(self.docs[i], data)

    @rule(i=clients)
    def undo(self, i: int) -> None:
        self.docs[i].undo()

    @rule(i=clients)
    def redo(self, i: int) -> None:
        self.docs[i].redo()

    @rule(i=clients, n=st.integers(1, 6))
    def undo_n_redo_n(self, i: int, n: int) -> None:
        undo_then_redo_is_identity(self.docs[i], n)

    @rule(i=clients, up=st.booleans(), count=st.integers(1, 4))
    def deliver(self, i: int, up: bool, count: int) -> None:
        client = self._client(i)
        for _ in range(count):
            (self.net.deliver_up if up else self.net.deliver_down)(client)

    @rule(i=clients)
    def disconnect(self, i: int) -> None:
        self.net.disconnect(self._client(i))

    @rule(i=clients)
    def reconnect(self, i: int) -> None:
        self.net.connect(self._client(i))

    @precondition(lambda self: self.net.restarts < 3)
    @rule()
    def restart_server(self) -> None:
        self.net.restart()

    @rule()
    def drain(self) -> None:
        self.net.drain()
        for doc in self.docs:
            assert doc.connection_state == "connected"
            assert doc.synced, doc.engine.debug_state()
            assert doc.engine.version == self.net.sequencer.version
            assert doc.scene == self.net.scene
        assert self.net.refused == []

    def teardown(self) -> None:
        try:
            self.drain()
        finally:
            for doc in self.docs:
                doc.close()


def test_simulated_session(qapp: QApplication) -> None:
    run_state_machine_as_test(
        SimulatedSession,
        settings=settings(
            max_examples=60,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


# --- the same on the real server --------------------------------------------------------


class RealSession(RuleBasedStateMachine):
    """Fewer, slower steps: real sockets, threads and a kill -9 of the server."""

    qtbot: QtBot
    server: ServerProcess
    names = itertools.count()

    def __init__(self) -> None:
        super().__init__()
        self.docs = [
            SceneDocument(
                User(f"r{next(self.names)}", f"real{i}"), sync_options={"delays": fast_delays}
            )
            for i in range(CLIENTS)
        ]
        self.restarted = False

    @initialize()
    def join(self) -> None:
        first, *others = self.docs
        first.share(self.server.url, create=True)
        self.qtbot.waitUntil(lambda: first.session_id is not None, timeout=10_000)
        for doc in others:
            doc.share(self.server.url, create=False, session=first.session_id)
        self.qtbot.waitUntil(
            lambda: all(d.connection_state == "connected" for d in self.docs), timeout=10_000
        )

    @rule(i=clients, data=st.data())
    def local_edit(self, i: int, data: st.DataObject) -> None:
        try:
            edit(self.docs[i], data)
        except OptiverseError:
            # Drawn against my scene, an id may have vanished meanwhile only if
            # events were processed mid-rule; nothing was pushed then.
            raise

    @rule(i=clients)
    def undo(self, i: int) -> None:
        self.docs[i].undo()

    @rule(i=clients)
    def redo(self, i: int) -> None:
        self.docs[i].redo()

    @rule(i=clients, n=st.integers(1, 4))
    def undo_n_redo_n(self, i: int, n: int) -> None:
        undo_then_redo_is_identity(self.docs[i], n)

    @rule(ms=st.integers(0, 30))
    def deliver(self, ms: int) -> None:
        self.qtbot.wait(ms)

    @rule(i=clients)
    def disconnect(self, i: int) -> None:
        sync = self.docs[i].sync
        assert sync is not None
        sync.drop_connection()  # it reconnects by itself, after a backoff delay

    @precondition(lambda self: not self.restarted)
    @rule()
    def restart_server(self) -> None:
        self.restarted = True
        self.server.restart()

    @rule()
    def drain(self) -> None:
        wait_converged(self.qtbot, self.docs, timeout=20_000)
        session = self.docs[0].session_id
        assert session is not None
        version, scene = server_snapshot(self.server.url, session)
        assert version == self.docs[0].engine.version
        assert scene == self.docs[0].scene

    def teardown(self) -> None:
        try:
            self.drain()
        finally:
            for doc in self.docs:
                doc.close()


@pytest.mark.slow
def test_real_server_session(qtbot: QtBot, server_proc: ServerFactory) -> None:
    RealSession.qtbot = qtbot
    RealSession.server = server_proc()
    run_state_machine_as_test(
        RealSession,
        settings=settings(
            max_examples=8,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
