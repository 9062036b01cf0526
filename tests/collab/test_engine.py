"""Deterministic ClientEngine cases: the ones the fuzz finds only by luck, spelled out."""

from __future__ import annotations

import pytest

from optiverse.collab.engine import (
    Acked,
    ClientEngine,
    ConnState,
    InvalidState,
    Refused,
    RemoteApplied,
    Reset,
    Throttled,
)
from optiverse.collab.messages import (
    Ack,
    ErrorCode,
    ErrorMsg,
    Hello,
    OpMsg,
    Submit,
    User,
    Welcome,
)
from optiverse.commands import Batch, Create, Delete, Noop, Op, Set, apply
from optiverse.scene import Scene
from optiverse.scene.fileformat import scene_to_data
from server.sequencer import Accepted, Duplicate, Sequencer

ME = User("me", "Ann")
BOB = User("bob", "Bob")


def scene_with(**xs: float) -> Scene:
    scene = Scene()
    for cid, x in xs.items():
        apply(scene, Create(cid, "lens", {"x_mm": x}))
    return scene


def welcome(
    version: int, scene: Scene | None = None, ops: tuple[OpMsg, ...] | None = None
) -> Welcome:
    if ops is not None:
        return Welcome("S", version, (), ops=ops)
    return Welcome("S", version, (), snapshot=scene_to_data(scene or Scene()))


def joined(scene: Scene | None = None, version: int = 0) -> ClientEngine:
    engine = ClientEngine("me", ME)
    engine.connect("S")
    engine.messages_to_send()
    engine.receive(welcome(version, scene))
    engine.events_received()
    return engine


def submits(engine: ClientEngine) -> list[Submit]:
    out = engine.messages_to_send()
    assert all(isinstance(m, Submit) for m in out), out
    return [m for m in out if isinstance(m, Submit)]


def remote(version: int, op: Op, seq: int = 1, client: str = "bob") -> OpMsg:
    return OpMsg(version, client, seq, BOB, op)


def pending_applied(engine: ClientEngine) -> Scene:
    work = engine.confirmed.copy()
    for pending in engine.pending:
        apply(work, pending.op)
    return work


def test_one_op_in_flight_the_rest_buffered_then_sent_together_after_the_ack() -> None:
    engine = joined(scene_with(L=0.0))
    engine.local(Set("L", {"x_mm": 1.0}))
    engine.local(Set("L", {"x_mm": 2.0}))
    engine.local(Set("L", {"y_mm": 3.0}))
    first = submits(engine)
    assert [(s.seq, s.base) for s in first] == [(1, 0)]
    assert [p.seq for p in engine.buffer] == [2, 3]

    engine.receive(Ack(1, 1))
    second = submits(engine)
    assert [(s.seq, s.base) for s in second] == [(3, 1)]  # the group goes out under its last seq
    # Buffered Sets fold into one Set per component: first old, last value.
    assert second[0].op == Set("L", {"x_mm": 2.0, "y_mm": 3.0}, {"x_mm": 1.0, "y_mm": 0.0})
    assert engine.events_received() == [Acked(1, 1)]
    assert engine.confirmed.components["L"].x_mm == 1.0
    assert engine.scene.components["L"].x_mm == 2.0


def test_buffered_edits_other_than_sets_go_out_as_one_batch() -> None:
    engine = joined(scene_with(L=0.0))
    engine.local(Set("L", {"x_mm": 1.0}))
    engine.local(Create("M", "mirror"))
    engine.local(Set("M", {"x_mm": 4.0}))
    submits(engine)
    engine.receive(Ack(1, 1))
    [second] = submits(engine)
    assert isinstance(second.op, Batch)
    assert [type(o) for o in second.op.ops] == [Create, Set]


def test_buffered_moves_that_cancel_out_send_nothing() -> None:
    engine = joined(scene_with(L=0.0))
    engine.local(Set("L", {"y_mm": 1.0}))  # in flight
    engine.local(Set("L", {"x_mm": 5.0}))
    engine.local(Set("L", {"x_mm": 0.0}))  # dragged back to the start
    submits(engine)
    engine.receive(Ack(1, 1))
    assert submits(engine) == []
    assert engine.synced
    assert engine.scene == engine.confirmed


