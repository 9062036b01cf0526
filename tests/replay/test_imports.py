"""The replay tools work where PyQt6 is absent; only ``render`` needs it, and only to draw."""

from __future__ import annotations

from tests.noqt import run_without_qt

_IMPORT_ALL = """
import importlib
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
    done = run_without_qt(_IMPORT_ALL, *modules)
    assert done.returncode == 0, done.stderr
    assert "check-client" in done.stdout
