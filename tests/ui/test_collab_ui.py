"""Two main windows in one process, in one session on a real server subprocess."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PyQt6.QtCore import QEvent, QPointF, QTimer
from PyQt6.QtWidgets import QApplication, QDialog
from pytestqt.qtbot import QtBot

from optiverse.ui.app import build_parser, create_window
from optiverse.ui.main_window import MainWindow
from optiverse.ui.share_dialog import CreateSessionDialog, JoinSessionDialog
from optiverse.ui.status import STATE_COLORS
from tests.ui.conftest import ServerProcess, WindowFactory, drag, mouse

WAIT_MS = 10_000


def answer(dialog_type: type[QDialog], fill: Callable[[QDialog], None]) -> None:
    """Fill in and accept the next modal ``dialog_type`` (opened by an action, right after)."""

    def handle() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, dialog_type):
            QTimer.singleShot(10, handle)
            return
        fill(dialog)
        dialog.accept()

    QTimer.singleShot(0, handle)


def create_session(window: MainWindow, server: str, password: str = "") -> None:
    def fill(dialog: QDialog) -> None:
        assert isinstance(dialog, CreateSessionDialog)
        dialog.server.setText(server)
        dialog.password.setText(password)

    answer(CreateSessionDialog, fill)
    window.act_create_session.trigger()


def join_session(window: MainWindow, invite: str, password: str = "") -> None:
    def fill(dialog: QDialog) -> None:
        assert isinstance(dialog, JoinSessionDialog)
        dialog.invite.setText(invite)
        dialog.password.setText(password)

    answer(JoinSessionDialog, fill)
    window.act_join_session.trigger()


def connected(qtbot: QtBot, *windows: MainWindow) -> None:
    qtbot.waitUntil(
        lambda: all(w.document.connection_state == "connected" for w in windows), timeout=WAIT_MS
    )


def same_scene(qtbot: QtBot, a: MainWindow, b: MainWindow) -> None:
    qtbot.waitUntil(
        lambda: a.document.synced and b.document.synced and a.document.scene == b.document.scene,
        timeout=WAIT_MS,
    )
    assert set(a.bench.items_by_id) == set(b.bench.items_by_id) == set(a.document.scene)


def at(window: MainWindow, cid: str) -> QPointF:
    comp = window.document.scene.components[cid]
    return window.scene_point(comp.x_mm, comp.y_mm)


@pytest.fixture
def pair(
    make_window: WindowFactory, shared_server: ServerProcess, qtbot: QtBot
) -> tuple[MainWindow, MainWindow]:
    """Ann creates a session through the Share menu; Bob joins it with her invite."""
    ann = make_window("Ann")
    bob = make_window("Bob")
    create_session(ann, shared_server.url)
    connected(qtbot, ann)
    invite = ann.sharing.invite()
    assert invite is not None and invite.startswith(f"optiverse://127.0.0.1:{shared_server.port}/")
    assert ann.invite_dialog is not None and ann.invite_dialog.invite.text() == invite
    join_session(bob, invite)
    connected(qtbot, bob)
    return ann, bob


def test_edits_in_either_window_show_in_the_other(
    pair: tuple[MainWindow, MainWindow], qtbot: QtBot
) -> None:
    ann, bob = pair
    ann.act_insert["source"].trigger()
    source = ann.selected_ids()[0]
    qtbot.waitUntil(lambda: source in bob.bench.items_by_id, timeout=WAIT_MS)

    bob.act_insert["lens"].trigger()
    lens = bob.selected_ids()[0]
    qtbot.waitUntil(lambda: lens in ann.bench.items_by_id, timeout=WAIT_MS)
    same_scene(qtbot, ann, bob)

    # A drag in either window moves the component in the other.
    drag(ann, at(ann, source), at(ann, source) + QPointF(-120, 0))
    qtbot.waitUntil(
        lambda: bob.document.scene.components[source].x_mm == pytest.approx(-60.0, abs=1.0),
        timeout=WAIT_MS,
    )
    drag(bob, at(bob, lens), at(bob, lens) + QPointF(60, 0))
    same_scene(qtbot, ann, bob)
    assert ann.document.scene.components[lens].x_mm == pytest.approx(40.0, abs=1.0)
    assert ann.bench.items_by_id[lens].pos().x() == pytest.approx(40.0, abs=1.0)

    # A property edit in Bob's panel reaches Ann (and her panel, which shows it).
    ann.bench.select_ids([lens])
    bob.bench.select_ids([lens])
    editor = bob.properties.editors["efl_mm"]
    editor.setText("75")  # type: ignore[union-attr]
    editor.setModified(True)  # type: ignore[union-attr]
    editor.editingFinished.emit()  # type: ignore[union-attr]
    qtbot.waitUntil(
        lambda: ann.properties.editors["efl_mm"].text() == "75",  # type: ignore[union-attr]
        timeout=WAIT_MS,
    )

    # Delete in Ann's window; gone in Bob's.
    ann.act_delete.trigger()
    qtbot.waitUntil(lambda: lens not in bob.bench.items_by_id, timeout=WAIT_MS)
    assert bob.selected_ids() == []
    same_scene(qtbot, ann, bob)

    # Undo is mine only: Bob's undo takes back his add, which is already deleted,
    # so it is skipped; Ann's undo brings the lens back for both.
    ann.act_undo.trigger()
    qtbot.waitUntil(lambda: lens in bob.bench.items_by_id, timeout=WAIT_MS)
    same_scene(qtbot, ann, bob)
    # Rays are retraced from remote edits too.
    qtbot.waitUntil(lambda: bob.bench.rays.segment_count > 0, timeout=WAIT_MS)


def test_a_remote_move_does_not_fight_my_drag(
    pair: tuple[MainWindow, MainWindow], qtbot: QtBot
) -> None:
    ann, bob = pair
    cid = ann.insert_component("mirror", {"x_mm": 0.0, "y_mm": 0.0})
    same_scene(qtbot, ann, bob)
    viewport = ann.view.viewport()
    assert viewport is not None
    start = at(ann, cid)
    mouse(viewport, QEvent.Type.MouseButtonPress, start)
    for dx in range(10, 61, 10):
        mouse(viewport, QEvent.Type.MouseMove, start + QPointF(dx, 0))
        QApplication.processEvents()
    # Bob moves it far away while Ann is still dragging it.
    bob.document.move_components([cid], 0.0, 500.0)
    qtbot.waitUntil(lambda: ann.document.scene.components[cid].y_mm == 500.0, timeout=WAIT_MS)
    for dx in range(70, 101, 10):
        mouse(viewport, QEvent.Type.MouseMove, start + QPointF(dx, 0))
        QApplication.processEvents()
    mouse(viewport, QEvent.Type.MouseButtonRelease, start + QPointF(100, 0))
    # The component ends under Ann's cursor, for both of them.
    same_scene(qtbot, ann, bob)
    comp = bob.document.scene.components[cid]
    assert (comp.x_mm, comp.y_mm) == pytest.approx((50.0, 0.0), abs=1.0)


def test_presence_people_and_notices(pair: tuple[MainWindow, MainWindow], qtbot: QtBot) -> None:
    ann, bob = pair
    qtbot.waitUntil(lambda: "Bob" in ann.people.names(), timeout=WAIT_MS)
    assert ann.people.names() == ["Ann (you)", "Bob"]
    assert any("Bob joined" in n for n in ann.people.notice_texts())
    assert bob.people.names() == ["Bob (you)", "Ann"]
    assert ann.indicator.state == "connected"
    assert "2 people" in ann.indicator.text
    assert ann.document.session_id is not None and ann.document.session_id in ann.indicator.text
    assert not ann.act_open.isEnabled() and not ann.act_new.isEnabled()

    cid = ann.insert_component("lens", {"x_mm": 0.0, "y_mm": 0.0})
    same_scene(qtbot, ann, bob)
    # Ann's cursor over the canvas shows in Bob's, with her name, where she points.
    viewport = ann.view.viewport()
    assert viewport is not None
    mouse(viewport, QEvent.Type.MouseMove, ann.scene_point(30.0, 20.0))
    qtbot.waitUntil(lambda: len(bob.presence.cursors) == 1, timeout=WAIT_MS)
    cursor = next(iter(bob.presence.cursors.values()))
    assert cursor.user.name == "Ann"
    qtbot.waitUntil(lambda: cursor.pos() == QPointF(30.0, -20.0), timeout=WAIT_MS)
    # Her selection (the lens she just added) is outlined in her colour.
    qtbot.waitUntil(lambda: bob.bench.items_by_id[cid].peer_colors != [], timeout=WAIT_MS)
    assert bob.bench.items_by_id[cid].peer_colors[0].name() == cursor.color.name()
    ann.bench.select_ids([])
    qtbot.waitUntil(lambda: bob.bench.items_by_id[cid].peer_colors == [], timeout=WAIT_MS)

    # A dropped connection shows amber while it reconnects, then green again.
    colors: list[str] = []
    ann.document.connectionStateChanged.connect(
        lambda _state: colors.append(ann.indicator.color.name())
    )
    assert ann.document.sync is not None
    ann.document.sync.drop_connection()
    qtbot.waitUntil(
        lambda: colors[-1:] == [STATE_COLORS["connected"].name()] and len(colors) >= 2,
        timeout=WAIT_MS,
    )
    assert colors[0] == STATE_COLORS["reconnecting"].name()

    bob.act_leave_session.trigger()
    assert bob.indicator.state == "offline"
    assert bob.indicator.color == STATE_COLORS["offline"]
    qtbot.waitUntil(lambda: ann.people.names() == ["Ann (you)"], timeout=WAIT_MS)
    assert any("Bob left" in n for n in ann.people.notice_texts())
    assert "1 person" in ann.indicator.text
    # Bob keeps the scene as a local document.
    assert bob.document.scene == ann.document.scene
    assert bob.act_open.isEnabled() and bob.act_new.isEnabled()


def test_embedded_server_password_and_join_from_the_command_line(
    make_window: WindowFactory, qtbot: QtBot
) -> None:
    ann = make_window("Ann")
    ann.insert_component("source", {"x_mm": -50.0})
    # No server configured: the app hosts the session itself.
    create_session(ann, "", password="s3cret")
    connected(qtbot, ann)
    assert ann.sharing.hosting
    invite = ann.sharing.invite()
    assert invite is not None

    intruder = make_window("Eve")
    join_session(intruder, invite, password="wrong")
    qtbot.waitUntil(lambda: not intruder.document.in_session, timeout=WAIT_MS)
    assert any("Wrong password" in n for n in intruder.people.notice_texts())
    assert intruder.indicator.state == "offline"

    args = build_parser().parse_args(["--join", invite, "--name", "Bob", "--password", "s3cret"])
    from optiverse.ui.app import _checked

    bob = create_window(_checked(build_parser(), args))
    qtbot.addWidget(bob)
    try:
        connected(qtbot, bob)
        assert bob.document.user.name == "Bob"
        same_scene(qtbot, ann, bob)
        assert len(bob.document.scene) == 1
    finally:
        bob.close()
