"""Mouse gestures on components turned into document edits: select, drag, rotate.

A drag sends one ``move_components(..., final=False)`` per mouse step and a
``final=True`` step on release, so the document merges the whole drag into
one undo entry.  Steps aim at an absolute target (where the grabbed component
started plus how far the mouse went), not at a mouse delta: if someone else
moves the component mid-drag, my next step puts it back under my cursor
instead of the two edits adding up and the component sliding away.
"""

from __future__ import annotations

import math

import attrs
from PyQt6.QtCore import QObject, QPointF, Qt, QTimer
from PyQt6.QtWidgets import QApplication, QGraphicsScene, QGraphicsSceneMouseEvent

from optiverse.scene import Component
from optiverse.scene.components import MAX_COORD_MM
from optiverse.ui.coords import mm_from_qt
from optiverse.ui.document import SceneDocument
from optiverse.ui.items import ComponentItem

__all__ = ["SNAP_DEG", "WHEEL_STEP_DEG", "EditGestures", "constrain_to_axis", "snap_angle"]

WHEEL_STEP_DEG = 2.0
SNAP_DEG = 15.0
# Ctrl+wheel notches closer together than this make one undo step.
WHEEL_MERGE_MS = 400


def constrain_to_axis(dx: float, dy: float) -> tuple[float, float]:
    """(dx, dy) with the smaller component dropped: Shift-drag moves along one axis."""
    return (dx, 0.0) if abs(dx) >= abs(dy) else (0.0, dy)


def snap_angle(angle_deg: float, step: float = SNAP_DEG) -> float:
    """The multiple of ``step`` nearest ``angle_deg``."""
    return round(angle_deg / step) * step


def next_snap(angle_deg: float, direction: int, step: float = SNAP_DEG) -> float:
    """The next multiple of ``step`` strictly beyond ``angle_deg`` in ``direction`` (+1/-1)."""
    index = angle_deg / step
    # Tolerance so an angle already on the grid moves on to the next one.
    target = math.floor(index + 1e-6) + 1 if direction > 0 else math.ceil(index - 1e-6) - 1
    return target * step


