"""The server's hot path takes shortcuts; each must agree with the general route it skips."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optiverse.collab import messages
from optiverse.collab.messages import (
    Ack,
    ClientMessage,
    OpMsg,
    ProtocolError,
    ServerMessage,
    User,
    decode_client,
    encode,
    encode_entry,
    forget_entry,
    remember_entry,
)
from optiverse.commands import Op, Set, apply, transform_against
from optiverse.scene import Scene
from optiverse.wire import WireError, dumps, structure, unstructure
from server.sequencer import Accepted, Sequencer, _relevant
from tests.strategies import ops, scenes

_GOOD_VALUES = st.none() | st.booleans() | st.integers(-5, 10**20) | st.floats(allow_nan=False)
_VALUES = _GOOD_VALUES | st.text(max_size=3) | st.lists(st.integers(), max_size=1)
_KEYS = st.sampled_from(["x_mm", "y_mm", "name", "locked"])


@st.composite
def submit_data(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly well-formed submits of a Set, each field now and then wrong."""

    def field(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> Any:
        return draw(bad if draw(st.integers(0, 7)) == 0 else good)

    props = st.dictionaries(_KEYS, _VALUES, min_size=1, max_size=3)
    op: dict[str, Any] = {
        "type": field(st.just("set"), st.sampled_from(["create", "nope", 1])),
        "id": field(st.sampled_from(["L1", "t3-2"]), st.sampled_from(["", "bad id", "x" * 129, 0])),
        "props": field(props, st.sampled_from([None, [], {}, "x"])),
    }
    if draw(st.booleans()):
        op["old"] = field(
            st.dictionaries(_KEYS, _VALUES, max_size=3), st.sampled_from([None, [], "x"])
        )
    if draw(st.integers(0, 9)) == 0:
        op["extra"] = 1
    data: dict[str, Any] = {
        "type": "submit",
        "seq": field(st.integers(0, 10**20), st.sampled_from([-1, True, 1.0, "1", None])),
        "base": field(st.integers(0, 10**6), st.sampled_from([-1, False, 2.5])),
        "op": field(st.just(op), _VALUES),
    }
    if draw(st.booleans()):
        data["origin"] = field(
            st.sampled_from(["edit", "undo", "redo"]), st.sampled_from(["bogus", 3, None])
        )
    if draw(st.integers(0, 19)) == 0:
        data["extra"] = None
    return data


def _general(data: dict[str, Any]) -> tuple[str, str]:
    try:
        return "ok", repr(structure(data, ClientMessage, "submit message"))
    except WireError as exc:
        return "error", str(exc)


@settings(max_examples=1000)
@given(submit_data())
def test_fast_submit_decoding_agrees_with_the_converter(data: dict[str, Any]) -> None:
    fast = messages._fast_submit(copy.deepcopy(data))
    if fast is not None:
        assert _general(data) == ("ok", repr(fast))
    # decode_client as a whole: the same message, or the same error, either way.
    text = json.dumps(data)
    try:
        decoded: tuple[str, str] = ("ok", repr(decode_client(text)))
    except ProtocolError as exc:
        decoded = ("error", exc.message)
    assert decoded == _general(json.loads(text))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), scene=scenes(), when=st.floats(0, 2e9) | st.just(0.0))
def test_entry_encoding_agrees_with_the_converter(
    data: st.DataObject, scene: Scene, when: float
) -> None:
    op = data.draw(ops(scene))
    user = User("ann", 'Ann \u00e9"', data.draw(st.sampled_from([None, "#3366CC"])))
    entry = OpMsg(
        version=data.draw(st.integers(1, 10**9)),
        client=data.draw(st.sampled_from(["c1", "caf\u00e9", 'q"uote'])),
        seq=data.draw(st.integers(0, 10**9)),
        user=user,
        op=op,
        origin=data.draw(st.sampled_from(["edit", "undo", "redo"])),
        time=when,
    )
    generic = dumps(entry, ServerMessage)
    assert encode(entry) == generic
    parts = encode_entry(entry)
    assert parts.text == generic
    assert parts.op_json == dumps(op, Op)
    assert parts.user_json == json.dumps(unstructure(user), separators=(",", ":"))
    assert remember_entry(entry) == parts
    assert encode_entry(entry) is encode_entry(entry)  # remembered
    forget_entry(entry)
    assert encode_entry(entry) is not encode_entry(entry)
    ack = Ack(entry.seq, entry.version)
    assert encode(ack) == dumps(ack, ServerMessage)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), scene=scenes(max_size=3))
def test_apply_returns_a_set_equal_to_a_validated_one(data: st.DataObject, scene: Scene) -> None:
    op = data.draw(ops(scene, kind="set"))
    effective = apply(scene.copy(), op)
    if isinstance(effective, Set):
        assert effective == Set(effective.id, effective.props, effective.old)
        assert repr(effective) == repr(Set(effective.id, effective.props, effective.old))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), scene=scenes(max_size=3))
def test_skipping_unrelated_history_transforms_the_same(data: st.DataObject, scene: Scene) -> None:
    """Transforming past only the entries on the op's ids gives the same op as past all."""
    base = scene.copy()
    history: list[OpMsg] = []
    user = User("ann", "Ann")
    for version in range(1, data.draw(st.integers(0, 6)) + 1):
        op = data.draw(ops(scene, fresh=[f"n{version}", "n0"]))
        apply(scene, op)
        history.append(OpMsg(version, "c", version, user, op))
    mine = data.draw(ops(base, fresh=["n0", "n1"]))
    everything = transform_against(mine, (e.op for e in history))
    assert transform_against(mine, _relevant(mine, history)) == everything


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), scene=scenes(max_size=3))
def test_the_touched_index_sequences_like_a_full_transform(
    data: st.DataObject, scene: Scene
) -> None:
    """A submit whose id nobody touched since its base skips the transform: same outcome."""
    fast = Sequencer(scene.copy(), 0)
    full = Sequencer(scene.copy(), 0)
    full._touched_from = 10**9  # never trusts the index: always transforms past the history
    views = [scene.copy()]  # the scene at each version, what a client at that base saw
    user = User("ann", "Ann")
    for seq in range(1, data.draw(st.integers(1, 8)) + 1):
        base = data.draw(st.integers(0, fast.version))
        op = data.draw(ops(views[base], fresh=[f"n{seq}", "n0"]))
        results = [s.submit("c", seq, base, op, user, now=1.0) for s in (fast, full)]
        assert results[0] == results[1]
        if isinstance(results[0], Accepted):
            views.append(fast.scene.copy())
        assert fast.scene == full.scene
