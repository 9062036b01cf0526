"""Creating, joining and leaving sessions, and the invite that goes with them.

The document does the syncing; this controller decides where the server is
(a configured one, or one embedded in this app and reachable on the LAN),
what the invite says, and turns the sync client's join/leave/error signals
into notices for the People panel and the status bar.
"""

from __future__ import annotations

import logging

from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from optiverse.collab.messages import ErrorCode, User
from optiverse.ui.document import SceneDocument
from optiverse.ui.embedded_server import EmbeddedServer
from optiverse.ui.invite import format_invite, parse_invite
from optiverse.ui.share_dialog import CreateRequest, JoinRequest

__all__ = ["FATAL_JOIN_ERRORS", "SharingController"]

log = logging.getLogger(__name__)

# Errors after which the server closes for good; their explanation is what the
# user is told when the session ends.
FATAL_JOIN_ERRORS = frozenset(
    {
        ErrorCode.BAD_PASSWORD,
        ErrorCode.UNKNOWN_SESSION,
        ErrorCode.PROTOCOL_VERSION,
        ErrorCode.SESSION_FULL,
        "closed",
    }
)


class SharingController(QObject):
    """Share-menu logic for one window's document."""

    inviteReady = pyqtSignal(str)  # a session I created is live: show its invite
    notice = pyqtSignal(str)  # something to tell the user (people panel, status bar)
    failed = pyqtSignal(str)  # joining or hosting failed: tell the user prominently

    def __init__(
        self,
        document: SceneDocument,
        *,
        server: str | None = None,
        lan: bool = True,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.server = server
        self.lan = lan
        self.embedded: EmbeddedServer | None = None
        self._public: tuple[str, int] | None = None
        self._announce = False
        document.sessionChanged.connect(self._on_session)
        self._last_error: str | None = None
        document.errorOccurred.connect(self._on_error)
        document.connectionStateChanged.connect(self._on_state)

    # --- state -----------------------------------------------------------------

    def invite(self) -> str | None:
        """The invite of the current session, once it has an id."""
        session = self.document.session_id
        if session is None or self._public is None:
            return None
        return format_invite(self._public[0], self._public[1], session)

    @property
    def hosting(self) -> bool:
        return self.embedded is not None and self.embedded.running

    # --- actions ----------------------------------------------------------------

    def create(self, request: CreateRequest) -> None:
        """Start a session with my scene in it, on ``request.server`` or a server of my own."""
        url = request.server or self.server
        if url is None:
            embedded = self.embedded or EmbeddedServer("0.0.0.0" if self.lan else "127.0.0.1")
            embedded.start()
            self.embedded = embedded
            url = embedded.local_url
            self._public = (embedded.public_host, embedded.port)
        else:
            target = parse_invite(url, require_session=False)
            self._public = (target.host, target.port)
        self._announce = True
        self.document.share(url, create=True, password=request.password, name=request.name)
        self._watch_sync()
        self.notice.emit("Creating a session…")

    def join(self, request: JoinRequest) -> None:
        """Join ``request.session``; my scene is replaced by the session's."""
        target = parse_invite(request.url, require_session=False)
        self._public = (target.host, target.port)
        self._announce = False
        self.document.share(
            request.url,
            create=False,
            session=request.session,
            password=request.password,
            name=request.name,
        )
        self._watch_sync()
        self.notice.emit(f"Joining session {request.session}…")

    def leave(self) -> None:
        """Leave the session; the scene stays open as a local document."""
        if not self.document.in_session:
            return
        self.document.leave()
        self._public = None
        self.notice.emit("You left the session")

    def shutdown(self) -> None:
        """Leave and stop a server this app hosts (the window is closing)."""
        self.leave()
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None

    # --- signals ----------------------------------------------------------------

    def _watch_sync(self) -> None:
        self._last_error = None
        sync = self.document.sync
        if sync is None:
            return
        sync.peerJoined.connect(self._on_joined)
        sync.peerLeft.connect(self._on_left)

    def _on_joined(self, user: User) -> None:
        if user.id != self.document.user.id:
            self.notice.emit(f"{user.name} joined")

    def _on_left(self, user: User) -> None:
        if user.id != self.document.user.id:
            self.notice.emit(f"{user.name} left")

    def _on_session(self, session: object) -> None:
        if not isinstance(session, str):
            return
        verb = "created" if self._announce else "joined"
        self.notice.emit(f"You {verb} session {session}")
        invite = self.invite()
        if self._announce and invite is not None:
            self._announce = False
            self.inviteReady.emit(invite)

    def _on_error(self, code: str, message: str) -> None:
        log.warning("session error %s: %s", code, message)
        # The first fatal error is the reason; the close that follows it is a consequence.
        if code in FATAL_JOIN_ERRORS and self._last_error is None:
            self._last_error = _explain(code, message)
        self.notice.emit(f"Server: {message}")

    def _on_state(self, state: str) -> None:
        # The sync client only goes offline by itself when it gives up for good
        # (refused, or closed with a code that forbids reconnecting).
        if state == "offline" and self.document.in_session:
            reason = self._last_error or "The connection to the session was closed."
            # Deferred: this runs inside the sync client's own signal dispatch.
            QTimer.singleShot(0, lambda: self._give_up(reason))

    def _give_up(self, reason: str) -> None:
        if self.document.in_session:
            self.document.leave()
        self._public = None
        self.failed.emit(reason)


_EXPLAINED: dict[str, str] = {
    ErrorCode.BAD_PASSWORD: "Wrong password for this session.",
    ErrorCode.UNKNOWN_SESSION: "There is no such session on that server.",
    ErrorCode.SESSION_FULL: "The session is full.",
    ErrorCode.PROTOCOL_VERSION: "The server runs an incompatible version of Optiverse.",
}


def _explain(code: str, message: str) -> str:
    return _EXPLAINED.get(code, f"The session ended: {message}")
