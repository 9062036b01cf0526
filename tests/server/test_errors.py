"""Refused input: the right error code, nothing for the others, the log unchanged, and the
connection kept open unless the protocol says it must close."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.server.conftest import ServerFactory, ServerProcess
from tests.server.wsclient import Client, lens, run, set_op


def _submit(seq: int, base: Any, op: Any, **extra: Any) -> str:
    return json.dumps({"type": "submit", "seq": seq, "base": base, "op": op, **extra})


BAD_INPUT: list[tuple[str, str | bytes, str, int | None]] = [
    ("not json", "{nope", "malformed", None),
    ("not an object", "[1, 2]", "malformed", None),
    ("binary frame", b'{"type": "presence"}', "malformed", None),
    ("unknown type", '{"type": "frobnicate"}', "unknown_type", None),
    ("no type", '{"seq": 3}', "unknown_type", None),
    ("missing field", '{"type": "submit", "seq": 7, "op": {"type": "noop"}}', "invalid_message", 7),
    ("extra field", _submit(7, 1, {"type": "noop"}, colour="red"), "invalid_message", 7),
    ("negative seq", _submit(-1, 1, {"type": "noop"}), "invalid_message", -1),
    ("wrong field type", _submit(7, "one", {"type": "noop"}), "invalid_message", 7),
    ("unknown op type", _submit(7, 1, {"type": "teleport", "id": "L1"}), "invalid_op", 7),
    ("unknown kind", _submit(7, 1, lens("X") | {"kind": "warpdrive"}), "invalid_op", 7),
    ("bad component id", _submit(7, 1, lens("no spaces allowed")), "invalid_op", 7),
    ("unknown component", _submit(7, 1, set_op("ghost", x_mm=1)), "invalid_op", 7),
    ("id already exists", _submit(7, 1, lens("L1")), "invalid_op", 7),
    ("value out of range", _submit(7, 1, set_op("L1", efl_mm=0)), "invalid_op", 7),
    ("unknown property", _submit(7, 1, set_op("L1", warp=9)), "invalid_op", 7),
    ("base ahead", _submit(7, 99, set_op("L1", x_mm=1)), "base_ahead", 7),
    ("seq older than acked", _submit(0, 1, set_op("L1", x_mm=1)), "stale_seq", 0),
    ("non-finite cursor", '{"type": "presence", "cursor": [NaN, 0]}', "invalid_message", None),
    (
        "second hello",
        json.dumps(
            {
                "type": "hello",
                "protocol": 1,
                "create": True,
                "client": "c",
                "user": {"id": "u", "name": "U"},
            }
        ),
        "already_joined",
        None,
    ),
]


@pytest.mark.parametrize(
    ("message", "code", "seq"),
    [pytest.param(m, c, s, id=name) for name, m, c, s in BAD_INPUT],
)
def test_bad_input_is_refused_alone(
    shared_server: ServerProcess, message: str | bytes, code: str, seq: int | None
) -> None:
    async def go() -> None:
        a = await Client.join(shared_server.url)
        b = await Client.join(shared_server.url, a.session)
        await a.commit(lens("L1"))  # seq 1, version 1
        await b.expect("op")
        await a.expect("joined")

        await a.send(message)
        error = await a.expect("error")
        assert error["code"] == code, error
        assert error["seq"] == seq
        assert error["message"] and "Traceback" not in error["message"]
        # Still open, and the log did not move: the next op gets version 2, and
        # it is the next thing b receives (one connection's messages keep their order).
        a.version = 1
        assert await a.commit(set_op("L1", x_mm=3), seq=2) == 2
        nxt = await b.recv()
        assert (nxt["type"], nxt["version"]) == ("op", 2)
        await a.close()
        await b.close()

    run(go())


def test_anything_before_hello_is_not_joined(shared_server: ServerProcess) -> None:
    async def go() -> None:
        c = await Client.open(shared_server.url)
        await c.send(_submit(4, 0, {"type": "noop"}))
        error = await c.expect("error")
        assert error["code"] == "not_joined" and error["seq"] == 4
        await c.send("garbage")
        assert (await c.expect("error"))["code"] == "malformed"
        await c.hello(None)
        assert (await c.expect("welcome"))["version"] == 0
        await c.close()

    run(go())


def test_wrong_password_is_refused_and_closed_4003(shared_server: ServerProcess) -> None:
    async def go() -> None:
        owner = await Client.join(shared_server.url, password="s3cret")
        for attempt in ("wrong", None):
            c = await Client.open(shared_server.url)
            await c.hello(owner.session, password=attempt)
            error = await c.expect("error")
            assert error["code"] == "bad_password"
            assert await c.closed() == (4003, "bad_password")
        ok = await Client.join(shared_server.url, owner.session, password="s3cret")
        assert ok.welcome["session"] == owner.session
        assert {m["type"] for m in await owner.drain()} == {"joined"}  # no joined for the failures
        await owner.close()
        await ok.close()

    run(go())


def test_unknown_session_is_refused_and_closed_4004(shared_server: ServerProcess) -> None:
    async def go() -> None:
        c = await Client.open(shared_server.url)
        await c.hello("no-such-session")
        assert (await c.expect("error"))["code"] == "unknown_session"
        assert await c.closed() == (4004, "unknown_session")

    run(go())


def test_unsupported_protocol_is_closed_4005(shared_server: ServerProcess) -> None:
    async def go() -> None:
        c = await Client.open(shared_server.url)
        await c.send(
            {"type": "hello", "protocol": 2, "create": True, "client": "c", "user": c.user}
        )
        assert (await c.expect("error"))["code"] == "protocol_version"
        assert (await c.closed())[0] == 4005

    run(go())


def test_oversized_message_closes_1009(server_proc: ServerFactory) -> None:
    srv = server_proc("memory://", "--max-message-bytes", "4096")

    async def go() -> None:
        a = await Client.join(srv.url)
        b = await Client.join(srv.url, a.session)
        assert a.welcome["limits"]["max_message_bytes"] == 4096
        await a.send({"type": "presence", "selection": ["x" * 100] * 50})
        assert (await a.closed())[0] == 1009
        assert [m["type"] for m in await b.drain()] == ["left"]
        await b.commit(lens("L1"))  # the session goes on
        await b.close()

    run(go())


def test_rate_limit_refuses_excess_then_closes_4029(server_proc: ServerFactory) -> None:
    srv = server_proc("memory://", "--max-ops-per-second", "5", "--rate-limit-strikes", "30")

    async def go() -> None:
        a = await Client.join(srv.url)
        seqs = [await a.submit(lens(f"L{i}"), base=0) for i in range(14)]
        replies = [await a.recv() for _ in seqs]
        acked = [m["seq"] for m in replies if m["type"] == "ack"]
        refused = [m for m in replies if m["type"] == "error"]
        assert acked == seqs[:10]  # the burst (twice the rate)
        assert [m["seq"] for m in refused] == seqs[10:]
        assert {m["code"] for m in refused} == {"rate_limited"}
        await asyncio.sleep(0.5)
        # The client resends what was refused, at the allowed rate.
        assert await a.commit(lens("L10"), seq=seqs[10], base=0) == 11
        # A client that ignores the errors is cut off.
        for i in range(60):
            await a.submit(lens(f"M{i}"), base=0)
        code, _reason = await a.closed()
        assert code == 4029
        assert srv.metric("optiverse_ops_rejected_total") >= 30

    run(go())


def test_session_full_closes_4006_and_scene_full_is_refused(server_proc: ServerFactory) -> None:
    srv = server_proc("memory://", "--max-clients-per-session", "2", "--max-components", "2")

    async def go() -> None:
        a = await Client.join(srv.url)
        b = await Client.join(srv.url, a.session)
        c = await Client.open(srv.url)
        await c.hello(a.session)
        assert (await c.expect("error"))["code"] == "session_full"
        assert (await c.closed())[0] == 4006

        await a.commit(lens("L1"))
        await a.commit(lens("L2"))
        seq = await a.submit(lens("L3"))
        error = await a.expect("error")
        assert error["code"] == "scene_full" and error["seq"] == seq
        await a.close()
        await b.close()

    run(go())
