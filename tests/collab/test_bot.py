"""The random-edit generator, and optiverse-bot as separate processes against a real server."""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

from optiverse.collab.bot import EditGenerator, random_edit
from optiverse.collab.recording import read_recording
from optiverse.commands import Batch, Create, Delete, Set, apply
from optiverse.scene import Scene
from tests.collab.conftest import ServerProcess
from tests.collab.helpers import fetch_history, replay, run

REPO = Path(__file__).resolve().parents[2]
SUMMARY = re.compile(r"(\d+) edits sent, (\d+) acked, (\d+) refused.*final version (\d+)")


def kind(op: object) -> str:
    if isinstance(op, Set):
        return "move" if set(op.props) <= {"x_mm", "y_mm"} else "set"
    return type(op).__name__.lower()


def test_generated_edits_are_valid_mostly_drags_and_keep_the_scene_bounded() -> None:
    scene = Scene()
    generate = EditGenerator(random.Random(4), "g", target_size=10)
    kinds: Counter[str] = Counter()
    for _ in range(3000):
        op = generate(scene)
        apply(scene, op)  # raises if the generator made an invalid edit
        kinds[kind(op)] += 1
        assert len(scene) <= 40
    assert kinds["move"] > 0.5 * 3000
    assert all(kinds[k] > 0 for k in ("create", "delete", "set", "batch"))

    # The stateless one, on a scene others share.
    counter = iter(range(10**6))
    for _ in range(500):
        op = random_edit(scene, random.Random(next(counter)), lambda: f"r-{next(counter)}")
        apply(scene, op)
        assert isinstance(op, Set | Create | Delete | Batch)


def bot(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "optiverse.collab.bot", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def test_bots_in_separate_processes_edit_one_session(
    shared_server: ServerProcess, tmp_path: Path
) -> None:
    srv = shared_server
    record = tmp_path / "first.jsonl"
    creating = ["--url", srv.url, "--create", "--password", "pw", "--rate", "40"]
    first = bot(*creating, "--duration", "1", "--seed", "1", "--record", str(record))
    assert first.stdout is not None
    announced = first.stdout.readline()
    assert announced.startswith("session "), announced
    session = announced.split()[1]
    joining = ["--url", srv.url, "--session", session, "--password", "pw", "--rate", "30"]
    others = [
        bot(*joining, "--name", f"bot{i}", "--duration", "1.5", "--seed", str(i)) for i in (2, 3)
    ]
    sent_by: list[int] = []
    for code, out, err in (finish(p) for p in (first, *others)):
        assert code == 0, err
        found = SUMMARY.search(out)
        assert found is not None, out
        sent, acked, refused, _version = map(int, found.groups())
        assert sent == acked > 10 and refused == 0, out
        sent_by.append(sent)
    history = run(fetch_history(srv.url, session, password="pw"))
    assert len({e.client for e in history}) == 3
    assert len(history) <= sum(sent_by)  # edits travel combined, never duplicated
    replay(history)
    entries = list(read_recording(record))
    assert entries[0].msg["type"] == "start" and '"pw"' not in record.read_text()
    assert sum(e.msg.get("type") == "edit" for e in entries) == sent_by[0]


def test_bot_failures_are_one_line_and_exit_1(shared_server: ServerProcess) -> None:
    srv = shared_server
    made = bot("--url", srv.url, "--create", "--password", "pw", "--rate", "0", "--duration", "0")
    code, out, err = finish(made)
    assert code == 0, err
    session = out.split()[1]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"ws://127.0.0.1:{sock.getsockname()[1]}"
    procs = {
        "bad_password": bot("--url", srv.url, "--session", session, "--password", "nope"),
        "unknown_session": bot("--url", srv.url, "--session", "does-not-exist"),
        "cannot connect": bot("--url", dead, "--create"),
    }
    for expected, proc in procs.items():
        code, out, err = finish(proc)
        assert code == 1, (expected, out, err)
        assert out == "" and err.count("\n") == 1, (expected, err)
        assert err.startswith("optiverse-bot: ") and expected in err, err
    usage = finish(bot("--url", srv.url))
    assert usage[0] == 2 and "--session" in usage[2]
