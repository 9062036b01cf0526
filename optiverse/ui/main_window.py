"""The main window: canvas, panels, menus, toolbar and status bar, wired to one document.

The window owns no scene state.  Every action calls a
:class:`~optiverse.ui.document.SceneDocument` method; the canvas, the
property panel and the rays follow the document's change signals, whether
the change was mine, someone else's, an undo or a redo.
"""

from __future__ import annotations

import getpass
import secrets
from pathlib import Path

from PyQt6.QtCore import QPointF, Qt, QTimer
from PyQt6.QtGui import QAction, QCloseEvent, QKeySequence, QUndoStack
from PyQt6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QToolButton,
    QUndoView,
    QWidget,
)

from optiverse.collab.messages import MAX_NAME, User
from optiverse.collab.recording import Recorder
from optiverse.errors import OptiverseError
from optiverse.optics import TraceResult
from optiverse.scene import PropValue
from optiverse.ui.bench_scene import BenchScene
from optiverse.ui.canvas import BenchView
from optiverse.ui.clipboard import components_from_mime, components_to_mime
from optiverse.ui.coords import mm_from_qt
from optiverse.ui.document import SceneDocument
from optiverse.ui.file_controller import FileController
from optiverse.ui.icons import kind_icon
from optiverse.ui.interaction import EditGestures
from optiverse.ui.people_panel import PeoplePanel
from optiverse.ui.presence import PresenceOverlay, PresenceSender
from optiverse.ui.property_panel import PropertyPanel
from optiverse.ui.shapes import KIND_STYLE
from optiverse.ui.share_dialog import (
    CreateSessionDialog,
    InviteDialog,
    JoinRequest,
    JoinSessionDialog,
)
from optiverse.ui.sharing import SharingController
from optiverse.ui.status import ConnectionIndicator
from optiverse.ui.tracing import Retracer

__all__ = ["INSERT_ORDER", "MainWindow", "default_user_name"]

INSERT_ORDER = ("source", "lens", "mirror", "beamsplitter", "block")
# A new component lands on an occupied spot shifted by this much, so it shows.
CASCADE_MM = 10.0


def default_user_name() -> str:
    try:
        name = getpass.getuser()
    except (OSError, KeyError):
        name = ""
    return (name or "Me")[:MAX_NAME]


