"""Retracing on scene changes, coalesced to at most one trace per frame.

Every change (a local drag step, a remote op, an undo) calls
:meth:`Retracer.request`; the trace runs from the event loop once per frame
interval at most, so a burst of changes costs one trace, not one each.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PyQt6.QtCore import QElapsedTimer, QObject, QTimer, pyqtSignal

from optiverse.optics import TraceResult, trace
from optiverse.optics.prepare import SceneLike

__all__ = ["FRAME_MS", "Retracer"]

FRAME_MS = 16
log = logging.getLogger(__name__)


class Retracer(QObject):
    """Traces ``scene()`` when asked, at most once per ``FRAME_MS``."""

    traced = pyqtSignal(object)  # TraceResult
    failed = pyqtSignal(str)

    def __init__(self, scene: Callable[[], SceneLike], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._scene = scene
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.trace_now)
        self._since_last = QElapsedTimer()
        self.last_result: TraceResult | None = None
        self.last_ms = 0.0
        self.trace_count = 0

    @property
    def pending(self) -> bool:
        return self._timer.isActive()

    def request(self) -> None:
        """Mark the rays dirty; they are retraced on the next frame."""
        if self._timer.isActive():
            return
        elapsed = self._since_last.elapsed() if self._since_last.isValid() else FRAME_MS
        self._timer.start(max(0, FRAME_MS - int(elapsed)))

    def stop(self) -> None:
        """Drop a pending request (the window is closing)."""
        self._timer.stop()

    def trace_now(self) -> None:
        """Trace immediately (drops a pending request)."""
        self._timer.stop()
        self._since_last.start()
        started = time.perf_counter()
        try:
            result = trace(self._scene())
        except Exception as exc:  # a tracer bug must not take the editor down
            log.exception("ray trace failed")
            self.failed.emit(f"Ray trace failed: {exc}")
            return
        self.last_ms = (time.perf_counter() - started) * 1000.0
        self.last_result = result
        self.trace_count += 1
        self.traced.emit(result)
