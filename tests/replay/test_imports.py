"""The replay tools work where PyQt6 is absent; only ``render`` needs it, and only to draw."""

from __future__ import annotations

import subprocess
import sys

# Importing any PyQt6 module fails inside the child process.
_BLOCK_QT = """
import importlib, sys
class _NoQt:
    def find_spec(self, name, path=None, target=None):
        if name == "PyQt6" or name.startswith("PyQt6."):
            raise ImportError("PyQt6 is blocked in this test")
        return None
sys.meta_path.insert(0, _NoQt())
for module in sys.argv[1:]:
    importlib.import_module(module)
from optiverse.replay.cli import main
sys.exit(main(["--help"]))
"""


def test_every_replay_module_imports_without_pyqt6() -> None:
    modules = [
        "optiverse.replay.cli",
        "optiverse.replay.log",
        "optiverse.replay.replay",
        "optiverse.replay.report",
        "optiverse.replay.client_check",
        "optiverse.replay.render",
    ]
    done = subprocess.run(
        [sys.executable, "-c", _BLOCK_QT, *modules], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "check-client" in done.stdout
