"""Protocol flows against a real server process: welcome, ack, op, presence, joined, left."""

from __future__ import annotations

import asyncio
import re

from tests.server.conftest import ServerFactory, ServerProcess
from tests.server.wsclient import Client, lens, run, set_op


def test_create_gives_a_fresh_unguessable_session(shared_server: ServerProcess) -> None:
    async def go() -> None:
        a = await Client.join(shared_server.url)
        b = await Client.join(shared_server.url)
        for c in (a, b):
            w = c.welcome
            assert re.fullmatch(r"[A-Za-z0-9_-]{16,}", w["session"])  # >= 96 bits, URL-safe
            assert w["version"] == 0
            assert w["snapshot"] == {"format": "optiverse-scene", "version": 1, "components": []}
            assert w["ops"] is None
            assert w["users"] == [c.user]
            assert w["limits"]["max_message_bytes"] == 1 << 20
            assert w["limits"]["ops_per_second"] > 0
        assert a.session != b.session
        await a.close()
        await b.close()

    run(go())


def test_submit_acks_sender_and_broadcasts_to_the_others(shared_server: ServerProcess) -> None:
    async def go() -> None:
        a = await Client.join(shared_server.url, name="Ann")
        b = await Client.join(shared_server.url, a.session, name="Bob")
        c = await Client.join(shared_server.url, a.session, name="Cy")
        joined = await a.expect("joined")
        assert joined["user"] == b.user and joined["client"] == b.client_id
        assert (await a.expect("joined"))["client"] == c.client_id
        await b.expect("joined")
        assert {u["id"] for u in c.welcome["users"]} == {a.user["id"], b.user["id"], c.user["id"]}

        seq = await a.submit(lens("L1", x_mm=5))
        ack = await a.expect("ack")
        assert ack == {"type": "ack", "seq": seq, "version": 1}
        for other in (b, c):
            op = await other.expect("op")
            assert op["version"] == 1 and op["client"] == a.client_id and op["seq"] == seq
            assert op["user"] == a.user
            assert op["op"]["type"] == "create" and op["op"]["props"]["x_mm"] == 5.0
            assert op["op"]["props"]["efl_mm"] == 100.0  # the op as it applied, defaults filled
        await a.nothing()  # the sender gets the ack, not its own op
        for x in (a, b, c):
            await x.close()

    run(go())


def test_versions_are_consecutive_under_concurrent_submits(shared_server: ServerProcess) -> None:
    async def go() -> None:
        first = await Client.join(shared_server.url)
        clients = [first] + [await Client.join(shared_server.url, first.session) for _ in range(3)]
        await asyncio.sleep(0.1)
        for c in clients:
            c.inbox.clear()

        async def burst(c: Client, k: int) -> list[int]:
            seqs = [await c.submit(lens(f"{c.client_id}-{i}"), base=0) for i in range(k)]
            return [(await c.expect("ack", seq=s))["version"] for s in seqs]

        acked = await asyncio.gather(*(burst(c, 25) for c in clients))
        versions = sorted(v for vs in acked for v in vs)
        assert versions == list(range(1, 101))
        for vs in acked:
            assert vs == sorted(vs)  # one client's ops keep its order
        # Every client sees every version exactly once: its acks plus the others' ops.
        for c, mine in zip(clients, acked, strict=True):
            seen = set(mine)
            while len(seen) < 100:
                seen.add((await c.expect("op"))["version"])
            assert seen == set(range(1, 101))
        for c in clients:
            await c.close()

    run(go())


def test_stale_base_is_transformed_later_write_wins(shared_server: ServerProcess) -> None:
    async def go() -> None:
        a = await Client.join(shared_server.url)
        b = await Client.join(shared_server.url, a.session)
        await a.commit(lens("L1"))
        await b.expect("op")
        b.version = 1
        # Both edit x_mm at version 1; a's is ordered first, b's (base 1) is transformed.
        await a.commit(set_op("L1", x_mm=10))
        v = await b.commit(set_op("L1", x_mm=20, y_mm=3), base=1)
        assert v == 3
        op = await a.expect("op", version=3)
        assert op["op"]["props"] == {"x_mm": 20.0, "y_mm": 3.0}
        assert op["op"]["old"] == {"x_mm": 10.0, "y_mm": 0.0}
        c = await Client.join(shared_server.url, a.session)
        (comp,) = c.welcome["snapshot"]["components"]
        assert comp["props"]["x_mm"] == 20.0 and comp["props"]["y_mm"] == 3.0
        for x in (a, b, c):
            await x.close()

    run(go())


def test_since_gives_missed_ops_else_a_snapshot(shared_server: ServerProcess) -> None:
    async def go() -> None:
        a = await Client.join(shared_server.url)
        for i in range(5):
            await a.commit(lens(f"L{i}"))
        b = await Client.join(shared_server.url, a.session, since=2)
        assert b.welcome["version"] == 5 and b.welcome["snapshot"] is None
        assert [e["version"] for e in b.welcome["ops"]] == [3, 4, 5]
        assert b.welcome["ops"][0]["op"]["id"] == "L2"
        c = await Client.join(shared_server.url, a.session, since=5)
        assert c.welcome["ops"] == [] and c.welcome["snapshot"] is None
        # The client is ahead of the server (the server lost state): a snapshot.
        d = await Client.join(shared_server.url, a.session, since=99)
        assert d.welcome["ops"] is None and len(d.welcome["snapshot"]["components"]) == 5
        for x in (a, b, c, d):
            await x.close()

    run(go())


