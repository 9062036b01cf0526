"""The ``optiverse`` command: its entry point and its arguments."""

from __future__ import annotations

import importlib
import io
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from optiverse.collab.messages import User
from optiverse.collab.recording import read_recording
from optiverse.replay import cli as replay_cli
from optiverse.scene import Scene, make_component
from optiverse.scene.fileformat import save_scene
from optiverse.ui.app import _checked, build_parser, create_window, display_problem, run
from optiverse.ui.document import SceneDocument
from optiverse.ui.invite import Invite
from tests.ui.conftest import ServerProcess

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


def test_record_is_parsed_alone_and_with_join(tmp_path: Path) -> None:
    parser = build_parser()
    args = _checked(parser, parser.parse_args(["--record", str(tmp_path / "me.jsonl")]))
    assert args.record == tmp_path / "me.jsonl" and args.join is None
    args = _checked(
        parser,
        parser.parse_args(["--join", "optiverse://h:1234/S1", "--record", "r.jsonl"]),
    )
    assert args.join == Invite("h", 1234, "S1")
    assert args.record == Path("r.jsonl")


# Runs ``optiverse --join INVITE --record FILE`` through main(); once joined, it
# adds a lens, undoes and redoes it, waits until the server has it all and
# closes the window, which ends the app.
_APP = """
import sys
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication
from optiverse.ui.__main__ import main
from optiverse.ui.file_controller import SaveChoice
from optiverse.ui.main_window import MainWindow

app = QApplication(sys.argv[:1])
state = {"edited": False}

def poll():
    windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow)]
    if windows:
        window = windows[0]
        window.files.ask_save_changes = lambda: SaveChoice.DISCARD
        doc = window.document
        if not state["edited"] and doc.connection_state == "connected":
            state["edited"] = True
            window.insert_component("lens")
            assert doc.undo() and doc.redo()
        elif state["edited"] and doc.synced:
            window.close()
            return
    QTimer.singleShot(20, poll)

QTimer.singleShot(0, poll)
sys.exit(main(sys.argv[1:]))
"""


def test_the_app_records_a_joined_session_that_check_client_accepts(
    qtbot: QtBot, server: ServerProcess, tmp_path: Path
) -> None:
    host = SceneDocument(User("u-host", "Host"))
    host.add_component("mirror", {"x_mm": 30.0})
    host.share(server.url, create=True)
    qtbot.waitUntil(lambda: host.synced, timeout=10_000)
    session = host.session_id
    assert session is not None
    recording = tmp_path / "bob.jsonl"
    try:
        done = subprocess.run(
            [sys.executable, "-c", _APP, "--join", f"optiverse://127.0.0.1:{server.port}/{session}",
             "--name", "Bob", "--record", str(recording)],
            capture_output=True, text=True, timeout=60,
            env=dict(os.environ, PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen"),
        )  # fmt: skip
    finally:
        host.close()
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    local = [e.msg for e in read_recording(recording) if e.dir == "local"]
    assert [m["type"] for m in local][:2] == ["start", "connect"]
    assert [m["origin"] for m in local if m["type"] == "edit"] == ["edit", "undo", "redo"]
    assert local[-1]["type"] == "disconnected"
    out, err = io.StringIO(), io.StringIO()
    code = replay_cli.main(["check-client", str(recording), server.store], out, err)
    assert code == 0, (out.getvalue(), err.getvalue())
    assert out.getvalue().startswith("OK: client "), out.getvalue()


def test_an_unwritable_record_file_is_a_usage_error(
    qtbot: QtBot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        run(["--record", str(tmp_path / "missing-dir" / "r.jsonl")])
    assert exc.value.code == 2
    assert "cannot write the recording" in capsys.readouterr().err


def test_no_display_is_a_clear_error_not_an_abort() -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    done = subprocess.run(
        [sys.executable, "-m", "optiverse.ui"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "no display" in done.stderr and "QT_QPA_PLATFORM=offscreen" in done.stderr
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({}, "darwin") is None