class MainWindow(QMainWindow):
    """One editor window on one document."""

    def __init__(
        self,
        *,
        name: str | None = None,
        server: str | None = None,
        lan: bool = True,
        recorder: Recorder | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        user = User("u" + secrets.token_hex(6), (name or default_user_name())[:MAX_NAME])
        # ``recorder``: every session this window joins or creates is recorded (--record).
        self.document = SceneDocument(user, recorder=recorder, parent=self)
        self.gestures = EditGestures(self.document, self)
        self.bench = BenchScene(self.document, self.gestures, self)
        self.gestures.attach(self.bench)
        self.view = BenchView(self.bench, self.gestures)
        self.setCentralWidget(self.view)
        self.retracer = Retracer(lambda: self.document.scene, self)
        self.files = FileController(self.document, self)
        self.sharing = SharingController(self.document, server=server, lan=lan, parent=self)
        self.presence = PresenceOverlay(self.bench, self)
        self.presence_sender = PresenceSender(self._send_presence)
        self.invite_dialog: InviteDialog | None = None
        self._make_panels()
        self._make_status_bar()
        self._make_actions()
        self._make_menus()
        self._make_toolbar()
        self._connect()
        self.resize(1280, 800)
        self._update_title()
        self._update_selection_actions()
        self._update_connection()
        self.retracer.request()

    # --- construction ---------------------------------------------------------------

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _make_panels(self) -> None:
        self.properties = PropertyPanel(self.document)
        self.history = QUndoView(self.document.undo_stack)
        self.history.setEmptyLabel("<opened>")
        self.people = PeoplePanel()
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.properties_dock = self._dock("Properties", self.properties, right)
        self.history_dock = self._dock("History", self.history, right)
        self.people_dock = self._dock("People", self.people, right)
        self.tabifyDockWidget(self.history_dock, self.people_dock)
        self.history_dock.raise_()

    def _make_status_bar(self) -> None:
        bar = self.statusBar()
        assert bar is not None
        self.indicator = ConnectionIndicator()
        self.coords_label = QLabel()
        self.coords_label.setMinimumWidth(170)
        self.trace_label = QLabel()
        bar.addPermanentWidget(self.trace_label)
        bar.addPermanentWidget(self.coords_label)
        bar.addPermanentWidget(self.indicator)

    def _action(
        self,
        text: str,
        slot: object,
        shortcuts: tuple[str | QKeySequence.StandardKey, ...] = (),
        tip: str = "",
    ) -> QAction:
        action = QAction(text, self)
        if shortcuts:
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())  # type: ignore[operator]
        self.addAction(action)
        return action

    def _make_actions(self) -> None:
        files = self.files
        self.act_new = self._action("&New", files.new, (QKeySequence.StandardKey.New,))
        self.act_open = self._action("&Open…", files.open, (QKeySequence.StandardKey.Open,))
        self.act_save = self._action("&Save", files.save, (QKeySequence.StandardKey.Save,))
        self.act_save_as = self._action("Save &As…", files.save_as, ("Ctrl+Shift+S",))
        self.act_quit = self._action("&Quit", self.close, (QKeySequence.StandardKey.Quit,))

        self.act_undo = self.document.create_undo_action(self)
        self.act_undo.setShortcuts([QKeySequence("Ctrl+Z")])
        self.act_redo = self.document.create_redo_action(self)
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.addAction(self.act_undo)
        self.addAction(self.act_redo)
        self.act_cut = self._action("Cu&t", self.cut, ("Ctrl+X",))
        self.act_copy = self._action("&Copy", self.copy, ("Ctrl+C",))
        self.act_paste = self._action("&Paste", self.paste, ("Ctrl+V",))
        self.act_delete = self._action("&Delete", self.delete_selection, ("Delete", "Backspace"))
        self.act_select_all = self._action("Select &All", self.select_all, ("Ctrl+A",))
        self.act_front = self._action(
            "Bring to &Front", lambda: self.reorder("front"), ("Ctrl+Shift+]",)
        )
        self.act_forward = self._action(
            "Bring &Forward", lambda: self.reorder("forward"), ("Ctrl+]",)
        )
        self.act_backward = self._action(
            "Send &Backward", lambda: self.reorder("backward"), ("Ctrl+[",)
        )
        self.act_back = self._action(
            "Send to Bac&k", lambda: self.reorder("back"), ("Ctrl+Shift+[",)
        )
        self.act_lock = self._action(
            "&Lock / Unlock", self.toggle_lock, ("Ctrl+L",), "Locked components cannot be moved"
        )

        self.act_insert: dict[str, QAction] = {}
        for index, kind in enumerate(INSERT_ORDER):
            title = KIND_STYLE[kind].title
            action = self._action(
                title,
                lambda k=kind: self.insert_component(k),
                (f"Ctrl+{index + 1}",),
                f"Insert a {title.lower()} at the centre of the view",
            )
            action.setIcon(kind_icon(kind))
            self.act_insert[kind] = action

        self.act_fit = self._action("&Fit to Scene", self.view.fit_to_scene, ("Ctrl+0",))
        self.act_zoom_in = self._action(
            "Zoom &In", lambda: self.view.zoom_by(1.25), ("Ctrl++", "Ctrl+=")
        )
        self.act_zoom_out = self._action("Zoom &Out", lambda: self.view.zoom_by(0.8), ("Ctrl+-",))

        self.act_create_session = self._action(
            "&Create Session…", self.ask_create_session, (), "Share this scene with others"
        )
        self.act_join_session = self._action(
            "&Join Session…", self.ask_join_session, (), "Join someone else's session"
        )
        self.act_copy_invite = self._action("Copy &Invite", self.show_invite)
        self.act_leave_session = self._action("&Leave Session", self.sharing.leave)

    def _make_menus(self) -> None:
        bar = self.menuBar()
        assert bar is not None

        def menu(title: str, *items: QAction | None) -> QMenu:
            m = bar.addMenu(title)
            assert m is not None
            for item in items:
                if item is None:
                    m.addSeparator()
                else:
                    m.addAction(item)
            return m

        menu(
            "&File",
            self.act_new,
            self.act_open,
            None,
            self.act_save,
            self.act_save_as,
            None,
            self.act_quit,
        )
        menu(
            "&Edit",
            self.act_undo,
            self.act_redo,
            None,
            self.act_cut,
            self.act_copy,
            self.act_paste,
            self.act_delete,
            None,
            self.act_select_all,
            None,
            self.act_front,
            self.act_forward,
            self.act_backward,
            self.act_back,
            None,
            self.act_lock,
        )
        menu("&Insert", *self.act_insert.values())
        view = menu("&View", self.act_fit, self.act_zoom_in, self.act_zoom_out, None)
        for dock in (self.properties_dock, self.history_dock, self.people_dock):
            view.addAction(dock.toggleViewAction())
        self.share_menu = menu(
            "&Share",
            self.act_create_session,
            self.act_join_session,
            None,
            self.act_copy_invite,
            self.act_leave_session,
        )

    def _make_toolbar(self) -> None:
        toolbar = self.addToolBar("Main")
        assert toolbar is not None
        toolbar.setObjectName("toolbar_main")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        for action in self.act_insert.values():
            toolbar.addAction(action)
        toolbar.addSeparator()
        for action in (self.act_undo, self.act_redo, self.act_delete, self.act_lock, self.act_fit):
            toolbar.addAction(action)
        toolbar.addSeparator()
        self.share_button = QToolButton()
        self.share_button.setText("Share")
        self.share_button.setMenu(self.share_menu)
        self.share_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.share_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addWidget(self.share_button)

    def _connect(self) -> None:
        doc = self.document
        doc.componentsChanged.connect(lambda _ids: self.retracer.request())
        doc.sceneReset.connect(self.retracer.request)
        doc.modifiedChanged.connect(lambda _m: self._update_title())
        doc.connectionStateChanged.connect(lambda _s: self._update_connection())
        doc.sessionChanged.connect(self._on_session_changed)
        doc.peersChanged.connect(self._on_peers_changed)
        doc.presenceReceived.connect(self.presence.on_presence)
        self.retracer.traced.connect(self._on_traced)
        self.retracer.failed.connect(self._status)
        self.bench.selectionChanged.connect(self._on_selection_changed)
        self.view.cursorMoved.connect(self._on_cursor_moved)
        self.files.pathChanged.connect(lambda _p: self._update_title())
        self.files.opened.connect(lambda: QTimer.singleShot(0, self.view.fit_to_scene))
        self.sharing.notice.connect(self._notice)
        self.sharing.failed.connect(self._session_failed)
        self.sharing.inviteReady.connect(self.show_invite)

    # --- editing actions ------------------------------------------------------------

    def selected_ids(self) -> list[str]:
        return self.bench.selected_ids()

    def insert_component(self, kind: str, props: dict[str, PropValue] | None = None) -> str:
        """Add a ``kind`` at the centre of the view (shifted off occupied spots); select it."""
        x, y = mm_from_qt(self.view.visible_rect_mm().center())
        x, y = round(x), round(y)
        taken = {(round(c.x_mm), round(c.y_mm)) for c in self.document.scene.components.values()}
        while (x, y) in taken:
            x, y = x + CASCADE_MM, y - CASCADE_MM
        count = sum(1 for c in self.document.scene.components.values() if c.kind == kind)
        values: dict[str, PropValue] = {
            "x_mm": float(x),
            "y_mm": float(y),
            "name": f"{KIND_STYLE[kind].title} {count + 1}",
        }
        values.update(props or {})
        cid = self.document.add_component(kind, values)
        self.bench.select_ids([cid])
        return cid

    def delete_selection(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.document.remove_components(ids)

    def copy(self) -> None:
        ids = self.selected_ids()
        clipboard = QApplication.clipboard()
        if not ids or clipboard is None:
            return
        clipboard.setMimeData(components_to_mime(self.document.scene.components[i] for i in ids))
        self._status(f"Copied {len(ids)} component{'s' if len(ids) != 1 else ''}")

    def cut(self) -> None:
        self.copy()
        self.delete_selection()

    def paste(self) -> None:
        clipboard = QApplication.clipboard()
        try:
            items = components_from_mime(clipboard.mimeData() if clipboard else None)
            ids = self.document.paste(items)
        except OptiverseError as exc:
            self._status(f"Nothing pasted: {exc}")
            return
        self.bench.select_ids(ids)

    def select_all(self) -> None:
        self.bench.select_ids(self.document.scene.components)

    def reorder(self, where: str) -> None:
        ids = self.selected_ids()
        if ids:
            self.document.reorder(ids, where)  # type: ignore[arg-type]

    def toggle_lock(self) -> None:
        """Lock the selection, or unlock it if it is all locked already."""
        ids = self.selected_ids()
        comps = [self.document.scene.components[i] for i in ids]
        if not comps:
            return
        lock = not all(c.locked for c in comps)
        label = "Lock" if lock else "Unlock"
        with self.document.macro(f"{label} {len(ids)} component{'s' if len(ids) != 1 else ''}"):
            for cid in ids:
                self.document.set_properties(cid, {"locked": lock})
        self._update_selection_actions()

    # --- sharing --------------------------------------------------------------------

    def ask_create_session(self) -> None:
        dialog = CreateSessionDialog(self.document.user.name, self.sharing.server, self)
        if dialog.exec() != CreateSessionDialog.DialogCode.Accepted:
            return
        request = dialog.request()
        if request is None:
            return
        try:
            self.sharing.create(request)
        except (OSError, RuntimeError, ValueError) as exc:
            self._session_failed(f"Cannot create a session: {exc}")

    def ask_join_session(self, invite: str = "") -> None:
        dialog = JoinSessionDialog(self.document.user.name, invite, self)
        if dialog.exec() != JoinSessionDialog.DialogCode.Accepted:
            return
        request = dialog.request()
        if request is not None:
            self.join(request)

    def join(self, request: JoinRequest) -> bool:
        """Join a session (asking first if unsaved work would be replaced)."""
        if self.document.in_session:
            self.sharing.leave()
        if not self.files.maybe_save():
            return False
        try:
            self.sharing.join(request)
        except (OSError, RuntimeError, ValueError) as exc:
            self._session_failed(f"Cannot join: {exc}")
            return False
        self.files.path = None
        self._update_title()
        return True

    def show_invite(self) -> None:
        invite = self.sharing.invite()
        if invite is None:
            self._status("Not in a session yet")
            return
        clipboard = QApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(invite)
        if not self.sharing.hosting:
            note = "Anyone who can reach the server can join with this invite."
        elif self.sharing.lan:
            note = (
                "This computer hosts the session: others on your network can join "
                "while Optiverse stays open here."
            )
        else:
            note = "This computer hosts the session for programs on this computer only."
        if self.invite_dialog is not None:
            self.invite_dialog.close()
        self.invite_dialog = InviteDialog(invite, note + " (Copied to the clipboard.)", self)
        self.invite_dialog.show()

    # --- reactions ------------------------------------------------------------------

    def _on_traced(self, result: TraceResult) -> None:
        self.bench.rays.set_result(result)
        self.trace_label.setText(
            f"{result.n_paths} rays · {result.n_segments} segments · "
            f"{self.retracer.last_ms:.1f} ms" + (" (truncated)" if result.truncated else "")
        )

    def _on_selection_changed(self) -> None:
        ids = self.selected_ids()
        self.properties.show_components(ids)
        self.presence_sender.set_selection(ids)
        self._update_selection_actions()

    def _update_selection_actions(self) -> None:
        has = bool(self.bench.selectedItems())
        for action in (
            self.act_cut,
            self.act_copy,
            self.act_delete,
            self.act_front,
            self.act_forward,
            self.act_backward,
            self.act_back,
            self.act_lock,
        ):
            action.setEnabled(has)

    def _on_cursor_moved(self, pos: object) -> None:
        if isinstance(pos, tuple):
            self.coords_label.setText(f"x {pos[0]:.1f} mm   y {pos[1]:.1f} mm")
            self.presence_sender.set_cursor((float(pos[0]), float(pos[1])))
        else:
            self.coords_label.clear()
            self.presence_sender.set_cursor(None)

    def _send_presence(
        self, cursor: tuple[float, float] | None, selection: tuple[str, ...] | None
    ) -> None:
        if self.document.connection_state == "connected":
            self.document.set_presence(cursor, selection)

    def _on_session_changed(self, session: object) -> None:
        self._update_connection()
        if isinstance(session, str):
            self.presence_sender.resend()
            self.people.set_users(self._everyone(), self.document.user)
            if not self.sharing.hosting and self.document.scene.components:
                QTimer.singleShot(0, self.view.fit_to_scene)
        else:
            self.presence.clear()
            self.people.set_users([], None)

    def _on_peers_changed(self) -> None:
        self._update_connection()
        self.presence.retain({u.id for u in self.document.peers})
        self.people.set_users(self._everyone(), self.document.user)

    def _everyone(self) -> list[User]:
        if not self.document.in_session:
            return []
        return [self.document.user, *self.document.peers]

    def _update_connection(self) -> None:
        doc = self.document
        state = doc.connection_state
        self.indicator.set_state(state, doc.session_id, len(doc.peers) + 1)
        joined = doc.in_session
        self.act_create_session.setEnabled(not joined)
        self.act_join_session.setEnabled(not joined)
        self.act_leave_session.setEnabled(joined)
        # Replacing the scene would replace everyone's; leave the session first.
        self.act_new.setEnabled(not joined)
        self.act_open.setEnabled(not joined)
        self.act_copy_invite.setEnabled(joined and doc.session_id is not None)
        if not joined:
            self.presence.clear()
            self.people.set_users([], None)
        self._update_title()

    def _update_title(self) -> None:
        session = self.document.session_id
        where = f" — session {session}" if session else ""
        self.setWindowTitle(f"{self.files.display_name}[*]{where} — Optiverse")
        self.setWindowModified(self.document.is_modified)

    def _notice(self, text: str) -> None:
        self.people.add_notice(text)
        self._status(text)

    def _session_failed(self, text: str) -> None:
        self._notice(text)
        box = QMessageBox(QMessageBox.Icon.Warning, "Shared session", text, parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _status(self, text: str) -> None:
        bar = self.statusBar()
        if bar is not None:
            bar.showMessage(text, 6000)

    # --- window ---------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent | None) -> None:
        if event is None:
            return
        if not self.document.is_closed:
            if not self.files.maybe_save():
                event.ignore()
                return
            self.gestures.finish_wheel_rotation()
            self.sharing.shutdown()
            self.retracer.stop()
            # The window is done: leave, stop the sync thread and empty the undo
            # stack now, while every widget is alive, so that destroying the
            # window later (in any order) emits nothing.
            self.document.close()
        event.accept()

    def __dtor__(self) -> None:
        # sip calls this as the C++ window starts to be destroyed.  Without a
        # close first, stop a server this window hosts; the document closes
        # itself, in silence, when its own destruction begins.
        embedded, self.sharing.embedded = self.sharing.embedded, None
        if embedded is not None:
            embedded.stop()

    def open_path(self, path: Path) -> bool:
        return self.files.open(path)

    @property
    def undo_stack(self) -> QUndoStack:
        return self.document.undo_stack

    def scene_point(self, x_mm: float, y_mm: float) -> QPointF:
        """The viewport position (pixels) of a scene point in mm, for tests and tools."""
        return QPointF(self.view.mapFromScene(QPointF(x_mm, -y_mm)))
