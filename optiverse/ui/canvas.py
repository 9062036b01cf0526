"""The bench view: millimetre grid, zoom, pan and fit.

One Qt scene unit is one millimetre (see :mod:`optiverse.ui.coords`).  The
grid is painted in ``drawBackground`` for the visible rectangle only, with a
spacing chosen from the zoom so lines stay 10-100 px apart.
"""

from __future__ import annotations

import math

from PyQt6.QtCore import QEvent, QLineF, QPoint, QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import (
    QColor,
    QFocusEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QWheelEvent,
)
from PyQt6.QtWidgets import QGraphicsView, QWidget

from optiverse.ui.bench_scene import BenchScene
from optiverse.ui.coords import mm_from_qt
from optiverse.ui.grid import grid_steps
from optiverse.ui.interaction import EditGestures

__all__ = ["DEFAULT_SCALE", "MAX_SCALE", "MIN_SCALE", "BenchView", "format_length"]

MIN_SCALE = 0.01  # px per mm: 10 m across a 1000 px window
MAX_SCALE = 100.0
DEFAULT_SCALE = 2.0
ZOOM_STEP = 1.15
FIT_MARGIN = 0.12

BACKGROUND = QColor("#fbfcfd")
MINOR_LINE = QColor("#edf0f3")
MAJOR_LINE = QColor("#d9dee4")
AXIS_LINE = QColor("#b4bdc7")


def format_length(mm: float) -> str:
    """A grid spacing as people say it: 500 µm, 2 mm, 5 cm, 1 m."""
    if mm >= 1000:
        return f"{mm / 1000:g} m"
    if mm >= 10:
        return f"{mm / 10:g} cm"
    if mm >= 1:
        return f"{mm:g} mm"
    return f"{mm * 1000:g} µm"


