"""An app document's recording (``--record``) replays with ``optiverse-replay check-client``.

Two documents share a session on a real server; one records.  They edit
concurrently, with undo, redo, an undo entry someone else made obsolete,
presence and a dropped connection; then the recording re-runs against the
server's own store, and a tampered copy of it is caught at the tampered line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot

from optiverse.collab.recording import Recorder, read_recording
from optiverse.ui.document import SceneDocument
from tests.qt.conftest import WAIT_MS, DocFactory, ServerProcess, share_all, wait_converged
from tests.server.conftest import REPO


def check_client(recording: Path, server: ServerProcess, session: str) -> tuple[int, str]:
    """``optiverse-replay check-client RECORDING STORE --session S``: (exit status, stdout)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "optiverse.replay.cli", "check-client", str(recording),
         server.store, "--session", session],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert not done.stderr, done.stderr
    return done.returncode, done.stdout


def _set_props_with(op: dict[str, Any], prop: str) -> dict[str, Any] | None:
    """The ``props`` of the first Set in ``op`` (a batch, maybe) that sets ``prop``."""
    if op["type"] == "set" and prop in op["props"]:
        props: dict[str, Any] = op["props"]
        return props
    for inner in op.get("ops", ()) if op["type"] == "batch" else ():
        found = _set_props_with(inner, prop)
        if found is not None:
            return found
    return None


def _edit_concurrently(qtbot: QtBot, ann: SceneDocument, bob: SceneDocument) -> None:
    lens = ann.add_component("lens", {"x_mm": 5.0})
    doomed = ann.add_component("block", {"x_mm": -30.0})
    mirror = bob.add_component("mirror", {"x_mm": 40.0})
    wait_converged(qtbot, [ann, bob])
    for step in range(6):
        # Neither waits for the other: edits cross on the wire.
        ann.move_components([lens, mirror], 1.0, 0.5, final=False)
        bob.set_properties(lens, {"name": f"bob-{step}"})
        bob.move_components([mirror], -0.5, 0.0)
        ann.set_presence((float(step), 1.0), [lens])
        qtbot.wait(5)
    ann.move_components([lens, mirror], 1.0, 0.5, final=True)
    ann.set_properties(lens, {"efl_mm": 75.0})
    assert ann.undo()  # the efl edit
    assert ann.redo()
    # Bob deletes what ann's oldest entries made; undoing past them skips them.
    bob.remove_components([doomed])
    wait_converged(qtbot, [ann, bob])
    assert ann.undo() and ann.undo()  # efl, then the drag
    ann.set_properties(lens, {"name": "ann"})  # pending while the connection drops
    assert ann.sync is not None
    ann.sync.drop_connection()
    bob.set_properties(lens, {"x_mm": -12.0})
    qtbot.waitUntil(lambda: ann.connection_state != "connected", timeout=WAIT_MS)
    ann.add_component("source", {"y_mm": 20.0})  # offline: sent after the welcome
    assert ann.undo() and ann.redo()
    wait_converged(qtbot, [ann, bob])
    # The source, the name, then the block's create: obsolete (bob deleted the
    # block), so it is skipped and the lens's create is undone instead.
    assert ann.undo() and ann.undo() and ann.undo()
    assert lens not in ann.scene
    wait_converged(qtbot, [ann, bob])


def test_an_app_recording_replays_against_the_servers_store(
    qtbot: QtBot, server: ServerProcess, make_doc: DocFactory, tmp_path: Path
) -> None:
    recording = tmp_path / "ann.jsonl"
    recorder = Recorder(recording)
    ann = make_doc("ann", recorder=recorder)
    bob = make_doc("bob")
    ann.add_component("lens", {"x_mm": -60.0, "name": "uploaded"})  # uploaded by create
    session = share_all(qtbot, server.url, [ann, bob])
    _edit_concurrently(qtbot, ann, bob)
    ann.close()
    recorder.close()

    entries = list(read_recording(recording))
    local = [e.msg for e in entries if e.dir == "local"]
    assert local[0]["type"] == "start" and not local[0]["scene"]["components"]
    kinds = {m["type"] for m in local}
    assert {"start", "edit", "connect", "disconnected", "presence", "obsolete"} <= kinds
    assert {m["origin"] for m in local if m["type"] == "edit"} == {"edit", "undo", "redo"}
    assert [m["type"] for m in local].count("connect") >= 2  # the drop reconnected
    assert local[-1] == {"type": "disconnected", "code": None, "reason": "stopped"}
    sent = [e.msg["type"] for e in entries if e.dir == "out"]
    assert sent.count("hello") >= 2 and "submit" in sent and "presence" in sent

    code, out = check_client(recording, server, session)
    assert code == 0, out
    assert out.startswith(f"OK: client {ann.client_id}: "), out

    # Tamper with one op ann received from bob: the check names that line.
    lines = recording.read_text().splitlines(keepends=True)
    for number, line in enumerate(lines, 1):
        entry = json.loads(line)
        if entry["dir"] == "in" and entry["msg"]["type"] == "op":
            props = _set_props_with(entry["msg"]["op"], "x_mm")
            if props is not None:
                props["x_mm"] += 1.0
                lines[number - 1] = json.dumps(entry) + "\n"
                break
    else:
        raise AssertionError("no received set of x_mm to tamper with")
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("".join(lines))
    code, out = check_client(tampered, server, session)
    assert code == 1, out
    assert out.startswith(f"FAIL: client {ann.client_id}: line {number} "), out
    assert "differs from the server's" in out and "x_mm" in out, out
