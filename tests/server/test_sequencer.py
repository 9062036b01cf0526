"""The pure sequencer: no loop, no sockets, no store."""

from __future__ import annotations

import pytest

from optiverse.collab.messages import ErrorCode, User
from optiverse.commands import Create, Noop, Op, Set
from optiverse.scene import Scene
from server.sequencer import Accepted, Duplicate, Rejected, Sequencer

ANN = User("ann", "Ann")
BOB = User("bob", "Bob")


def accepted(result: object) -> Accepted:
    assert isinstance(result, Accepted), result
    return result


def test_versions_are_consecutive_and_the_scene_follows() -> None:
    seq = Sequencer(Scene(), 0)
    for i in range(1, 6):
        entry = accepted(seq.submit("ca", i, i - 1, Create(f"L{i}", "lens"), ANN, now=7.0)).entry
        assert (entry.version, entry.client, entry.seq, entry.time) == (i, "ca", i, 7.0)
        assert entry.op == Create(f"L{i}", "lens", entry.op.props)  # type: ignore[union-attr]
    assert seq.version == 5 and len(seq.scene) == 5
    assert [e.version for e in seq.ops_since(2) or []] == [3, 4, 5]


def test_an_old_base_is_transformed_against_everything_after_it() -> None:
    seq = Sequencer(Scene(), 0)
    accepted(seq.submit("ca", 1, 0, Create("L1", "lens"), ANN))
    accepted(seq.submit("ca", 2, 1, Set("L1", {"x_mm": 10.0}), ANN))
    accepted(seq.submit("ca", 3, 2, Set("L1", {"y_mm": 5.0}), ANN))
    # Bob made his edit at version 1: it must be transformed past versions 2 and 3.
    entry = accepted(seq.submit("cb", 1, 1, Set("L1", {"x_mm": 20.0}), BOB)).entry
    assert entry.version == 4
    assert entry.op == Set("L1", {"x_mm": 20.0}, {"x_mm": 10.0})
    comp = seq.scene.get("L1")
    assert comp is not None and (comp.x_mm, comp.y_mm) == (20.0, 5.0)


def test_resubmits_are_duplicates_and_apply_once() -> None:
    seq = Sequencer(Scene(), 0)
    accepted(seq.submit("ca", 1, 0, Create("L1", "lens"), ANN))
    accepted(seq.submit("ca", 2, 1, Create("L2", "lens"), ANN))
    accepted(seq.submit("cb", 1, 2, Create("L3", "lens"), BOB))
    assert seq.submit("ca", 2, 1, Create("L2", "lens"), ANN) == Duplicate(2)
    assert seq.submit("ca", 1, 0, Create("L1", "lens"), ANN) == Duplicate(1)  # older, in the tail
    assert seq.version == 3 and len(seq.scene) == 3


def test_refusals_change_nothing() -> None:
    seq = Sequencer(Scene(), 0, tail_size=2, max_components=2)
    accepted(seq.submit("ca", 5, 0, Create("L1", "lens"), ANN))
    accepted(seq.submit("ca", 6, 1, Create("L2", "lens"), ANN))
    accepted(seq.submit("ca", 7, 2, Set("L1", {"x_mm": 1.0}), ANN))
    cases: list[tuple[tuple[str, int, int, Op], ErrorCode]] = [
        (("ca", 4, 3, Noop()), ErrorCode.STALE_SEQ),  # older than the tail holds
        (("cb", 1, 9, Noop()), ErrorCode.BASE_AHEAD),
        (("cb", 1, 3, Set("ghost", {"x_mm": 1.0})), ErrorCode.INVALID_OP),
        (("cb", 1, 3, Set("L1", {"efl_mm": 0.0})), ErrorCode.INVALID_OP),
        (("cb", 1, 3, Create("L3", "lens")), ErrorCode.SCENE_FULL),
    ]
    before = seq.scene.copy()
    for (client, s, base, op), code in cases:
        result = seq.submit(client, s, base, op, BOB)
        assert isinstance(result, Rejected) and result.code == code, result
        assert result.message
    assert seq.version == 3 and seq.scene == before
    assert "cb" not in seq.client_seqs


