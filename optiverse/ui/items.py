"""The graphics item of one component: its body to scale, a label, a rotation handle.

Items never change the scene themselves.  Mouse presses and drags on an item
or its handle are handed to an :class:`ItemController` (the canvas), which
turns them into document edits; the document's change signal then calls
:meth:`ComponentItem.set_component` and the item redraws.
"""

from __future__ import annotations

import math
from typing import Protocol

from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PyQt6.QtWidgets import (
    QGraphicsItem,
    QGraphicsSceneHoverEvent,
    QGraphicsSceneMouseEvent,
    QStyleOptionGraphicsItem,
    QWidget,
)

from optiverse.scene import Component, Mirror, Source
from optiverse.ui.coords import qt_from_mm, qt_rotation
from optiverse.ui.shapes import KIND_STYLE, body_path, pick_rect

__all__ = ["ComponentItem", "ItemController", "LabelItem", "RotateHandle", "label_text"]

SELECTION_COLOR = QColor("#1e88e5")
HANDLE_RADIUS_PX = 6.0
# Below this size on screen a component is drawn as a plain stroke.
TINY_PX = 4.0


class ItemController(Protocol):
    """What the canvas does with mouse input on items."""

    def component_pressed(self, item: ComponentItem, event: QGraphicsSceneMouseEvent) -> None: ...
    def component_dragged(self, item: ComponentItem, event: QGraphicsSceneMouseEvent) -> None: ...
    def component_released(self, item: ComponentItem, event: QGraphicsSceneMouseEvent) -> None: ...
    def handle_pressed(self, item: ComponentItem, event: QGraphicsSceneMouseEvent) -> None: ...
    def handle_dragged(self, item: ComponentItem, event: QGraphicsSceneMouseEvent) -> None: ...
    def handle_released(self, item: ComponentItem, event: QGraphicsSceneMouseEvent) -> None: ...


def label_text(component_id: str, comp: Component) -> str:
    """What the canvas writes under a component: its name, else its kind and id."""
    return comp.name or f"{KIND_STYLE[comp.kind].title} {component_id}"


class _KindPens:
    def __init__(self, kind: str) -> None:
        style = KIND_STYLE[kind]
        self.outline = QPen(style.outline, 1.0)
        self.outline.setCosmetic(True)
        self.fill = QBrush(style.fill)
        # A stroke along the optic: all of a component too small to draw, and
        # a mirror's reflecting face.
        self.stroke = QPen(style.outline, 2.0)
        self.stroke.setCosmetic(True)


_PENS: dict[str, _KindPens] = {}


def _kind_pens(kind: str) -> _KindPens:
    # Built once per kind: a scene repaints every component on every frame.
    pens = _PENS.get(kind)
    if pens is None:
        pens = _PENS[kind] = _KindPens(kind)
    return pens


_FACE_PENS: dict[str, QPen] = {}


def _face_pen(color: str) -> QPen:
    pen = _FACE_PENS.get(color)
    if pen is None:
        pen = _FACE_PENS[color] = QPen(QColor(color), 3.0)
        pen.setCosmetic(True)
        pen.setCapStyle(Qt.PenCapStyle.FlatCap)
    return pen


def _px_per_unit(painter: QPainter) -> float:
    t = painter.worldTransform()
    return math.hypot(t.m11(), t.m12()) or 1.0


