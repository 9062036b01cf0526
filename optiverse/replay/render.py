"""Render a scene and its traced rays to a PNG, offscreen.

The only replay module that needs PyQt6, and it imports it only when
:func:`render_png` runs, so the rest of the replay tools work without Qt.
``QT_QPA_PLATFORM`` is set to ``offscreen`` if unset, so no display is needed.

The picture is for debugging, not the app's look: a white bench, optics as
line segments (lens blue, mirror grey, beamsplitter teal, block black),
sources as dots in their ray colour, and every ray segment in its source's
colour with opacity following its intensity.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import numpy as np

from optiverse.replay.errors import ReplayError
from optiverse.scene import Scene, Source

if TYPE_CHECKING:
    from optiverse.optics import PreparedScene, TraceResult

__all__ = ["Viewport", "fit_viewport", "render_png"]

_ELEMENT_COLORS = {0: "#1F5FBF", 1: "#707070", 2: "#138A8A", 3: "#000000"}
_MARGIN = 0.05
_APP: object = None


@attrs.frozen
class Viewport:
    """Maps scene millimetres (y up) to image pixels (y down), one scale for both axes."""

    width: int
    height: int
    scale: float
    x0_mm: float
    y0_mm: float

    def to_pixel(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        return (
            (x_mm - self.x0_mm) * self.scale,
            self.height - (y_mm - self.y0_mm) * self.scale,
        )


def fit_viewport(points_mm: np.ndarray, width: int, height: int) -> Viewport:
    """The viewport showing every point (an (N, 2) array) with a margin, centred."""
    if len(points_mm) == 0:
        points_mm = np.array([[-50.0, -50.0], [50.0, 50.0]])
    lo, hi = points_mm.min(axis=0), points_mm.max(axis=0)
    span = np.maximum(hi - lo, 1.0) * (1 + 2 * _MARGIN)
    scale = float(min(width / span[0], height / span[1]))
    centre = (lo + hi) / 2
    return Viewport(
        width,
        height,
        scale,
        float(centre[0] - width / scale / 2),
        float(centre[1] - height / scale / 2),
    )


def _scene_points(prepared: PreparedScene, traced: TraceResult) -> np.ndarray:
    parts = [
        prepared.elements.start.reshape(-1, 2),
        (prepared.elements.start + prepared.elements.span).reshape(-1, 2),
        prepared.launch.origin.reshape(-1, 2),
    ]
    parts.append(traced.points)
    return np.concatenate(parts) if parts else np.zeros((0, 2))


def render_png(scene: Scene, path: str | Path, width: int = 1200, height: int = 800) -> Viewport:
    """Trace ``scene`` and write the picture to ``path``; returns the viewport used."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        from PyQt6.QtCore import QLineF, QPointF, Qt
        from PyQt6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPen
    except ImportError as exc:
        raise ReplayError(f"render needs PyQt6 (pip install 'optiverse[app]'): {exc}") from None

    from optiverse.optics import prepare, trace_prepared

    prepared = prepare(scene)
    traced = trace_prepared(prepared)
    view = fit_viewport(_scene_points(prepared, traced), width, height)

    # QPainter's raster engine wants a QGuiApplication; make one only if the
    # caller (the app, a test) has none, and keep it: Qt dislikes a second one.
    global _APP
    if QGuiApplication.instance() is None:
        _APP = QGuiApplication(["optiverse-replay"])
    image = QImage(width, height, QImage.Format.Format_ARGB32)
    image.fill(QColor("#FFFFFF"))
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)

        def point(x: float, y: float) -> QPointF:
            return QPointF(*view.to_pixel(x, y))

        for ray in traced.paths:
            color = QColor(ray.color)
            pts = ray.points
            for i, intensity in enumerate(ray.intensities):
                color.setAlphaF(float(min(1.0, max(0.15, intensity))))
                painter.setPen(QPen(color, 2.0))
                painter.drawLine(QLineF(point(*pts[i]), point(*pts[i + 1])))

        elements = prepared.elements
        for i in range(len(elements)):
            pen = QPen(QColor(_ELEMENT_COLORS.get(int(elements.kinds[i]), "#000000")), 4.0)
            pen.setCapStyle(Qt.PenCapStyle.FlatCap)
            painter.setPen(pen)
            start = elements.start[i]
            end = start + elements.span[i]
            painter.drawLine(QLineF(point(*start), point(*end)))

        painter.setPen(Qt.PenStyle.NoPen)
        for comp in scene.components.values():
            if isinstance(comp, Source):
                painter.setBrush(QColor(comp.color))
                painter.drawEllipse(point(comp.x_mm, comp.y_mm), 5.0, 5.0)
    finally:
        painter.end()
    if not image.save(str(path), "PNG"):
        raise ReplayError(f"cannot write {os.fspath(path)!r}")
    return view