def test_resubmitted_seq_is_acked_with_its_version_and_applied_once(
    shared_server: ServerProcess,
) -> None:
    async def go() -> None:
        a = await Client.join(shared_server.url, client_id="resubmitter")
        b = await Client.join(shared_server.url, a.session)
        v1 = await a.commit(lens("L1"))
        await a.commit(lens("L2"))
        # Pipelined: seq 3 and 4 sent, then the connection drops before reading the acks.
        await a.submit(set_op("L1", x_mm=1), seq=3)
        await a.submit(set_op("L1", x_mm=2), seq=4)
        await asyncio.sleep(0.2)
        await a.ws.close()
        a2 = await Client.join(shared_server.url, a.session, client_id="resubmitter", since=2)
        assert [e["seq"] for e in a2.welcome["ops"]] == [3, 4]
        await a2.submit(set_op("L1", x_mm=1), seq=3, base=2)
        await a2.submit(set_op("L1", x_mm=2), seq=4, base=2)
        assert (await a2.expect("ack", seq=3))["version"] == 3
        assert (await a2.expect("ack", seq=4))["version"] == 4
        await a2.submit(lens("L1"), seq=1, base=0)  # older still, and invalid if re-applied
        assert (await a2.expect("ack", seq=1))["version"] == v1
        seen = [(await b.expect("op"))["version"] for _ in range(4)]
        assert seen == [1, 2, 3, 4]
        assert [m for m in await b.drain() if m["type"] == "op"] == []
        assert a2.welcome["version"] == 4
        c = await Client.join(shared_server.url, a.session)
        assert c.welcome["version"] == 4
        for x in (a2, b, c):
            await x.close()

    run(go())


def test_presence_is_relayed_with_the_user_and_not_logged(shared_server: ServerProcess) -> None:
    async def go() -> None:
        a = await Client.join(shared_server.url)
        b = await Client.join(shared_server.url, a.session)
        await a.expect("joined")
        await a.send({"type": "presence", "cursor": [1.5, -2], "selection": ["L1"]})
        p = await b.expect("presence")
        assert p == {
            "type": "presence",
            "user": a.user,
            "client": a.client_id,
            "cursor": [1.5, -2.0],
            "selection": ["L1"],
        }
        await a.nothing()
        # A burst is coalesced: the last position always arrives, not every one.
        for i in range(20):
            await a.send({"type": "presence", "cursor": [i, 0]})
        last = None
        while last is None or last["cursor"] != [19.0, 0.0]:
            last = await b.expect("presence")
        # A newcomer learns where the others are; presence takes no version.
        c = await Client.join(shared_server.url, a.session)
        assert c.welcome["version"] == 0
        p = await c.expect("presence")
        assert p["client"] == a.client_id and p["cursor"] == [19.0, 0.0]
        for x in (a, b, c):
            await x.close()

    run(go())


def test_left_goes_out_when_a_client_disconnects(shared_server: ServerProcess) -> None:
    async def go() -> None:
        a = await Client.join(shared_server.url)
        b = await Client.join(shared_server.url, a.session)
        await a.expect("joined")
        await b.close()
        left = await a.expect("left")
        assert left == {"type": "left", "user": b.user, "client": b.client_id}
        await a.close()

    run(go())


def test_joiner_during_a_burst_converges(shared_server: ServerProcess) -> None:
    """A welcome snapshot plus the ops after it (ignoring versions it has) is the whole log."""

    async def go() -> None:
        a = await Client.join(shared_server.url)
        seqs = [await a.submit(lens(f"L{i}"), base=0) for i in range(60)]
        b = await Client.join(shared_server.url, a.session)
        have = {c["id"] for c in b.welcome["snapshot"]["components"]}
        version = b.welcome["version"]
        for s in seqs:
            await a.expect("ack", seq=s)
        while version < 60:
            op = await b.expect("op")
            if op["version"] <= b.welcome["version"]:
                continue  # already in the snapshot; clients ignore it
            assert op["version"] == version + 1
            version = op["version"]
            have.add(op["op"]["id"])
        assert have == {f"L{i}" for i in range(60)}
        await a.close()
        await b.close()

    run(go())


def test_bases_and_since_older_than_the_in_memory_tail(server_proc: ServerFactory) -> None:
    """The session keeps the last 512 entries in memory; older history comes from the store."""
    srv = server_proc(None, "--max-ops-per-second", "100000")

    async def go() -> None:
        a = await Client.join(srv.url)
        await a.commit(lens("L1"))
        await a.commit(lens("L2"))
        seqs = [await a.submit(set_op("L2", x_mm=i % 50), base=2) for i in range(600)]
        for s in seqs:
            await a.expect("ack", seq=s)
        b = await Client.join(srv.url, a.session, since=1)
        assert [e["version"] for e in b.welcome["ops"]] == list(range(2, 603))
        # b's edit was made at version 2: transformed past 600 sets of another component.
        assert await b.commit(set_op("L1", y_mm=5), base=2) == 603
        # ... and one on the same property made at version 3 loses to the later ones.
        v = await b.commit(set_op("L2", x_mm=42, y_mm=1), base=3)
        op = await a.expect("op", version=v)
        assert op["op"]["props"] == {"x_mm": 42.0, "y_mm": 1.0}
        c = await Client.join(srv.url, a.session)
        comps = {x["id"]: x["props"] for x in c.welcome["snapshot"]["components"]}
        assert comps["L1"]["y_mm"] == 5.0 and comps["L2"]["x_mm"] == 42.0
        for x in (a, b, c):
            await x.close()

    run(go())
