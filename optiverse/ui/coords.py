"""Scene millimetres (y up, angles counter-clockwise) to Qt scene units (y down) and back.

One Qt scene unit is one millimetre; only the y axis and the sense of
rotation flip, so these are the only conversions the UI needs.
"""

from __future__ import annotations

from PyQt6.QtCore import QPointF

__all__ = ["mm_from_qt", "qt_from_mm", "qt_rotation"]


def qt_from_mm(x_mm: float, y_mm: float) -> QPointF:
    """The Qt scene point of a scene position in mm."""
    return QPointF(x_mm, -y_mm)


def mm_from_qt(point: QPointF) -> tuple[float, float]:
    """The scene position in mm of a Qt scene point."""
    return point.x(), -point.y()


def qt_rotation(angle_deg: float) -> float:
    """QGraphicsItem rotation (clockwise on screen) for a counter-clockwise angle."""
    return -angle_deg
