"""The QGraphicsScene that mirrors the document: one item per component, plus the rays.

It listens to the document's change signals and updates only the items
named, so a remote drag of one component touches one item.  Items keep their
identity across edits, which keeps the selection across remote changes.
"""

from __future__ import annotations

from collections.abc import Iterable

from PyQt6.QtCore import QObject, QRectF
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QGraphicsScene

from optiverse.scene.components import MAX_COORD_MM
from optiverse.ui.document import SceneDocument
from optiverse.ui.items import ComponentItem, ItemController
from optiverse.ui.rays_item import RaysItem

__all__ = ["RAYS_Z", "BenchScene"]

# Components stack by draw rank (0, 1, ...); rays go over them and under overlays.
RAYS_Z = 1e7
OVERLAY_Z = 2e7


class BenchScene(QGraphicsScene):
    """Graphics items for ``document.scene``."""

    def __init__(
        self,
        document: SceneDocument,
        controller: ItemController,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.controller = controller
        self.items_by_id: dict[str, ComponentItem] = {}
        self._peer_selection: dict[str, tuple[QColor, frozenset[str]]] = {}
        self._peer_colors: dict[str, list[QColor]] = {}
        # Room to pan far past the components, within the scene's coordinate range.
        self.setSceneRect(QRectF(-MAX_COORD_MM, -MAX_COORD_MM, 2 * MAX_COORD_MM, 2 * MAX_COORD_MM))
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self.rays = RaysItem()
        self.rays.setZValue(RAYS_Z)
        self.addItem(self.rays)
        document.componentsChanged.connect(self.update_components)
        document.sceneReset.connect(self.rebuild)
        self.rebuild()

    # --- document -> items -------------------------------------------------

    def rebuild(self) -> None:
        """Drop every item and make them again from the scene."""
        for item in self.items_by_id.values():
            self.removeItem(item)
        self.items_by_id.clear()
        self.update_components(set(self.document.scene.components))

    def update_components(self, ids: Iterable[str]) -> None:
        """Create, update or remove the items of ``ids`` to match the scene."""
        restack = False
        for cid in ids:
            comp = self.document.scene.get(cid)
            item = self.items_by_id.get(cid)
            if comp is None:
                if item is not None:
                    self.removeItem(item)
                    del self.items_by_id[cid]
                continue
            if item is None:
                item = ComponentItem(cid, comp, self.controller)
                item.set_peer_colors(self._peer_colors.get(cid, []))
                self.items_by_id[cid] = item
                self.addItem(item)
                restack = True
            else:
                restack = restack or item.component.z != comp.z
                item.set_component(comp)
        if restack:
            self._restack()

    def _restack(self) -> None:
        for rank, (cid, _) in enumerate(self.document.scene.in_draw_order()):
            item = self.items_by_id.get(cid)
            if item is not None:
                item.setZValue(float(rank))

    # --- selection ----------------------------------------------------------

    def selected_ids(self) -> list[str]:
        """Selected component ids, bottom to top."""
        selected = {i.component_id for i in self.selectedItems() if isinstance(i, ComponentItem)}
        return [cid for cid, _ in self.document.scene.in_draw_order() if cid in selected]

    def select_ids(self, ids: Iterable[str]) -> None:
        """Select exactly ``ids`` (those that exist)."""
        wanted = set(ids)
        # One selectionChanged for the whole change, not one per item.
        self.blockSignals(True)
        try:
            for cid, item in self.items_by_id.items():
                item.setSelected(cid in wanted)
        finally:
            self.blockSignals(False)
        self.selectionChanged.emit()

    def components_rect(self) -> QRectF:
        """The bounding rectangle of all components in Qt scene coordinates."""
        rect = QRectF()
        for item in self.items_by_id.values():
            rect = rect.united(item.sceneBoundingRect())
        return rect

    # --- other people's selections ------------------------------------------

    def set_peer_selection(self, client: str, color: QColor, ids: Iterable[str]) -> None:
        """Outline ``ids`` in ``color`` for another person (``client``)."""
        self._peer_selection[client] = (color, frozenset(ids))
        self._apply_peer_colors()

    def clear_peer_selection(self, client: str) -> None:
        if self._peer_selection.pop(client, None) is not None:
            self._apply_peer_colors()

    def clear_peer_selections(self) -> None:
        self._peer_selection.clear()
        self._apply_peer_colors()

    def _apply_peer_colors(self) -> None:
        colors: dict[str, list[QColor]] = {}
        for client in sorted(self._peer_selection):
            color, ids = self._peer_selection[client]
            for cid in ids:
                colors.setdefault(cid, []).append(color)
        # Only items whose outlines change are touched: a scene can be large.
        for cid in set(colors) | set(self._peer_colors):
            item = self.items_by_id.get(cid)
            if item is not None:
                item.set_peer_colors(colors.get(cid, []))
        self._peer_colors = colors