def _wrap180(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


@attrs.define
class _Drag:
    anchor: str
    ids: list[str]
    press_mm: tuple[float, float]
    start_mm: tuple[float, float]
    press_screen: QPointF
    started: bool = False


@attrs.define
class _Rotate:
    anchor: str
    ids: list[str]
    centre: tuple[float, float]
    bearing0: float | None
    angle0: float


class EditGestures(QObject):
    """The canvas's :class:`~optiverse.ui.items.ItemController`."""

    def __init__(self, document: SceneDocument, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self._scene: QGraphicsScene | None = None
        self._drag: _Drag | None = None
        self._rotate: _Rotate | None = None
        self._narrow_on_release: ComponentItem | None = None
        self._wheel_ids: list[str] = []
        self._wheel_timer = QTimer(self)
        self._wheel_timer.setSingleShot(True)
        self._wheel_timer.setInterval(WHEEL_MERGE_MS)
        self._wheel_timer.timeout.connect(self.finish_wheel_rotation)

    def attach(self, scene: QGraphicsScene) -> None:
        self._scene = scene

    # --- selection helpers ------------------------------------------------

    def _selected_items(self) -> list[ComponentItem]:
        if self._scene is None:
            return []
        return [i for i in self._scene.selectedItems() if isinstance(i, ComponentItem)]

    def _unlocked(self, ids: list[str]) -> list[str]:
        out = []
        for cid in ids:
            comp = self.document.scene.get(cid)
            if comp is not None and not comp.locked:
                out.append(cid)
        return out

    def _select_only(self, item: ComponentItem) -> None:
        if self._scene is not None:
            self._scene.clearSelection()
        item.setSelected(True)

    # --- moving -----------------------------------------------------------

    def component_pressed(self, item: ComponentItem, event: QGraphicsSceneMouseEvent) -> None:
        event.accept()
        self._narrow_on_release = None
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            item.setSelected(not item.isSelected())
            return
        if not item.isSelected():
            self._select_only(item)
        elif len(self._selected_items()) > 1:
            # Pressing one of several selected components keeps them all for a
            # drag; a click without a drag selects just this one (as in Qt).
            self._narrow_on_release = item
        comp = self.document.scene.get(item.component_id)
        ids = self._unlocked([i.component_id for i in self._selected_items()])
        if comp is None or comp.locked or not ids:
            return
        self._drag = _Drag(
            anchor=item.component_id,
            ids=ids,
            press_mm=mm_from_qt(event.scenePos()),
            start_mm=(comp.x_mm, comp.y_mm),
            press_screen=event.screenPos().toPointF(),
        )

    def component_dragged(self, item: ComponentItem, event: QGraphicsSceneMouseEvent) -> None:
        drag = self._drag
        if drag is None:
            return
        if not drag.started:
            moved = event.screenPos().toPointF() - drag.press_screen
            if moved.manhattanLength() < QApplication.startDragDistance():
                return
            drag.started = True
            self._narrow_on_release = None
        self._move_step(drag, event, final=False)

    def component_released(self, item: ComponentItem, event: QGraphicsSceneMouseEvent) -> None:
        drag, self._drag = self._drag, None
        if drag is not None and drag.started:
            self._move_step(drag, event, final=True)
        elif self._narrow_on_release is item:
            self._select_only(item)
        self._narrow_on_release = None

    def _move_step(self, drag: _Drag, event: QGraphicsSceneMouseEvent, *, final: bool) -> None:
        anchor = self.document.scene.get(drag.anchor)
        ids = self._unlocked(drag.ids)
        if anchor is None or not ids:
            # Deleted or locked by someone else mid-drag: the drag ends here.
            self._drag = None
            return
        x, y = mm_from_qt(event.scenePos())
        dx, dy = x - drag.press_mm[0], y - drag.press_mm[1]
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            dx, dy = constrain_to_axis(dx, dy)
        tx = _clamp(drag.start_mm[0] + dx)
        ty = _clamp(drag.start_mm[1] + dy)
        self.document.move_components(ids, tx - anchor.x_mm, ty - anchor.y_mm, final=final)

    # --- rotating with the handle -------------------------------------------

    def handle_pressed(self, item: ComponentItem, event: QGraphicsSceneMouseEvent) -> None:
        event.accept()
        if not item.isSelected():
            self._select_only(item)
        ids = self._unlocked([i.component_id for i in self._selected_items()])
        anchor = self.document.scene.get(item.component_id)
        if anchor is None or item.component_id not in ids:
            return
        centre = _rotation_centre(self.document, ids, anchor)
        self._rotate = _Rotate(
            anchor=item.component_id,
            ids=ids,
            centre=centre,
            bearing0=_bearing(centre, mm_from_qt(event.scenePos())),
            angle0=anchor.angle_deg,
        )

    def handle_dragged(self, item: ComponentItem, event: QGraphicsSceneMouseEvent) -> None:
        self._rotate_step(event, final=False)

    def handle_released(self, item: ComponentItem, event: QGraphicsSceneMouseEvent) -> None:
        self._rotate_step(event, final=True)
        self._rotate = None

    def _rotate_step(self, event: QGraphicsSceneMouseEvent, *, final: bool) -> None:
        rot = self._rotate
        if rot is None:
            return
        anchor = self.document.scene.get(rot.anchor)
        ids = self._unlocked(rot.ids)
        if anchor is None or not ids:
            self._rotate = None
            return
        bearing = _bearing(rot.centre, mm_from_qt(event.scenePos()))
        if bearing is None or rot.bearing0 is None:
            return
        # The group turns rigidly about a fixed centre, so the anchor turns by
        # exactly as much as the cursor's bearing from that centre.
        target = rot.angle0 + bearing - rot.bearing0
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            target = snap_angle(target)
        self.document.rotate_components(ids, _wrap180(target - anchor.angle_deg), final=final)

    # --- rotating with Ctrl+wheel -----------------------------------------

    def wheel_rotate(self, notches: float, *, snap: bool) -> bool:
        """Turn the selection by wheel notches; False if nothing can turn."""
        ids = self._unlocked([i.component_id for i in self._selected_items()])
        if not ids or notches == 0:
            return False
        if self._wheel_ids and self._wheel_ids != ids:
            self.finish_wheel_rotation()
        anchor = self.document.scene.get(ids[0])
        assert anchor is not None
        if snap:
            ddeg = next_snap(anchor.angle_deg, 1 if notches > 0 else -1) - anchor.angle_deg
        else:
            ddeg = notches * WHEEL_STEP_DEG
        self._wheel_ids = ids
        self.document.rotate_components(ids, ddeg, final=False)
        self._wheel_timer.start()
        return True

    def finish_wheel_rotation(self) -> None:
        """End the current run of wheel notches (one undo step)."""
        self._wheel_timer.stop()
        ids, self._wheel_ids = self._wheel_ids, []
        if ids:
            self.document.rotate_components(self._unlocked(ids), 0.0, final=True)


def _clamp(value: float) -> float:
    return max(-MAX_COORD_MM, min(MAX_COORD_MM, value))


def _bearing(centre: tuple[float, float], point: tuple[float, float]) -> float | None:
    dx, dy = point[0] - centre[0], point[1] - centre[1]
    if math.hypot(dx, dy) < 1e-9:
        return None
    return math.degrees(math.atan2(dy, dx))


def _rotation_centre(
    document: SceneDocument, ids: list[str], anchor: Component
) -> tuple[float, float]:
    # One component turns in place; several turn about their centroid (as the
    # document rotates them), so the handle's bearing is taken from there.
    if len(ids) == 1:
        return anchor.x_mm, anchor.y_mm
    comps = [c for c in (document.scene.get(i) for i in ids) if c is not None]
    return (
        sum(c.x_mm for c in comps) / len(comps),
        sum(c.y_mm for c in comps) / len(comps),
    )