def test_history_beyond_the_tail_comes_from_the_caller() -> None:
    seq = Sequencer(Scene(), 0, tail_size=2)
    ops: list[Op] = [
        Create("L1", "lens"),
        Set("L1", {"x_mm": 5.0}),
        Create("L3", "lens"),
        Create("L4", "lens"),
        Create("L5", "lens"),
    ]
    entries = [accepted(seq.submit("ca", i, i - 1, op, ANN)).entry for i, op in enumerate(ops, 1)]
    assert seq.tail_start == 3
    assert seq.needs_history(1) and not seq.needs_history(3)
    # L1 changed at version 2, after Bob's base 1: his Set needs what came after it.
    with pytest.raises(ValueError, match="history"):
        seq.submit("cb", 1, 1, Set("L1", {"x_mm": 1.0}), BOB)
    with pytest.raises(ValueError, match="incomplete"):
        seq.submit("cb", 1, 1, Set("L1", {"x_mm": 1.0}), BOB, history=entries[2:])
    entry = accepted(seq.submit("cb", 1, 1, Set("L1", {"x_mm": 1.0}), BOB, history=entries)).entry
    assert entry.version == 6 and entry.op == Set("L1", {"x_mm": 1.0}, {"x_mm": 5.0})
    assert seq.ops_since(0) is None  # not all in memory
    # Nothing touched L3 after Cat's base 3, older than the tail now: no history needed.
    entry = accepted(seq.submit("cc", 1, 3, Set("L3", {"y_mm": 2.0}), ANN)).entry
    assert entry.version == 7


def test_noted_history_lets_old_bases_skip_the_transform_where_nothing_conflicts() -> None:
    a = Sequencer(Scene(), 0)
    entries = [
        accepted(a.submit("ca", i, i - 1, op, ANN)).entry
        for i, op in enumerate(
            [Create("L1", "lens"), Create("L2", "lens"), Set("L1", {"x_mm": 5.0})], 1
        )
    ]
    # A server that adopted these from the store at version 3, with no tail.
    b = Sequencer(a.scene.copy(), 3)
    assert b.needs_history(2)
    with pytest.raises(ValueError, match="history"):
        b.submit("cb", 1, 2, Set("L2", {"x_mm": 1.0}), BOB)
    b.note_touched(entries)
    accepted(b.submit("cb", 1, 2, Set("L2", {"x_mm": 1.0}), BOB))  # L2 untouched since 2
    with pytest.raises(ValueError, match="history"):
        b.submit("cb", 2, 2, Set("L1", {"x_mm": 1.0}), BOB)  # L1 changed at 3
    with pytest.raises(ValueError, match="end at the sequencer's version"):
        b.note_touched(entries)  # b is at version 4 now


def test_trim_tail_keeps_the_sequencer_usable() -> None:
    seq = Sequencer(Scene(), 0)
    for i in range(1, 4):
        accepted(seq.submit("ca", i, i - 1, Create(f"L{i}", "lens"), ANN))
    seq.trim_tail(0)
    assert seq.tail_start == 3 and seq.needs_history(2)
    assert seq.submit("ca", 3, 2, Noop(), ANN) == Duplicate(3)  # the last seq is kept apart
    assert seq.ops_since(3) == []
    accepted(seq.submit("ca", 4, 3, Set("L1", {"x_mm": 2.0}), ANN))
    assert [e.version for e in seq.tail] == [4]


def test_a_restored_sequencer_continues_where_it_was() -> None:
    first = Sequencer(Scene(), 0)
    entries = [
        accepted(first.submit("ca", i, i - 1, Create(f"L{i}", "lens"), ANN)).entry
        for i in range(1, 4)
    ]
    again = Sequencer(first.scene.copy(), 3, entries, dict(first.client_seqs))
    assert again.submit("ca", 3, 2, Create("L3", "lens"), ANN) == Duplicate(3)
    assert accepted(again.submit("ca", 4, 3, Noop(), ANN)).entry.version == 4
    with pytest.raises(ValueError, match="tail"):
        Sequencer(Scene(), 5, entries)


def test_adopted_entries_apply_as_they_are_and_later_submits_transform_past_them() -> None:
    # Server A sequences Ann's edits; server B adopts A's entries and then
    # sequences Bob's edit, made before he saw them, on top.
    a = Sequencer(Scene(), 0)
    first = accepted(a.submit("ca", 1, 0, Create("L1", "lens"), ANN)).entry
    second = accepted(a.submit("ca", 2, 1, Set("L1", {"x_mm": 10.0}), ANN)).entry
    b = Sequencer(Scene(), 0)
    b.adopt(first)
    b.adopt(second)
    assert b.version == 2 and b.scene == a.scene
    assert b.client_seqs["ca"] == (2, 2)
    assert b.submit("ca", 2, 1, Set("L1", {"x_mm": 10.0}), ANN) == Duplicate(2)
    entry = accepted(b.submit("cb", 1, 1, Set("L1", {"x_mm": 20.0}), BOB)).entry
    assert entry.op == Set("L1", {"x_mm": 20.0}, {"x_mm": 10.0})
    with pytest.raises(ValueError, match="version 2 after version 3"):
        b.adopt(second)
