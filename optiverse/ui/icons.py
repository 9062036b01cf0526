"""Toolbar icons drawn from the same outlines the canvas uses, so they always match."""

from __future__ import annotations

from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap

from optiverse.scene import make_component
from optiverse.ui.shapes import KIND_STYLE, body_path

__all__ = ["kind_icon"]

ICON_PX = 32


def kind_icon(kind: str) -> QIcon:
    """An icon of ``kind``'s default component, fitted into a square."""
    comp = make_component(kind, {"angle_deg": 0.0})
    path = body_path(comp)
    rect = path.boundingRect()
    if kind == "source":
        # Show the beam leaving the aperture too: that is what makes it a source.
        rect.setRight(rect.right() + rect.width() * 0.6)
    pixmap = QPixmap(ICON_PX, ICON_PX)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    side = max(rect.width(), rect.height())
    scale = (ICON_PX - 6) / side
    painter.translate(ICON_PX / 2, ICON_PX / 2)
    painter.scale(scale, scale)
    painter.translate(-rect.center())
    style = KIND_STYLE[kind]
    pen = QPen(style.outline, 1.5)
    pen.setCosmetic(True)
    painter.setPen(pen)
    fill = QColor(style.fill)
    fill.setAlpha(255 if fill.alpha() == 255 else 200)
    painter.setBrush(fill)
    painter.drawPath(path)
    if kind == "source":
        beam = QPen(QColor("#DC143C"), 2.0)
        beam.setCosmetic(True)
        painter.setPen(beam)
        painter.drawLine(QPointF(0.0, 0.0), QPointF(rect.right(), 0.0))
    painter.end()
    return QIcon(pixmap)
