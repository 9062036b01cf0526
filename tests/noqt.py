"""Run Python in a child process where every PyQt6 import fails."""

from __future__ import annotations

import subprocess
import sys

_BLOCK_QT = """
import sys
class _NoQt:
    def find_spec(self, name, path=None, target=None):
        if name == "PyQt6" or name.startswith("PyQt6."):
            raise ImportError("PyQt6 is blocked in this test")
        return None
sys.meta_path.insert(0, _NoQt())
"""


def run_without_qt(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (with ``args`` in sys.argv[1:]) with PyQt6 unimportable."""
    return subprocess.run(
        [sys.executable, "-c", _BLOCK_QT + script, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