def test_a_remote_op_is_transformed_past_my_pending_ops_and_mine_win() -> None:
    engine = joined(scene_with(L=0.0))
    engine.local(Set("L", {"x_mm": 10.0}))  # in flight
    engine.local(Set("L", {"y_mm": 5.0}))  # buffered
    submits(engine)

    # Bob's concurrent move was sequenced first: mine come later and win x.
    engine.receive(
        remote(1, Set("L", {"x_mm": 50.0, "angle_deg": 9.0}, {"x_mm": 0.0, "angle_deg": 0.0}))
    )
    [event] = engine.events_received()
    assert isinstance(event, RemoteApplied)
    assert event.op == Set("L", {"angle_deg": 9.0}, {"angle_deg": 0.0})  # x transformed away
    lens = engine.scene.components["L"]
    assert (lens.x_mm, lens.y_mm, lens.angle_deg) == (10.0, 5.0, 9.0)
    assert engine.confirmed.components["L"].x_mm == 50.0
    # The in-flight op's undo data now names Bob's value, as the server will log it.
    assert engine.inflight is not None
    assert engine.inflight.op == Set("L", {"x_mm": 10.0}, {"x_mm": 50.0})
    assert pending_applied(engine) == engine.scene

    engine.receive(Ack(1, 2))
    assert engine.confirmed.components["L"].x_mm == 10.0
    assert [s.base for s in submits(engine)] == [2]


def test_a_remote_delete_turns_my_pending_edits_of_it_into_noops() -> None:
    engine = joined(scene_with(L=0.0, M=0.0))
    engine.local(Set("L", {"x_mm": 1.0}))
    engine.local(Set("M", {"x_mm": 2.0}))
    submits(engine)
    engine.receive(remote(1, apply(engine.confirmed.copy(), Delete("L"))))
    assert "L" not in engine.scene and "L" not in engine.confirmed
    assert engine.inflight is not None and isinstance(engine.inflight.op, Noop)
    assert engine.scene.components["M"].x_mm == 2.0
    assert pending_applied(engine) == engine.scene


def test_acks_must_come_in_order_for_the_op_in_flight() -> None:
    engine = joined()
    engine.local(Create("A", "lens"))
    engine.local(Create("B", "lens"))
    submits(engine)
    with pytest.raises(InvalidState, match="seq 2"):
        engine.receive(Ack(2, 1))  # buffered, never sent
    with pytest.raises(InvalidState, match="version 5"):
        engine.receive(Ack(1, 5))  # a gap in versions
    engine.receive(Ack(1, 1))
    engine.receive(Ack(2, 2))
    assert [e for e in engine.events_received() if isinstance(e, Acked)] == [
        Acked(1, 1),
        Acked(2, 2),
    ]
    assert engine.synced and engine.scene == engine.confirmed


def test_a_resend_after_reconnect_carries_the_same_seq_and_the_sequencer_dedups_it() -> None:
    sequencer = Sequencer(Scene(), 0)
    engine = joined()
    engine.local(Create("A", "lens"))
    [sent] = submits(engine)
    result = sequencer.submit("me", sent.seq, sent.base, sent.op, ME)
    assert isinstance(result, Accepted)  # sequenced, but the ack is lost with the connection

    engine.disconnected()
    engine.connect("S")
    [hello] = engine.messages_to_send()
    assert isinstance(hello, Hello) and hello.since == 0
    engine.receive(welcome(0, ops=()))  # welcomed before the op was durable
    [resent] = submits(engine)
    assert (resent.seq, resent.base, resent.op) == (sent.seq, sent.base, sent.op)

    duplicate = sequencer.submit("me", resent.seq, resent.base, resent.op, ME)
    assert duplicate == Duplicate(1)
    engine.receive(Ack(resent.seq, duplicate.version))
    assert engine.synced and engine.version == 1
    assert engine.confirmed == sequencer.scene and len(sequencer.scene) == 1


def test_a_refused_op_is_rolled_back_and_what_depended_on_it_is_dropped() -> None:
    engine = joined(scene_with(L=0.0))
    engine.local(Create("M", "mirror"))  # in flight; the server will refuse it
    engine.local(Set("M", {"x_mm": 4.0}))  # needs M
    engine.local(Set("L", {"y_mm": 7.0}))  # independent
    [sent] = submits(engine)
    engine.events_received()

    engine.receive(ErrorMsg(ErrorCode.SCENE_FULL.value, "full", sent.seq))
    events = engine.events_received()
    assert Refused(sent.seq, "scene_full", "full") in events
    assert any(isinstance(e, Refused) and e.seq == 2 for e in events)
    assert any(isinstance(e, Reset) for e in events)
    assert "M" not in engine.scene
    assert engine.scene.components["L"].y_mm == 7.0
    assert [p.seq for p in engine.pending] == [3]
    assert pending_applied(engine) == engine.scene
    [next_submit] = submits(engine)
    assert next_submit.seq == 3 and next_submit.op == Set("L", {"y_mm": 7.0}, {"y_mm": 0.0})


