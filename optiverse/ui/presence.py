"""Other people on the canvas: their cursors with names, their selections outlined.

Incoming presence moves a cursor item and recolours selection outlines.
Outgoing presence (my cursor and selection) goes to the document, which
throttles it; repeats are dropped here.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import QObject, QPointF, QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen, QPolygonF
from PyQt6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from optiverse.collab.messages import User
from optiverse.ui.bench_scene import OVERLAY_Z, BenchScene
from optiverse.ui.colors import user_color
from optiverse.ui.coords import qt_from_mm

__all__ = ["PeerCursorItem", "PresenceOverlay", "PresenceSender"]

Cursor = tuple[float, float] | None
Selection = tuple[str, ...] | None


class PeerCursorItem(QGraphicsItem):
    """An arrow and a name tag, a constant size on screen."""

    def __init__(self, user: User) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(OVERLAY_Z)
        self._font = QFont()
        self._font.setPointSizeF(8.5)
        self.set_user(user)

    def set_user(self, user: User) -> None:
        self.prepareGeometryChange()
        self.user = user
        self.color = user_color(user)
        metrics = QFontMetricsF(self._font)
        self._tag = QRectF(
            12.0, 14.0, metrics.horizontalAdvance(user.name) + 10.0, metrics.height() + 4.0
        )

    def boundingRect(self) -> QRectF:
        return QRectF(-1.0, -1.0, 14.0, 20.0).united(self._tag)

    def paint(
        self,
        painter: QPainter | None,
        option: QStyleOptionGraphicsItem | None,
        widget: QWidget | None = None,
    ) -> None:
        if painter is None:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        arrow = QPolygonF(
            [
                QPointF(0, 0),
                QPointF(0, 16),
                QPointF(4.5, 12),
                QPointF(8, 18.5),
                QPointF(10, 17.5),
                QPointF(6.8, 11.2),
                QPointF(12, 11),
            ]
        )
        painter.setPen(QPen(QColor("white"), 1.2))
        painter.setBrush(self.color)
        painter.drawPolygon(arrow)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawRoundedRect(self._tag, 4.0, 4.0)
        painter.setPen(QColor("white"))
        painter.setFont(self._font)
        painter.drawText(self._tag, Qt.AlignmentFlag.AlignCenter, self.user.name)


class PresenceOverlay(QObject):
    """Draws other people's presence on a :class:`BenchScene`."""

    def __init__(self, bench: BenchScene, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bench = bench
        self.cursors: dict[str, PeerCursorItem] = {}
        self._client_user: dict[str, str] = {}

    def on_presence(self, user: User, client: str, cursor: Cursor, selection: Selection) -> None:
        self._client_user[client] = user.id
        item = self.cursors.get(client)
        if cursor is None:
            if item is not None:
                item.setVisible(False)
        else:
            if item is None:
                item = PeerCursorItem(user)
                self.cursors[client] = item
                self.bench.addItem(item)
            elif item.user != user:
                item.set_user(user)
            item.setPos(qt_from_mm(*cursor))
            item.setVisible(True)
        if selection is not None:
            self.bench.set_peer_selection(client, user_color(user), selection)

    def retain(self, user_ids: set[str]) -> None:
        """Forget everyone not in ``user_ids`` (those still in the session)."""
        for client, user_id in list(self._client_user.items()):
            if user_id not in user_ids:
                self._drop(client)

    def clear(self) -> None:
        for client in list(self._client_user):
            self._drop(client)
        self.bench.clear_peer_selections()

    def _drop(self, client: str) -> None:
        self._client_user.pop(client, None)
        item = self.cursors.pop(client, None)
        if item is not None:
            self.bench.removeItem(item)
        self.bench.clear_peer_selection(client)


class PresenceSender:
    """Passes my cursor and selection to ``send`` when they change.

    The document rate-limits what it sends (30 per second); this only drops
    repeats, so a mouse that moves within one canvas pixel sends nothing.
    """

    def __init__(self, send: Callable[[Cursor, Selection], None]) -> None:
        self._send = send
        self._cursor: Cursor = None
        self._selection: tuple[str, ...] = ()
        self.sent = 0

    def set_cursor(self, cursor: Cursor) -> None:
        if cursor is not None:
            cursor = (round(cursor[0], 1), round(cursor[1], 1))
        if cursor != self._cursor:
            self._cursor = cursor
            self.resend()

    def set_selection(self, selection: list[str]) -> None:
        if tuple(selection) != self._selection:
            self._selection = tuple(selection)
            self.resend()

    def resend(self) -> None:
        """Send the current state (also after joining, so others see me at once)."""
        self.sent += 1
        self._send(self._cursor, self._selection)
