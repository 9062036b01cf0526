"""The server and the pure core must import (and run) where PyQt6 is absent."""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCK_QT = """
import sys
class _NoQt:
    def find_spec(self, name, path=None, target=None):
        if name == "PyQt6" or name.startswith("PyQt6."):
            raise ImportError("PyQt6 is blocked in this test")
        return None
sys.meta_path.insert(0, _NoQt())
import importlib
importlib.import_module(sys.argv[1])
print("imported", sys.argv[1])
"""


@pytest.mark.parametrize(
    "module",
    [
        "optiverse.scene",
        "optiverse.commands",
        "optiverse.wire",
        "optiverse.collab.messages",
        "optiverse.collab.engine",
        "optiverse.optics",
        "server.sequencer",
        "server.__main__",
    ],
)
def test_imports_without_pyqt6(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_QT, module], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert f"imported {module}" in done.stdout