def test_a_rate_limited_op_stays_in_flight_until_resent() -> None:
    engine = joined()
    engine.local(Create("A", "lens"))
    [sent] = submits(engine)
    engine.receive(ErrorMsg(ErrorCode.RATE_LIMITED.value, "slow down", sent.seq))
    assert engine.events_received() == [Throttled(sent.seq)]
    assert engine.inflight is not None and "A" in engine.scene
    engine.local(Create("B", "lens"))
    assert submits(engine) == []  # still one in flight
    engine.resend()
    assert submits(engine) == [sent]
    engine.resend()
    assert submits(engine) == []  # not twice


def test_offline_edits_are_kept_and_sent_after_reconnect() -> None:
    engine = joined(scene_with(L=0.0))
    engine.disconnected()
    for x in (1.0, 2.0, 3.0):
        engine.local(Set("L", {"x_mm": x}))
    engine.local(Create("N", "block"))
    assert engine.messages_to_send() == [] and engine.state is ConnState.OFFLINE
    assert engine.scene.components["L"].x_mm == 3.0 and "N" in engine.scene

    engine.connect("S")
    engine.messages_to_send()
    # Bob moved L meanwhile; my offline edits were made later in server order.
    engine.receive(welcome(1, ops=(remote(1, Set("L", {"y_mm": 9.0}, {"y_mm": 0.0})),)))
    [sent] = submits(engine)
    assert sent.base == 1 and sent.seq == 4
    assert isinstance(sent.op, Batch) and len(sent.op.ops) == 4
    lens = engine.scene.components["L"]
    assert (lens.x_mm, lens.y_mm) == (3.0, 9.0)


def test_welcome_ops_holding_my_in_flight_op_ack_it_and_the_next_goes_once() -> None:
    engine = joined()
    engine.local(Create("A", "lens"))
    [sent] = submits(engine)
    engine.disconnected()
    engine.local(Set("A", {"x_mm": 5.0}))  # offline, buffered

    engine.connect("S")
    engine.messages_to_send()
    mine = OpMsg(1, "me", sent.seq, ME, sent.op)
    engine.receive(welcome(1, ops=(mine,)))
    assert Acked(sent.seq, 1) in engine.events_received()
    # The buffered edit goes out exactly once (a second copy would be acked
    # twice by the server's duplicate rule).
    [nxt] = submits(engine)
    assert (nxt.seq, nxt.base) == (2, 1)
    engine.receive(Ack(2, 2))
    assert engine.synced and engine.scene == engine.confirmed


def test_an_ack_repeated_for_a_seq_already_acked_is_ignored() -> None:
    # The welcome (or the op broadcast) acked seq 1 while my resend was on its
    # way; the server acks the resent duplicate too.
    engine = joined()
    engine.local(Create("A", "lens"))
    [sent] = submits(engine)
    engine.receive(remote(1, sent.op, seq=sent.seq, client="me"))
    engine.local(Create("B", "lens"))
    submits(engine)
    engine.receive(Ack(sent.seq, 1))
    assert engine.inflight is not None and engine.inflight.seq == 2
    engine.receive(Ack(2, 2))
    assert engine.synced and set(engine.scene) == {"A", "B"}
    with pytest.raises(InvalidState):
        engine.receive(Ack(7, 3))  # never sent: still a caller bug


def test_an_ack_of_an_op_the_welcome_snapshot_already_holds_does_not_apply_it_twice() -> None:
    engine = joined(scene_with(L=0.0))
    engine.local(Set("L", {"x_mm": 1.0}))
    [sent] = submits(engine)
    engine.disconnected()
    engine.connect("S")
    engine.messages_to_send()
    # The server's snapshot has my op (version 1) and Bob's later move (version 2).
    server = scene_with(L=0.0)
    apply(server, sent.op)
    apply(server, Set("L", {"x_mm": 2.0}))
    engine.receive(welcome(2, server))
    [resent] = submits(engine)
    assert resent.seq == sent.seq
    engine.receive(Ack(sent.seq, 1))  # the duplicate's original version
    assert engine.synced
    assert engine.scene == engine.confirmed == server
    assert engine.scene.components["L"].x_mm == 2.0