class ComponentItem(QGraphicsItem):
    """One component, drawn from the scene's current value of it."""

    def __init__(self, component_id: str, comp: Component, controller: ItemController) -> None:
        super().__init__()
        self.component_id = component_id
        self.controller = controller
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.peer_colors: list[QColor] = []
        self.label = LabelItem(self)
        self.handle = RotateHandle(self)
        self.component = comp
        self._body = QPainterPath()
        self._rect: QRectF | None = None
        self._half_height = 0.0
        self._pick = QRectF()
        self._bounds = QRectF()
        self._update_geometry()
        self.set_component(comp)

    # --- state from the document ---------------------------------------------

    def set_component(self, comp: Component) -> None:
        """Show ``comp`` (the component's current value in the scene)."""
        old, self.component = self.component, comp
        if _geometry_key(comp) != _geometry_key(old):
            self._update_geometry()
        self.setPos(qt_from_mm(comp.x_mm, comp.y_mm))
        self.setRotation(qt_rotation(comp.angle_deg))
        self.label.set_text(label_text(self.component_id, comp), locked=comp.locked)
        self._place_children()
        self.setCursor(Qt.CursorShape.ArrowCursor if comp.locked else Qt.CursorShape.SizeAllCursor)
        self.update()

    def _update_geometry(self) -> None:
        self.prepareGeometryChange()
        self._body = body_path(self.component)
        # Rectangular bodies are drawn with drawRect: much cheaper than a path.
        self._rect = self._body.boundingRect() if self.component.kind != "lens" else None
        self._half_height = self._body.boundingRect().height() / 2
        self._pick = pick_rect(self.component)
        reach = self.handle_distance()
        self._bounds = self._pick.united(self._body.boundingRect()).united(
            QRectF(0.0, -1.0, reach, 2.0)
        )

    def set_peer_colors(self, colors: list[QColor]) -> None:
        """Outline the component in the colours of the other people who have it selected."""
        if [c.name() for c in colors] != [c.name() for c in self.peer_colors]:
            self.peer_colors = list(colors)
            self.update()

    def handle_distance(self) -> float:
        """How far along the optical axis the rotation handle sits, in mm."""
        rect = self._pick
        return max(rect.right(), rect.height() / 2) + max(4.0, rect.height() * 0.25)

    def body_scene_rect(self) -> QRectF:
        return self.mapRectToScene(self._body.boundingRect())

    def _place_children(self) -> None:
        body = self.body_scene_rect()
        anchor = QPointF(body.center().x(), body.bottom())
        self.label.setPos(self.mapFromScene(anchor))
        self.handle.setPos(QPointF(self.handle_distance(), 0.0))
        self.handle.setVisible(self.isSelected() and not self.component.locked)

    # --- QGraphicsItem ------------------------------------------------------

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(self._pick)
        return path

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: object) -> object:
        if change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.handle.setVisible(bool(value) and not self.component.locked)
        return super().itemChange(change, value)

    def paint(
        self,
        painter: QPainter | None,
        option: QStyleOptionGraphicsItem | None,
        widget: QWidget | None = None,
    ) -> None:
        if painter is None:
            return
        px = _px_per_unit(painter)
        pens = _kind_pens(self.component.kind)
        half = self._half_height
        if 2.0 * half * px < TINY_PX:
            # Too small to show a shape: a stroke along the optic is what reads.
            painter.setPen(pens.stroke)
            painter.drawLine(QPointF(0.0, -half), QPointF(0.0, half))
        else:
            painter.setPen(pens.outline)
            painter.setBrush(pens.fill)
            if self._rect is not None:
                painter.drawRect(self._rect)
            else:
                painter.drawPath(self._body)
            self._paint_details(painter)
        for i, color in enumerate(self.peer_colors):
            margin = (4.0 + 3.0 * i) / px
            pen = QPen(color, 2.0)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(self._body.boundingRect().adjusted(-margin, -margin, margin, margin))
        if self.isSelected():
            margin = 2.5 / px
            pen = QPen(SELECTION_COLOR, 1.5, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(self._pick.adjusted(-margin, -margin, margin, margin))
            if not self.component.locked:
                pen.setStyle(Qt.PenStyle.DotLine)
                painter.setPen(pen)
                painter.drawLine(QPointF(0.0, 0.0), QPointF(self.handle_distance(), 0.0))

    def _paint_details(self, painter: QPainter) -> None:
        comp = self.component
        if isinstance(comp, Source):
            # The emitting face, in the beam's colour.
            painter.setPen(_face_pen(comp.color))
            half = max(comp.aperture_mm, 0.5) / 2
            painter.drawLine(QPointF(0.0, -half), QPointF(0.0, half))
        elif isinstance(comp, Mirror):
            painter.setPen(_kind_pens("mirror").stroke)
            half = comp.length_mm / 2
            painter.drawLine(QPointF(0.0, -half), QPointF(0.0, half))

    # --- input: handed to the controller --------------------------------------

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent | None) -> None:
        if event is None or event.button() != Qt.MouseButton.LeftButton:
            if event is not None:
                event.ignore()
            return
        self.controller.component_pressed(self, event)

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent | None) -> None:
        if event is not None:
            self.controller.component_dragged(self, event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent | None) -> None:
        if event is not None:
            self.controller.component_released(self, event)

    def hoverEnterEvent(self, event: QGraphicsSceneHoverEvent | None) -> None:
        self.label.set_hover(True)
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event: QGraphicsSceneHoverEvent | None) -> None:
        self.label.set_hover(False)
        super().hoverLeaveEvent(event)


