"""A recording holds enough to replay the client: feeding it to a fresh engine reproduces it."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from optiverse.collab.engine import ClientEngine
from optiverse.collab.messages import ClientMessage, Hello, User, decode_server, encode
from optiverse.collab.recording import REDACTED, Entry, Recorder, RecordingError, read_recording
from optiverse.commands import Create, Op, Set
from optiverse.errors import OptiverseError
from optiverse.scene.fileformat import scene_from_data
from optiverse.wire import structure
from tests.collab.conftest import ServerProcess
from tests.collab.helpers import Tracked, run, settle
from tests.collab.test_real_server import edit_for


def as_sent(message: ClientMessage) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(encode(message))
    if isinstance(message, Hello) and message.password is not None:
        data["password"] = REDACTED
    return data


def replay(entries: list[Entry]) -> ClientEngine:
    """Feed the local and in entries to a fresh engine; its output must match the out entries."""
    start = entries[0]
    assert start.dir == "local" and start.msg["type"] == "start"
    user = structure(start.msg["user"], User)
    engine = ClientEngine(start.msg["client"], user, scene_from_data(start.msg["scene"]))
    produced: list[dict[str, Any]] = []
    for number, entry in enumerate(entries[1:], 2):
        msg = entry.msg
        if entry.dir == "out":
            assert produced, f"entry {number}: sent {msg}, but the engine queued nothing"
            assert produced.pop(0) == msg, f"entry {number}: the engine would send otherwise"
            continue
        if entry.dir == "in":
            engine.receive(decode_server(json.dumps(msg)))
        elif msg["type"] == "edit":
            try:
                applied: Op | None = engine.local(structure(msg["op"], Op), msg["origin"])
            except OptiverseError as exc:
                assert msg["error"] == str(exc)
                continue
            assert applied == structure(msg["applied"], Op)
        elif msg["type"] == "connect":
            password = REDACTED if msg["password"] else None
            engine.connect(msg["session"], create=msg["create"], password=password)
        elif msg["type"] == "disconnected":
            engine.disconnected()
        elif msg["type"] == "resend":
            engine.resend()
        elif msg["type"] == "presence":
            cursor = tuple(msg["cursor"]) if msg["cursor"] is not None else None
            selection = tuple(msg["selection"]) if msg["selection"] is not None else None
            engine.presence(cursor, selection)  # type: ignore[arg-type]
        else:
            raise AssertionError(f"entry {number}: unknown local entry {msg}")
        produced.extend(as_sent(m) for m in engine.messages_to_send())
        engine.events_received()
    assert not produced, f"the engine queued {produced} that the recording never sent"
    return engine


def test_a_recorded_session_replays_to_the_same_scene_and_messages(
    shared_server: ServerProcess, tmp_path: Path
) -> None:
    path = tmp_path / "ann.jsonl"

    async def scenario() -> tuple[Any, int]:
        with Recorder(path) as recorder:
            ann = Tracked("ann", recorder=recorder)
            bob = Tracked("bob")
            await ann.client.start(shared_server.url, create=True, password="hunter2")
            assert ann.client.session is not None
            await bob.client.start(
                shared_server.url, session=ann.client.session, password="hunter2"
            )
            ann.client.presence((1.0, 2.0), ("x",))
            with pytest.raises(OptiverseError):
                ann.client.edit(Set("nothing-here", {"x_mm": 1.0}))  # recorded as an error
            await asyncio.gather(
                edit_for(ann, random.Random(1), 0.6, max_pause=0.01, drop_p=0.05),
                edit_for(bob, random.Random(2), 0.6, max_pause=0.01),
            )
            ann.client.drop_connection()
            ann.client.edit(Create("ann-late", "source"))  # most likely while reconnecting
            await settle([ann.client, bob.client])
            scene, version = ann.client.scene.copy(), ann.client.version
            await ann.client.close()
            await bob.client.close()
        return scene, version

    scene, version = run(scenario())
    text = path.read_text()
    assert "hunter2" not in text
    entries = list(read_recording(path))
    assert {e.dir for e in entries} == {"local", "in", "out"}
    assert sum(e.msg.get("type") == "disconnected" for e in entries) >= 2
    engine = replay(entries)
    assert engine.scene == scene
    assert engine.version == version


def test_reading_a_damaged_recording_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"t": 1, "dir": "in", "msg": {}}\n{"t": 2, "dir": "sideways", "msg": {}}\n')
    with pytest.raises(RecordingError, match=":2:"):
        list(read_recording(path))
