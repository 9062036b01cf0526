"""One graphics item that draws every traced ray.

A trace can hold thousands of segments; one item per ray would make the
scene index and repaints slow.  Segments are grouped once per trace by
(colour, quantised intensity) into polylines, so painting is one pen change
and one ``drawPolyline`` per run, with the intensity shown as opacity.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QColor, QPainter, QPen, QPolygonF
from PyQt6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from optiverse.optics import TraceResult

__all__ = ["ALPHA_LEVELS", "RaysItem", "ray_runs"]

ALPHA_LEVELS = 32
# Weak rays still have to be visible to be useful, so opacity has a floor.
MIN_OPACITY = 0.12
# One pixel: Qt's raster engine draws cosmetic pens up to 1 px wide with a fast
# antialiased line stroker, and anything wider through its general path
# stroker; at 1.4 px the rays took 60 % of a repaint (bench/bench_drag.py).
RAY_WIDTH_PX = 1.0

RunKey = tuple[str, int]


def ray_runs(result: TraceResult) -> dict[RunKey, list[QPolygonF]]:
    """Polylines (in Qt scene coordinates) keyed by (colour, opacity level 1..ALPHA_LEVELS)."""
    runs: dict[RunKey, list[QPolygonF]] = defaultdict(list)
    if not result.n_paths:
        return {}
    # Point i ends a segment unless it starts a path; its level is that segment's.
    # A run breaks where a path starts or the level changes, so it is found for
    # every point at once rather than per path.
    offsets = result.offsets
    levels = np.clip(np.rint(result.intensities * ALPHA_LEVELS), 1, ALPHA_LEVELS)
    starts_path = np.zeros(len(levels), dtype=bool)
    starts_path[offsets[:-1]] = True
    # A run starts at a segment's first point: a path's first point, or the
    # point before a segment whose level differs from the previous segment's.
    changes = np.flatnonzero(~starts_path[1:] & (levels[1:] != levels[:-1]) & ~starts_path[:-1])
    run_start = np.union1d(offsets[:-1], changes)
    run_stop = np.append(run_start[1:], len(levels))
    # A run that begins at a level change shares its first point with the previous
    # run's last one; a run ends where the next path starts, else at the next change.
    run_stop = np.where(
        starts_path.take(run_stop, mode="clip") | (run_stop == len(levels)), run_stop, run_stop + 1
    )
    path_of_run = np.searchsorted(offsets, run_start, side="right") - 1
    colors = [result.sources[i].color for i in result.source.take(path_of_run).tolist()]
    run_levels = levels.take(run_start + 1).astype(np.int64).tolist()
    xy = result.points.tolist()
    for color, level, lo, hi in zip(
        colors, run_levels, run_start.tolist(), run_stop.tolist(), strict=True
    ):
        runs[(color, level)].append(QPolygonF([QPointF(x, -y) for x, y in xy[lo:hi]]))
    return dict(runs)


class RaysItem(QGraphicsItem):
    """All rays of the last trace; transparent to the mouse."""

    def __init__(self) -> None:
        super().__init__()
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setAcceptHoverEvents(False)
        self._runs: dict[RunKey, list[QPolygonF]] = {}
        self._bounds = QRectF()
        self._pens: dict[RunKey, QPen] = {}
        self.segment_count = 0

    def set_result(self, result: TraceResult | None) -> None:
        """Show the rays of ``result`` (None clears them)."""
        self.prepareGeometryChange()
        self._runs = ray_runs(result) if result is not None else {}
        self.segment_count = result.n_segments if result is not None else 0
        self._pens = {key: _pen(*key) for key in self._runs}
        bounds = QRectF()
        for polygons in self._runs.values():
            for polygon in polygons:
                bounds = bounds.united(polygon.boundingRect())
        self._bounds = bounds.adjusted(-1.0, -1.0, 1.0, 1.0) if not bounds.isNull() else bounds
        self.update()

    def colors(self) -> set[str]:
        """The ray colours on show (for tests and the legend)."""
        return {color for color, _ in self._runs}

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(
        self,
        painter: QPainter | None,
        option: QStyleOptionGraphicsItem | None,
        widget: QWidget | None = None,
    ) -> None:
        if painter is None:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        # Dim runs first so bright ones of the same colour are drawn on top.
        for key in sorted(self._runs, key=lambda k: k[1]):
            painter.setPen(self._pens[key])
            for polygon in self._runs[key]:
                painter.drawPolyline(polygon)


def _pen(color: str, level: int) -> QPen:
    qcolor = QColor(color)
    qcolor.setAlphaF(max(MIN_OPACITY, level / ALPHA_LEVELS))
    pen = QPen(qcolor, RAY_WIDTH_PX)
    pen.setCosmetic(True)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen
