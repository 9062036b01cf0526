"""Dialogs of the Share menu: create a session, join one, show the invite."""

from __future__ import annotations

import attrs
from PyQt6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from optiverse.collab.messages import MAX_NAME
from optiverse.ui.invite import InviteError, parse_invite

__all__ = [
    "CreateRequest",
    "CreateSessionDialog",
    "InviteDialog",
    "JoinRequest",
    "JoinSessionDialog",
    "server_url",
]


@attrs.frozen
class CreateRequest:
    name: str
    password: str | None
    server: str | None  # ws:// URL; None: host one in this app


@attrs.frozen
class JoinRequest:
    url: str
    session: str
    name: str
    password: str | None


def server_url(text: str) -> str:
    """A ws:// URL from what someone typed as a server (``host``, ``host:port``, a URL)."""
    return parse_invite(text, require_session=False).server_url


def _buttons(dialog: QDialog, ok_text: str) -> QDialogButtonBox:
    box = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    ok = box.button(QDialogButtonBox.StandardButton.Ok)
    assert ok is not None
    ok.setText(ok_text)
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box


def _error_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet("color: #b42318;")
    return label


class CreateSessionDialog(QDialog):
    """Your name, an optional password, and an optional server."""

    def __init__(self, name: str, server: str | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Create a shared session")
        self.name = QLineEdit(name)
        self.name.setMaxLength(MAX_NAME)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("optional")
        self.server = QLineEdit(server or "")
        self.server.setPlaceholderText("blank: host it on this computer (reachable on the LAN)")
        form = QFormLayout()
        form.addRow("Your name", self.name)
        form.addRow("Password", self.password)
        form.addRow("Server", self.server)
        self.error = _error_label()
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Everyone with the invite (and the password) can edit this scene."))
        layout.addLayout(form)
        layout.addWidget(self.error)
        self.buttons = _buttons(self, "Create")
        layout.addWidget(self.buttons)

    def request(self) -> CreateRequest | None:
        """What was entered, or None (with the reason shown) if it is not usable."""
        name = self.name.text().strip()
        if not name:
            self.error.setText("Enter your name: the others see it next to your cursor.")
            return None
        server = None
        if self.server.text().strip():
            try:
                server = server_url(self.server.text())
            except InviteError as exc:
                self.error.setText(f"Server: {exc}")
                return None
        return CreateRequest(name, self.password.text() or None, server)

    def accept(self) -> None:
        if self.request() is not None:
            super().accept()


class JoinSessionDialog(QDialog):
    """An invite, or a server and a session id; your name; the password if any."""

    def __init__(self, name: str, invite: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Join a shared session")
        self.invite = QLineEdit(invite)
        self.invite.setPlaceholderText("optiverse://host:port/SESSION")
        self.server = QLineEdit()
        self.server.setPlaceholderText("host:port (if you have no invite)")
        self.session = QLineEdit()
        self.session.setPlaceholderText("session id")
        self.name = QLineEdit(name)
        self.name.setMaxLength(MAX_NAME)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("if the session has one")
        form = QFormLayout()
        form.addRow("Invite", self.invite)
        form.addRow("…or server", self.server)
        form.addRow("and session", self.session)
        form.addRow("Your name", self.name)
        form.addRow("Password", self.password)
        self.error = _error_label()
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Joining replaces what you have open with the session's scene."))
        layout.addLayout(form)
        layout.addWidget(self.error)
        self.buttons = _buttons(self, "Join")
        layout.addWidget(self.buttons)

    def request(self) -> JoinRequest | None:
        """What was entered, or None (with the reason shown) if it is not usable."""
        name = self.name.text().strip()
        if not name:
            self.error.setText("Enter your name: the others see it next to your cursor.")
            return None
        try:
            if self.invite.text().strip():
                invite = parse_invite(self.invite.text())
                url, session = invite.server_url, invite.session
            else:
                url = server_url(self.server.text())
                session = parse_invite(f"x/{self.session.text().strip()}").session
        except InviteError as exc:
            self.error.setText(str(exc)[:1].upper() + str(exc)[1:])
            return None
        return JoinRequest(url, session, name, self.password.text() or None)

    def accept(self) -> None:
        if self.request() is not None:
            super().accept()


class InviteDialog(QDialog):
    """The invite to send to others, with a Copy button."""

    def __init__(self, invite: str, note: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Session invite")
        self.invite = QLineEdit(invite)
        self.invite.setReadOnly(True)
        self.invite.setMinimumWidth(360)
        self.copy_button = QPushButton("Copy")
        self.copy_button.clicked.connect(self.copy)
        row = QHBoxLayout()
        row.addWidget(self.invite, 1)
        row.addWidget(self.copy_button)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Send this invite to the people you want to edit with:"))
        layout.addLayout(row)
        hint = QLabel(note)
        hint.setWordWrap(True)
        layout.addWidget(hint)
        layout.addWidget(close)

    def copy(self) -> None:
        clipboard = QApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(self.invite.text())
        self.copy_button.setText("Copied")
