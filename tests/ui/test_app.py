"""The ``optiverse`` command: its entry point and its arguments."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from optiverse.scene import Scene, make_component
from optiverse.scene.fileformat import save_scene
from optiverse.ui.app import _checked, build_parser, create_window
from optiverse.ui.invite import Invite

REPO = Path(__file__).resolve().parents[2]


def test_console_script_points_at_main() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, name = scripts["optiverse"].partition(":")
    assert callable(getattr(importlib.import_module(module), name))


def test_join_arguments_are_checked_before_qt_starts(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    args = _checked(parser, parser.parse_args(["--join", "optiverse://h:1234/S1", "--name", "Bo"]))
    assert args.join == Invite("h", 1234, "S1")
    assert args.name == "Bo"
    with pytest.raises(SystemExit) as exc:
        _checked(parser, parser.parse_args(["--join", "optiverse://h:1234"]))
    assert exc.value.code == 2
    assert "no session id" in capsys.readouterr().err


def test_a_file_argument_opens_it(qtbot: QtBot, tmp_path: Path) -> None:
    scene = Scene({"L1": make_component("lens", {"x_mm": 5.0, "name": "Objective"})})
    path = tmp_path / "bench.json"
    save_scene(scene, path)
    parser = build_parser()
    window = create_window(_checked(parser, parser.parse_args([str(path), "--name", "Ann"])))
    qtbot.addWidget(window)
    try:
        assert window.document.scene == scene
        assert window.bench.items_by_id["L1"].label.text == "Objective"
        assert window.windowTitle().startswith("bench.json")
        assert window.document.user.name == "Ann"
    finally:
        window.close()
        window.deleteLater()
