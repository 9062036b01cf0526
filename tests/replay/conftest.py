"""Fixtures for the replay tests: logs made by real engines and a real Sequencer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from optiverse.collab.messages import OpMsg, Origin, User
from optiverse.commands import Create, Delete, Op, Set, apply
from optiverse.replay.log import Log, StoredSnapshot, write_jsonl
from optiverse.scene import Scene
from optiverse.scene.fileformat import scene_to_data
from tests.replay.sim import T0, SimResult, simulate

ANN = User("ann", "Ann", "#DC143C")
BOB = User("bob", "Bob", "#00FF00")


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> SimResult:
    """One three-client session with drops, reconnects, undo and redo (shared, read-only)."""
    return simulate(11, tmp_path_factory.mktemp("sim"), steps=500)


def scripted_log() -> Log:
    """A small hand-written session whose every version is known (see the comments)."""
    scene = Scene()
    script: list[tuple[User, Op, Origin]] = [
        (ANN, Create("S", "source", {"color": "#00FF00", "x_mm": -100.0}), "edit"),  # v1
        (ANN, Create("L", "lens", {"x_mm": 0.0}), "edit"),  # v2
        (BOB, Set("L", {"efl_mm": 50.0}), "edit"),  # v3
        (BOB, Create("M", "mirror", {"x_mm": 100.0, "angle_deg": 180.0}), "edit"),  # v4
        (ANN, Set("L", {"x_mm": 10.0}), "edit"),  # v5
        (BOB, Set("L", {"x_mm": 20.0, "name": "focus"}), "edit"),  # v6
        (ANN, Delete("M"), "edit"),  # v7
        (ANN, Create("M", "mirror", {"x_mm": 100.0, "angle_deg": 180.0}), "undo"),  # v8
        (BOB, Set("S", {"n_rays": 3}), "edit"),  # v9
        (BOB, Create("B", "block", {"x_mm": 200.0}), "edit"),  # v10
    ]
    entries: list[OpMsg] = []
    snapshots: list[StoredSnapshot] = []
    for version, (user, op, origin) in enumerate(script, start=1):
        effective = apply(scene, op)
        entries.append(OpMsg(version, user.id, version, user, effective, origin, T0 + 10 * version))
        if version % 4 == 0:
            snapshots.append(StoredSnapshot(version, scene_to_data(scene), T0 + 10 * version))
    return Log("scripted", tuple(entries), tuple(snapshots), T0)


@pytest.fixture
def scripted() -> Log:
    return scripted_log()


def write_log(log: Log, path: Path) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        write_jsonl(log, handle)
    return path


def tamper_line(path: Path, index: int, change: Callable[[Any], Any]) -> None:
    """Rewrite line ``index`` (0-based; 0 is the header) with ``change(data) -> data | str``."""
    lines = path.read_text().splitlines()
    result = change(json.loads(lines[index]))
    lines[index] = result if isinstance(result, str) else json.dumps(result)
    path.write_text("\n".join(lines) + "\n")


def record_ann(log: Log, path: Path) -> None:
    """Ann's recording of the scripted session: her edits, Bob's ops, her acks, as the app does."""
    from optiverse.collab.engine import ClientEngine
    from optiverse.collab.messages import Ack, Welcome, decode_server, encode
    from optiverse.collab.recording import Recorder

    clock = iter(range(10**6))
    recorder = Recorder(path, clock=lambda: T0 + next(clock) / 10)
    engine = ClientEngine("ann", ANN)
    recorder.start("ann", ANN, engine.scene)

    def pump() -> None:
        for msg in engine.messages_to_send():
            recorder.sent(encode(msg))
        engine.events_received()

    def receive(msg: Welcome | Ack | OpMsg) -> None:
        text = encode(msg)
        recorder.received(text)
        engine.receive(decode_server(text))
        pump()

    engine.connect("scripted")
    recorder.connect("scripted", False, False)
    pump()
    receive(Welcome("scripted", 0, (ANN, BOB), snapshot=scene_to_data(Scene())))
    for entry in log.entries:
        if entry.user != ANN:
            receive(entry)
            continue
        applied = engine.local(entry.op, entry.origin)
        assert engine.inflight is not None
        recorder.edit(entry.op, entry.origin, applied=applied, seq=engine.inflight.seq)
        pump()
        receive(Ack(engine.inflight.seq, entry.version))
    recorder.close()
