"""Windows and documents are created and destroyed over and over, in every way Qt or Python may.

Regression test for a teardown crash: destroying a window cleared its
document's undo stack, whose signals reached Python slots of half-destroyed
widgets.  Now ``MainWindow.closeEvent`` calls ``SceneDocument.close()``
(leave, stop the sync thread, empty and unhook the undo stack), and a
document or window destroyed without a close does the same quietly as its
destruction begins.  Nothing here blocks signals or deletes windows by hand
to make teardown safe; every way must leave no thread behind.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable

from PyQt6.QtCore import QCoreApplication, QEvent, QObject
from PyQt6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from optiverse.collab.messages import User
from optiverse.ui.document import SceneDocument
from optiverse.ui.file_controller import SaveChoice
from optiverse.ui.main_window import MainWindow
from optiverse.ui.share_dialog import CreateRequest, JoinRequest
from tests.ui.conftest import ServerProcess

WAIT_MS = 10_000


def _process_deletes() -> None:
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    QApplication.processEvents()


def _edited_window(qtbot: QtBot, name: str) -> MainWindow:
    window = MainWindow(name=name, lan=False)
    window.files.ask_save_changes = lambda: SaveChoice.DISCARD
    window.show()
    lens = window.insert_component("lens")
    window.insert_component("mirror")
    window.document.move_components([lens], 5.0, 0.0)
    assert window.document.undo() and window.document.redo() and window.document.undo()
    return window


def _in_session(qtbot: QtBot, window: MainWindow, url: str, session: str) -> None:
    assert window.join(JoinRequest(url, session, window.document.user.name, None))
    qtbot.waitUntil(lambda: window.document.connection_state == "connected", timeout=WAIT_MS)
    window.insert_component("block")
    window.document.undo()
    window.document.redo()
    qtbot.waitUntil(lambda: window.document.synced, timeout=WAIT_MS)


def _watch(window: MainWindow) -> list[str]:
    """What the document and its undo stack emit from now on (nothing, once it is going)."""
    heard: list[str] = []
    doc, stack = window.document, window.document.undo_stack
    for name, signal in (
        ("indexChanged", stack.indexChanged),
        ("cleanChanged", stack.cleanChanged),
        ("canUndoChanged", stack.canUndoChanged),
        ("componentsChanged", doc.componentsChanged),
        ("modifiedChanged", doc.modifiedChanged),
        ("sessionChanged", doc.sessionChanged),
        ("connectionStateChanged", doc.connectionStateChanged),
    ):
        signal.connect(lambda *_args, name=name: heard.append(name))
    return heard


def _close_then_delete(window: MainWindow) -> None:
    assert window.close()
    heard = _watch(window)
    window.deleteLater()
    _process_deletes()
    assert heard == []


def _delete_without_close(window: MainWindow) -> None:
    heard = _watch(window)
    window.deleteLater()
    _process_deletes()
    assert heard == []


def _close_then_let_go(window: MainWindow) -> None:
    # Destroyed whenever Python's collector gets to it (maybe never: lambdas
    # connected to its document's signals keep it alive from C++).
    assert window.close()
    del window
    gc.collect()
    _process_deletes()


ENDINGS: list[Callable[[MainWindow], None]] = [
    _close_then_delete,
    _delete_without_close,
    _close_then_let_go,
]


def test_windows_come_and_go_in_and_out_of_sessions(
    qtbot: QtBot, shared_server: ServerProcess
) -> None:
    host = SceneDocument(User("u-host", "Host"))
    host.share(shared_server.url, create=True)
    qtbot.waitUntil(lambda: host.connection_state == "connected", timeout=WAIT_MS)
    session = host.session_id
    assert session is not None
    baseline = threading.active_count()
    try:
        for round_ in range(2):
            for ending in ENDINGS:
                window = _edited_window(qtbot, f"local-{round_}")
                ending(window)
                assert threading.active_count() == baseline, ending.__name__

                window = _edited_window(qtbot, f"shared-{round_}")
                _in_session(qtbot, window, shared_server.url, session)
                assert threading.active_count() == baseline + 1  # its sync thread
                ending(window)
                assert threading.active_count() == baseline, f"{ending.__name__} in a session"
        # The others saw every one of them join and leave.
        qtbot.waitUntil(lambda: host.peers == [], timeout=WAIT_MS)
    finally:
        host.close()
    assert threading.active_count() == baseline - 1


def test_a_hosting_window_destroyed_without_a_close_stops_its_server(qtbot: QtBot) -> None:
    baseline = threading.active_count()
    window = _edited_window(qtbot, "Ann")
    window.sharing.create(CreateRequest("Ann", None, None))
    qtbot.waitUntil(lambda: window.document.connection_state == "connected", timeout=WAIT_MS)
    assert threading.active_count() == baseline + 2  # the server's thread and the sync thread
    _delete_without_close(window)
    assert threading.active_count() == baseline


def test_documents_destroyed_with_their_parent_or_alone(
    qtbot: QtBot, shared_server: ServerProcess
) -> None:
    baseline = threading.active_count()
    for round_ in range(3):
        parent = QObject()
        docs = [SceneDocument(User(f"u{i}", f"user{i}"), parent=parent) for i in range(2)]
        alone = SceneDocument(User("u-alone", "alone"))
        docs[0].share(shared_server.url, create=True)
        qtbot.waitUntil(lambda d=docs[0]: d.connection_state == "connected", timeout=WAIT_MS)
        session = docs[0].session_id
        assert session is not None
        for doc in (docs[1], alone):
            doc.share(shared_server.url, create=False, session=session)
        for doc in (*docs, alone):
            seen: list[object] = []
            # A receiver that would crash on a half-destroyed object if reached.
            doc.modifiedChanged.connect(lambda m, seen=seen: seen.append(m))
            cid = doc.add_component("lens", {"x_mm": float(round_)})
            doc.set_properties(cid, {"name": "x"})
            doc.undo()
        every = (*docs, alone)
        qtbot.waitUntil(lambda every=every: all(d.synced for d in every), timeout=WAIT_MS)
        assert threading.active_count() == baseline + 3
        if round_ == 0:
            alone.close()  # explicitly, then destroyed
        alone.deleteLater()
        parent.deleteLater()  # its documents are destroyed without a close
        _process_deletes()
        assert threading.active_count() == baseline