def _geometry_key(comp: Component) -> tuple[object, ...]:
    return (
        comp.kind,
        getattr(comp, "length_mm", None),
        getattr(comp, "aperture_mm", None),
        getattr(comp, "efl_mm", 1.0) > 0,
    )


class LabelItem(QGraphicsItem):
    """The name under a component, at a constant size on screen and never rotated."""

    def __init__(self, parent: ComponentItem) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        # Labels are never rotated, so Qt can keep them as pixmaps (a rotated
        # item cannot use the device cache, so components are painted directly).
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._font = QFont()
        self._font.setPointSizeF(8.5)
        self._text = ""
        self._locked = False
        self._hover = False
        self._rect = QRectF()

    @property
    def text(self) -> str:
        return self._text

    def set_text(self, text: str, *, locked: bool) -> None:
        if text == self._text and locked == self._locked:
            return
        self.prepareGeometryChange()
        self._text, self._locked = text, locked
        metrics = QFontMetricsF(self._font)
        width = metrics.horizontalAdvance(text) + (14.0 if locked else 0.0) + 6.0
        self._rect = QRectF(-width / 2, 3.0, width, metrics.height() + 2.0)

    def set_hover(self, hover: bool) -> None:
        self._hover = hover
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(
        self,
        painter: QPainter | None,
        option: QStyleOptionGraphicsItem | None,
        widget: QWidget | None = None,
    ) -> None:
        if painter is None or not self._text:
            return
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(255, 255, 255, 230 if self._hover else 170))
        painter.drawRoundedRect(self._rect, 3.0, 3.0)
        painter.setFont(self._font)
        painter.setPen(QColor("#1f2933"))
        text_rect = self._rect.adjusted(3.0, 1.0, -3.0, -1.0)
        if self._locked:
            _paint_padlock(painter, QPointF(text_rect.left() + 5.0, text_rect.center().y()))
            text_rect.setLeft(text_rect.left() + 14.0)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignCenter, self._text)


def _paint_padlock(painter: QPainter, centre: QPointF) -> None:
    painter.save()
    painter.setPen(QPen(QColor("#52606d"), 1.2))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawArc(QRectF(centre.x() - 3.0, centre.y() - 6.0, 6.0, 7.0), 0, 180 * 16)
    painter.setBrush(QColor("#52606d"))
    painter.drawRect(QRectF(centre.x() - 4.0, centre.y() - 2.0, 8.0, 6.0))
    painter.restore()


class RotateHandle(QGraphicsItem):
    """A knob on the optical axis; dragging it turns the selection."""

    def __init__(self, parent: ComponentItem) -> None:
        super().__init__(parent)
        self.owner = parent
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Drag to rotate (Shift: 15° steps)")
        self.setVisible(False)
        # Above the label and the other components, so it always catches the press.
        self.setZValue(1.0)

    def boundingRect(self) -> QRectF:
        r = HANDLE_RADIUS_PX + 1.0
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(
        self,
        painter: QPainter | None,
        option: QStyleOptionGraphicsItem | None,
        widget: QWidget | None = None,
    ) -> None:
        if painter is None:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(SELECTION_COLOR, 1.5))
        painter.setBrush(QColor("white"))
        r = HANDLE_RADIUS_PX
        painter.drawEllipse(QRectF(-r, -r, 2 * r, 2 * r))

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent | None) -> None:
        if event is None or event.button() != Qt.MouseButton.LeftButton:
            if event is not None:
                event.ignore()
            return
        self.owner.controller.handle_pressed(self.owner, event)

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent | None) -> None:
        if event is not None:
            self.owner.controller.handle_dragged(self.owner, event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent | None) -> None:
        if event is not None:
            self.owner.controller.handle_released(self.owner, event)
