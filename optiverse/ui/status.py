"""The status-bar connection indicator: a coloured dot, the state, the session and head count."""

from __future__ import annotations

from PyQt6.QtCore import QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QPainter, QPaintEvent
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QWidget

__all__ = ["STATE_COLORS", "ConnectionIndicator", "describe_state"]

STATE_COLORS = {
    "connected": QColor("#2e9d4f"),
    "connecting": QColor("#f0a202"),
    "reconnecting": QColor("#f0a202"),
    "offline": QColor("#d64545"),
}


def describe_state(state: str, session: str | None, people: int) -> str:
    """The indicator's text, e.g. ``Connected · session ab12 · 3 people``."""
    title = {
        "connected": "Connected",
        "connecting": "Connecting…",
        "reconnecting": "Reconnecting…",
        "offline": "Offline",
    }.get(state, state.capitalize())
    parts = [title]
    if session:
        parts.append(f"session {session}")
    if state == "connected":
        parts.append(f"{people} {'person' if people == 1 else 'people'}")
    return " · ".join(parts)


class _Dot(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.color = STATE_COLORS["offline"]
        self.setFixedSize(QSize(12, 12))

    def paintEvent(self, event: QPaintEvent | None) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(self.color.darker(130))
        painter.setBrush(self.color)
        painter.drawEllipse(QRectF(1.0, 1.0, 10.0, 10.0))


class ConnectionIndicator(QWidget):
    """Shows the sync state; ``set_state`` is called on every change."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(6)
        self.dot = _Dot()
        self.label = QLabel()
        layout.addWidget(self.dot, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.label)
        self.state = "offline"
        self.set_state("offline", None, 0)

    def set_state(self, state: str, session: str | None, people: int) -> None:
        self.state = state
        self.dot.color = STATE_COLORS.get(state, STATE_COLORS["offline"])
        self.dot.update()
        self.label.setText(describe_state(state, session, people))
        self.setToolTip(
            "Not in a shared session" if state == "offline" and not session else self.label.text()
        )

    @property
    def color(self) -> QColor:
        return self.dot.color

    @property
    def text(self) -> str:
        return self.label.text()
