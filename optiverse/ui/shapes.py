"""Outline of each component kind, to scale, in the item's local frame.

Local frame: one unit is one mm, +x is the component's optical axis (its
``angle_deg``) and the optic itself lies along y, centred on the origin.  Only
the thicknesses are invented (a thin lens has none); they grow with the
optic's length so a component keeps its proportions when resized.
"""

from __future__ import annotations

from PyQt6.QtCore import QPointF, QRectF
from PyQt6.QtGui import QColor, QPainterPath

from optiverse.scene import Component, Lens, Source

__all__ = ["KIND_STYLE", "KindStyle", "body_path", "pick_rect", "source_body_length"]


class KindStyle:
    """Fill and outline colour of a kind."""

    def __init__(self, fill: str, outline: str, title: str) -> None:
        self.fill = QColor(fill)
        self.outline = QColor(outline)
        self.title = title


KIND_STYLE: dict[str, KindStyle] = {
    "source": KindStyle("#3a3f44", "#1b1e21", "Source"),
    "lens": KindStyle("#9fd3f0a0", "#2272b4", "Lens"),
    "mirror": KindStyle("#c9ced6", "#4b5563", "Mirror"),
    "beamsplitter": KindStyle("#c8b6f0a0", "#6d4fc2", "Beamsplitter"),
    "block": KindStyle("#202020", "#000000", "Beam block"),
}


def _clamp(value: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, value))


def _thickness(length: float, ratio: float, lo: float, hi: float) -> float:
    return _clamp(length * ratio, min(lo, length), hi)


def source_body_length(aperture_mm: float) -> float:
    """Length of the drawn laser housing behind the aperture."""
    return _clamp(aperture_mm * 2.0, 12.0, 60.0)


def body_path(comp: Component) -> QPainterPath:
    """The component's outline as drawn."""
    path = QPainterPath()
    if isinstance(comp, Source):
        aperture = comp.aperture_mm
        height = max(aperture, 4.0) + 4.0
        body = source_body_length(aperture)
        path.addRect(QRectF(-body, -height / 2, body, height))
        return path
    length = comp.length_mm
    half = length / 2
    if isinstance(comp, Lens):
        t = _thickness(length, 0.2, 1.5, 12.0)
        if comp.efl_mm > 0:
            path.moveTo(0, -half)
            path.quadTo(QPointF(t, 0), QPointF(0, half))
            path.quadTo(QPointF(-t, 0), QPointF(0, -half))
        else:
            path.moveTo(-t / 2, -half)
            path.lineTo(t / 2, -half)
            path.quadTo(QPointF(-0.3 * t, 0), QPointF(t / 2, half))
            path.lineTo(-t / 2, half)
            path.quadTo(QPointF(0.3 * t, 0), QPointF(-t / 2, -half))
        path.closeSubpath()
        return path
    if comp.kind == "mirror":
        t = _thickness(length, 0.08, 1.0, 5.0)
        path.addRect(QRectF(-t, -half, t, length))
        return path
    if comp.kind == "beamsplitter":
        t = _thickness(length, 0.06, 0.8, 4.0)
        path.addRect(QRectF(-t / 2, -half, t, length))
        return path
    t = _thickness(length, 0.12, 1.5, 8.0)
    path.addRect(QRectF(-t / 2, -half, t, length))
    return path


def pick_rect(comp: Component) -> QRectF:
    """Where a click selects the component: the body, widened so thin optics are easy to hit."""
    rect = body_path(comp).boundingRect()
    size = rect.height()
    grow = max(0.0, size * 0.12 - rect.width() / 2)
    return rect.adjusted(-grow, 0.0, grow, 0.0)
