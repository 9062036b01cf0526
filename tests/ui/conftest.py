"""Fixtures for the UI tests: real main windows, driven through their own actions and events.

The two-window tests run against the real server subprocess of
``tests/server/conftest.py`` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PyQt6.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt6.QtGui import QMouseEvent, QWheelEvent
from PyQt6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from optiverse.ui.file_controller import SaveChoice
from optiverse.ui.main_window import MainWindow
from tests.server.conftest import ServerProcess, server, server_proc, shared_server

__all__ = [
    "ServerProcess",
    "drag",
    "mouse",
    "server",
    "server_proc",
    "settle",
    "shared_server",
    "wheel",
]

WindowFactory = Callable[..., MainWindow]


@pytest.fixture
def make_window(qtbot: QtBot) -> Iterator[WindowFactory]:
    """``make_window(name="Ann", **kwargs) -> MainWindow``, shown; closed at teardown.

    Closing a window closes its document (it leaves its session and stops its
    thread), so qtbot may destroy the windows whenever it likes.
    """
    windows: list[MainWindow] = []

    def make(name: str = "Ann", **kwargs: object) -> MainWindow:
        window = MainWindow(name=name, lan=False, **kwargs)  # type: ignore[arg-type]
        # Tests never answer modal questions: unsaved changes are discarded.
        window.files.ask_save_changes = lambda: SaveChoice.DISCARD
        qtbot.addWidget(window)
        window.resize(1100, 700)
        window.show()
        qtbot.waitExposed(window)
        window.view.set_scale(2.0)
        window.view.centerOn(0.0, 0.0)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


@pytest.fixture
def window(make_window: WindowFactory) -> MainWindow:
    return make_window()


def settle(window: MainWindow) -> None:
    """Run the pending retrace now, so rays and labels match the scene."""
    QApplication.processEvents()
    window.retracer.trace_now()
    QApplication.processEvents()


def mouse(
    widget: QWidget,
    kind: QEvent.Type,
    pos: QPointF,
    button: Qt.MouseButton = Qt.MouseButton.LeftButton,
    modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
) -> None:
    """Send one mouse event to ``widget`` (a view's viewport) at ``pos`` (its pixels)."""
    held = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
    event = QMouseEvent(
        kind,
        pos,
        QPointF(widget.mapToGlobal(pos.toPoint())),
        Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else button,
        held,
        modifiers,
    )
    QApplication.sendEvent(widget, event)


def drag(
    window: MainWindow,
    start: QPointF,
    end: QPointF,
    *,
    steps: int = 8,
    button: Qt.MouseButton = Qt.MouseButton.LeftButton,
    modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
) -> None:
    """Press at ``start``, move in ``steps`` to ``end`` and release (viewport pixels)."""
    viewport = window.view.viewport()
    assert viewport is not None
    mouse(viewport, QEvent.Type.MouseButtonPress, start, button, modifiers)
    for i in range(1, steps + 1):
        t = i / steps
        point = start + (end - start) * t
        mouse(viewport, QEvent.Type.MouseMove, point, button, modifiers)
        QApplication.processEvents()
    mouse(viewport, QEvent.Type.MouseButtonRelease, end, button, modifiers)
    QApplication.processEvents()


def wheel(
    window: MainWindow,
    pos: QPointF,
    notches: float,
    modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
) -> None:
    """Turn the wheel over the canvas at ``pos`` (viewport pixels)."""
    viewport = window.view.viewport()
    assert viewport is not None
    event = QWheelEvent(
        pos,
        QPointF(viewport.mapToGlobal(pos.toPoint())),
        QPoint(0, 0),
        QPoint(0, round(120 * notches)),
        Qt.MouseButton.NoButton,
        modifiers,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(viewport, event)
