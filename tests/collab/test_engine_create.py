"""Creating a session uploads the engine's confirmed scene before any pending edit;
edits too large for one message go in parts."""

from __future__ import annotations

from optiverse.collab.engine import SUBMIT_BYTES, ClientEngine
from optiverse.collab.messages import Ack, Submit, User, Welcome
from optiverse.commands import Batch, Create, Op, Set, apply
from optiverse.scene import Scene
from optiverse.wire import dumps


def _created(engine: ClientEngine) -> Scene:
    """What the server has after sequencing everything the engine submits on create."""
    engine.connect(create=True)
    engine.messages_to_send()  # the hello
    engine.receive(Welcome(session="s", version=0, users=(), snapshot=None, ops=()))
    server = Scene()
    for message in engine.messages_to_send():
        assert isinstance(message, Submit)
        apply(server, message.op)
    return server


def test_create_uploads_the_scene() -> None:
    scene = Scene()
    apply(scene, Create("L1", "lens"))
    engine = ClientEngine("c1", User("u", "U"), scene)
    assert _created(engine) == engine.scene


def test_create_uploads_the_scene_before_edits_made_offline() -> None:
    # Regression: with pending edits the upload was skipped, so the server got
    # a Set on a component it never had (refused) while the client kept it.
    scene = Scene()
    apply(scene, Create("L1", "lens"))
    engine = ClientEngine("c1", User("u", "U"), scene)
    engine.local(Set("L1", {"x_mm": 5.0}))
    engine.local(Create("L2", "mirror"))
    assert _created(engine) == engine.scene
    assert engine.scene.components["L1"].x_mm == 5.0


def _big_batch(prefix: str, n: int) -> Batch:
    # Names at the 200-character cap make each Create about 280 bytes on the wire.
    return Batch(
        tuple(
            Create(f"{prefix}{i}", "lens", {"name": "n" * 200, "x_mm": float(i)}) for i in range(n)
        )
    )


def test_an_edit_over_the_submit_size_is_queued_in_parts() -> None:
    engine = ClientEngine("c1", User("u", "U"))
    big = _big_batch("L", 5000)  # about 1.4 MB encoded: over the server's 1 MiB limit
    assert len(dumps(big, Op)) > 1 << 20
    applied = engine.local(big)  # as applied: each Create with all its properties
    assert isinstance(applied, Batch) and len(engine.scene.components) == 5000
    parts = engine.pending
    assert len(parts) > 1
    assert [p.seq for p in parts] == sorted({p.seq for p in parts})
    assert all(len(dumps(p.op, Op)) <= SUBMIT_BYTES for p in parts)
    # In order, the parts are the edit.
    assert [leaf for p in parts for leaf in p.op.ops] == list(applied.ops)  # type: ignore[union-attr]
    # Small edits still go whole, and several combine into one submit.
    small = ClientEngine("c2", User("u", "U"))
    small.local(Create("a", "lens"))
    small.local(Create("b", "lens"))
    assert len(small.pending) == 2


def test_creating_with_a_scene_over_the_submit_size_uploads_it_in_parts() -> None:
    scene = Scene()
    apply(scene, _big_batch("L", 2500))
    engine = ClientEngine("c1", User("u", "U"), scene)
    engine.local(Set("L7", {"x_mm": -1.0}))  # made offline: must follow the whole upload
    engine.connect(create=True)
    engine.messages_to_send()
    engine.receive(Welcome(session="s", version=0, users=(), snapshot=None, ops=()))
    server = Scene()
    seqs: list[int] = []
    while True:
        out = [m for m in engine.messages_to_send() if isinstance(m, Submit)]
        if not out:
            break
        for message in out:
            assert len(dumps(message.op, Op)) <= SUBMIT_BYTES
            apply(server, message.op)
            seqs.append(message.seq)
            engine.receive(Ack(seq=message.seq, version=len(seqs)))
    assert len(seqs) > 2 and seqs == sorted(seqs)
    assert server == engine.scene
    assert server.components["L7"].x_mm == -1.0
