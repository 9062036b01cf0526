"""The server and the pure core must import (and run) where PyQt6 is absent."""

from __future__ import annotations

import pytest

from tests.noqt import run_without_qt


@pytest.mark.parametrize(
    "module",
    [
        "optiverse.scene",
        "optiverse.commands",
        "optiverse.wire",
        "optiverse.collab.messages",
        "optiverse.collab.engine",
        "optiverse.collab.aio",
        "optiverse.collab.bot",
        "optiverse.optics",
        "server.sequencer",
        "server.__main__",
    ],
)
def test_imports_without_pyqt6(module: str) -> None:
    done = run_without_qt(
        "import importlib; importlib.import_module(sys.argv[1]); print('imported', sys.argv[1])",
        module,
    )
    assert done.returncode == 0, done.stderr
    assert f"imported {module}" in done.stdout
