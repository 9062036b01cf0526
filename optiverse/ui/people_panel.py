"""The People panel: who is in the session, in their colours, and who came and went."""

from __future__ import annotations

import time

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor, QIcon, QPainter, QPixmap
from PyQt6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from optiverse.collab.messages import User
from optiverse.ui.colors import user_color

__all__ = ["MAX_NOTICES", "PeoplePanel"]

MAX_NOTICES = 200


def _dot_icon(color: QColor) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(color.darker(130))
    painter.setBrush(color)
    painter.drawEllipse(2, 2, 10, 10)
    painter.end()
    return QIcon(pixmap)


class PeoplePanel(QWidget):
    """The list of people online, and a log of joins and leaves."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.people = QListWidget()
        self.people.setObjectName("people")
        self.notices = QListWidget()
        self.notices.setObjectName("notices")
        self.notices.setWordWrap(True)
        self.notices.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.hint = QLabel("Not in a shared session. Use Share ▸ Create session.")
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)
        layout.addWidget(QLabel("Online"))
        layout.addWidget(self.people, 2)
        layout.addWidget(QLabel("Activity"))
        layout.addWidget(self.notices, 1)

    def set_users(self, users: list[User], me: User | None) -> None:
        """Show ``users`` (me first)."""
        self.people.clear()
        ordered = sorted(users, key=lambda u: (me is None or u.id != me.id, u.name.lower()))
        for user in ordered:
            mine = me is not None and user.id == me.id
            item = QListWidgetItem(
                _dot_icon(user_color(user)), user.name + (" (you)" if mine else "")
            )
            item.setData(Qt.ItemDataRole.UserRole, user.id)
            self.people.addItem(item)
        self.hint.setVisible(not users)

    def add_notice(self, text: str) -> None:
        """Log ``text`` with the time, newest last."""
        self.notices.addItem(f"{time.strftime('%H:%M')}  {text}")
        while self.notices.count() > MAX_NOTICES:
            self.notices.takeItem(0)
        self.notices.scrollToBottom()

    def names(self) -> list[str]:
        """The names as listed (for tests and tools)."""
        return _texts(self.people)

    def notice_texts(self) -> list[str]:
        return _texts(self.notices)


def _texts(widget: QListWidget) -> list[str]:
    items = (widget.item(i) for i in range(widget.count()))
    return [item.text() for item in items if item is not None]
