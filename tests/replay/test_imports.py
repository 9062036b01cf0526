"""The replay tools work where PyQt6 is absent; only ``render`` needs it."""

from __future__ import annotations

import subprocess
import sys

from tests.test_no_qt_imports import BLOCK_QT


def test_every_replay_module_but_render_imports_without_pyqt6() -> None:
    for module in (
        "optiverse.replay.cli",
        "optiverse.replay.log",
        "optiverse.replay.replay",
        "optiverse.replay.client_check",
        "optiverse.replay.render",  # imports; PyQt6 is needed only to draw
    ):
        done = subprocess.run(
            [sys.executable, "-c", BLOCK_QT, module], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