class BenchView(QGraphicsView):
    """Shows a :class:`BenchScene`; wheel zooms, middle or Space+drag pans, Ctrl+wheel rotates."""

    zoomChanged = pyqtSignal(float)  # px per mm
    cursorMoved = pyqtSignal(object)  # (x_mm, y_mm), or None when the cursor leaves

    def __init__(
        self, scene: BenchScene, gestures: EditGestures, parent: QWidget | None = None
    ) -> None:
        super().__init__(scene, parent)
        self.bench = scene
        self.gestures = gestures
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        # Cosmetic pens and fixed-size labels reach outside item bounds by a
        # zoom-dependent amount; a full repaint is simplest and cheap enough.
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pan_from: QPoint | None = None
        self._space_down = False
        self.set_scale(DEFAULT_SCALE)
        self.centerOn(0.0, 0.0)

    # --- zoom ---------------------------------------------------------------

    @property
    def scale_px_per_mm(self) -> float:
        t = self.transform()
        return math.hypot(t.m11(), t.m12())

    def set_scale(self, px_per_mm: float) -> None:
        """Zoom to ``px_per_mm`` (clamped), keeping the view centre."""
        px = min(MAX_SCALE, max(MIN_SCALE, px_per_mm))
        anchor = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.resetTransform()
        self.scale(px, px)
        self.setTransformationAnchor(anchor)
        self.zoomChanged.emit(px)

    def zoom_by(self, factor: float) -> None:
        """Zoom by ``factor`` about the cursor (or the view centre), within the limits."""
        current = self.scale_px_per_mm
        target = min(MAX_SCALE, max(MIN_SCALE, current * factor))
        if target != current:
            self.scale(target / current, target / current)
            self.zoomChanged.emit(target)

    def fit_to_scene(self) -> None:
        """Show every component, with a margin; an empty bench shows the origin."""
        rect = self.bench.components_rect()
        if rect.isNull() or rect.isEmpty():
            self.set_scale(DEFAULT_SCALE)
            self.centerOn(rect.center() if not rect.isNull() else QPointF(0.0, 0.0))
            return
        size = max(rect.width(), rect.height(), 20.0)
        margin = size * FIT_MARGIN
        rect = rect.adjusted(-margin, -margin, margin, margin)
        viewport = self._viewport()
        px = min(viewport.width() / rect.width(), viewport.height() / rect.height())
        self.set_scale(px)
        self.centerOn(rect.center())

    def visible_rect_mm(self) -> QRectF:
        """What the viewport shows, in Qt scene coordinates."""
        return self.mapToScene(self._viewport().rect()).boundingRect()

    # --- painting -------------------------------------------------------------

    def drawBackground(self, painter: QPainter | None, rect: QRectF) -> None:
        if painter is None:
            return
        painter.fillRect(rect, BACKGROUND)
        minor, major = grid_steps(self.scale_px_per_mm)
        minor_lines: list[QLineF] = []
        major_lines: list[QLineF] = []
        for lo, hi, vertical in (
            (rect.left(), rect.right(), True),
            (rect.top(), rect.bottom(), False),
        ):
            first = math.floor(lo / minor)
            last = math.ceil(hi / minor)
            for index in range(first, last + 1):
                value = index * minor
                if vertical:
                    line = QLineF(value, rect.top(), value, rect.bottom())
                else:
                    line = QLineF(rect.left(), value, rect.right(), value)
                on_major = abs(value / major - round(value / major)) < 1e-6
                (major_lines if on_major else minor_lines).append(line)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        for color, lines in ((MINOR_LINE, minor_lines), (MAJOR_LINE, major_lines)):
            pen = QPen(color, 1.0)
            pen.setCosmetic(True)
            painter.setPen(pen)
            if lines:
                painter.drawLines(*lines)
        pen = QPen(AXIS_LINE, 1.0)
        pen.setCosmetic(True)
        painter.setPen(pen)
        if rect.left() <= 0 <= rect.right():
            painter.drawLine(QLineF(0.0, rect.top(), 0.0, rect.bottom()))
        if rect.top() <= 0 <= rect.bottom():
            painter.drawLine(QLineF(rect.left(), 0.0, rect.right(), 0.0))

    def drawForeground(self, painter: QPainter | None, rect: QRectF) -> None:
        if painter is None:
            return
        # The grid legend, in viewport pixels at the bottom-left corner.
        minor, _ = grid_steps(self.scale_px_per_mm)
        painter.save()
        painter.resetTransform()
        viewport = self._viewport()
        text = f"grid {format_length(minor)}"
        painter.setPen(QColor("#7b8794"))
        painter.drawText(QPointF(8.0, viewport.height() - 8.0), text)
        painter.restore()

    # --- input ---------------------------------------------------------------

    def wheelEvent(self, event: QWheelEvent | None) -> None:
        if event is None:
            return
        delta = event.angleDelta()
        # Some platforms turn Shift+wheel into a horizontal scroll.
        steps = (delta.y() or delta.x()) / 120.0
        mods = event.modifiers()
        if mods & Qt.KeyboardModifier.ControlModifier:
            snap = bool(mods & Qt.KeyboardModifier.ShiftModifier)
            self.gestures.wheel_rotate(steps, snap=snap)
            event.accept()
            return
        if steps:
            self.zoom_by(ZOOM_STEP**steps)
        event.accept()

    def mousePressEvent(self, event: QMouseEvent | None) -> None:
        if event is None:
            return
        panning = event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space_down
        )
        if panning:
            self._pan_from = event.position().toPoint()
            self._viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent | None) -> None:
        if event is None:
            return
        pos = event.position().toPoint()
        if self._pan_from is not None:
            delta = pos - self._pan_from
            self._pan_from = pos
            self.pan_by(delta.x(), delta.y())
            event.accept()
        else:
            super().mouseMoveEvent(event)
        self.cursorMoved.emit(mm_from_qt(self.mapToScene(pos)))

    def mouseReleaseEvent(self, event: QMouseEvent | None) -> None:
        if event is None:
            return
        if self._pan_from is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._pan_from = None
            self._update_cursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def pan_by(self, dx_px: int, dy_px: int) -> None:
        """Scroll the view so the content moves by (dx, dy) pixels."""
        hbar, vbar = self.horizontalScrollBar(), self.verticalScrollBar()
        assert hbar is not None and vbar is not None
        hbar.setValue(hbar.value() - dx_px)
        vbar.setValue(vbar.value() - dy_px)

    def keyPressEvent(self, event: QKeyEvent | None) -> None:
        if event is not None and event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_down = True
                self._update_cursor()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent | None) -> None:
        if event is not None and event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_down = False
                self._update_cursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def leaveEvent(self, event: QEvent | None) -> None:
        self.cursorMoved.emit(None)
        super().leaveEvent(event)

    def focusOutEvent(self, event: QFocusEvent | None) -> None:
        # A Space released while another widget had focus must not leave pan mode on.
        self._space_down = False
        self._update_cursor()
        super().focusOutEvent(event)

    def _viewport(self) -> QWidget:
        viewport = self.viewport()
        assert viewport is not None
        return viewport

    def _update_cursor(self) -> None:
        viewport = self._viewport()
        if self._space_down:
            viewport.setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            viewport.unsetCursor()
