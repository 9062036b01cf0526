"""Several server instances serving one session through one shared store.

Each instance sequences its own clients' submits; the store's compare-and-set
append orders them, and an instance that loses it catches up and sequences
its pending submits again (``server/session.py``). Here two real
``OptiverseServer`` instances run in this process over one ``MemoryStore``,
with real clients on real sockets; ``tests/collab/test_instances_redis.py``
does the same with server processes over Redis.
"""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from optiverse.collab.engine import PeerJoined, PeerLeft, PeerPresence, Welcomed
from optiverse.commands import Create, Set
from server.app import OptiverseServer
from server.config import ServerConfig
from server.store import MemoryStore, Store
from tests.collab.helpers import Tracked, check_converged, fetch_history, run
from tests.collab.test_real_server import edit_for


async def start_instances(store: Store, n: int = 2, **config: object) -> list[OptiverseServer]:
    servers = [
        OptiverseServer(ServerConfig(port=0, store="memory://", **config), store)  # type: ignore[arg-type]
        for _ in range(n)
    ]
    for server in servers:
        await server.start()
    return servers


def url(server: OptiverseServer) -> str:
    return f"ws://127.0.0.1:{server.port}"


async def stop_all(servers: list[OptiverseServer]) -> None:
    for server in servers:
        await server.stop()


# More seeds to hunt with: OPTIVERSE_INSTANCE_SEEDS=1-40
_RANGE = os.environ.get("OPTIVERSE_INSTANCE_SEEDS", "1-3").split("-")
SEEDS = range(int(_RANGE[0]), int(_RANGE[-1]) + 1)


@pytest.mark.parametrize("seed", SEEDS)
def test_clients_of_two_instances_converge(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(3, 8)
    n_servers = 2 + seed % 2

    async def scenario() -> None:
        servers = await start_instances(MemoryStore(), n_servers)
        fleet = [Tracked(f"i{i}") for i in range(n)]
        try:
            await fleet[0].client.start(url(servers[0]), create=True)
            session = fleet[0].client.session
            assert session is not None
            for i, t in enumerate(fleet[1:], 1):
                await t.client.start(url(servers[i % n_servers]), session=session)
            counts = await asyncio.gather(
                *(
                    edit_for(t, random.Random(rng.random()), 1.5, max_pause=0.02, drop_p=0.03)
                    for t in fleet
                )
            )
            assert sum(counts) > 10 * n
            for server in servers:
                scene = await check_converged(url(server), session, fleet, lambda: f"seed {seed}")
            assert len(scene) > 0
            # Every instance sequenced and took in the others' entries; they raced.
            assert all(s.metrics.ops_sequenced.get() > 0 for s in servers)
            assert all(s.metrics.ops_adopted.get() > 0 for s in servers)
            assert sum(s.metrics.lost_appends.get() for s in servers) > 0
        finally:
            for t in fleet:
                await t.client.close()
            await stop_all(servers)

    run(scenario())


def test_an_edit_on_one_instance_reaches_the_other_at_once() -> None:
    async def scenario() -> None:
        servers = await start_instances(MemoryStore())
        ann, bob = Tracked("ann"), Tracked("bob")
        try:
            await ann.client.start(url(servers[0]), create=True)
            assert ann.client.session is not None
            await bob.client.start(url(servers[1]), session=ann.client.session)
            ann.client.edit(Create("m1", "mirror", {"x_mm": 5.0}))
            async with asyncio.timeout(5):
                while "m1" not in bob.client.scene:
                    await asyncio.sleep(0.005)
            bob.client.edit(Create("l1", "lens", {"x_mm": 50.0}))
            async with asyncio.timeout(5):
                while "l1" not in ann.client.scene:
                    await asyncio.sleep(0.005)
            await check_converged(url(servers[1]), ann.client.session, [ann, bob])
        finally:
            await ann.client.close()
            await bob.client.close()
            await stop_all(servers)

    run(scenario())


def test_a_submit_made_before_the_other_instances_edits_is_transformed_past_them() -> None:
    # Ann (instance A) and Bob (instance B) both set the same mirror's x at the
    # same base; whichever the store takes second is transformed past the
    # first on its own instance, and both end on the same value.
    async def scenario() -> None:
        servers = await start_instances(MemoryStore())
        ann, bob = Tracked("ann"), Tracked("bob")
        try:
            await ann.client.start(url(servers[0]), create=True)
            session = ann.client.session
            assert session is not None
            ann.client.edit(Create("m1", "mirror", {"x_mm": 0.0}))
            await bob.client.start(url(servers[1]), session=session)
            await check_converged(url(servers[0]), session, [ann, bob])
            for round_ in range(20):
                ann.client.edit(Set("m1", {"x_mm": float(round_)}))
                bob.client.edit(Set("m1", {"x_mm": float(-round_)}))
                ann.client.edit(Create(f"a{round_}", "lens", {}))
                bob.client.edit(Create(f"b{round_}", "block", {}))
                await asyncio.sleep(0.002)
            scene = await check_converged(url(servers[1]), session, [ann, bob])
            assert {f"a{i}" for i in range(20)} | {f"b{i}" for i in range(20)} <= set(scene)
        finally:
            await ann.client.close()
            await bob.client.close()
            await stop_all(servers)

    run(scenario())


def test_people_on_other_instances_are_seen_joining_moving_and_leaving() -> None:
    async def scenario() -> None:
        servers = await start_instances(MemoryStore())
        ann, bob, cat = Tracked("ann"), Tracked("bob"), Tracked("cat")
        try:
            await ann.client.start(url(servers[0]), create=True)
            session = ann.client.session
            assert session is not None
            await bob.client.start(url(servers[1]), session=session)
            async with asyncio.timeout(5):
                while not any(isinstance(e, PeerJoined) for e in ann.events):
                    await asyncio.sleep(0.005)
            assert [e.user.name for e in ann.events if isinstance(e, PeerJoined)] == ["bob"]
            bob.client.presence((12.0, 34.0), ("m1",))
            async with asyncio.timeout(5):
                while not any(isinstance(e, PeerPresence) for e in ann.events):
                    await asyncio.sleep(0.005)
            seen = next(e for e in ann.events if isinstance(e, PeerPresence))
            assert (seen.user.name, seen.cursor, seen.selection) == ("bob", (12.0, 34.0), ("m1",))
            # A later joiner on the first instance is welcomed with Bob in the
            # users and gets his last presence.
            await cat.client.start(url(servers[0]), session=session)
            welcome = next(e for e in cat.events if isinstance(e, Welcomed))
            assert {u.name for u in welcome.users} == {"ann", "bob", "cat"}
            async with asyncio.timeout(5):
                while not any(isinstance(e, PeerPresence) for e in cat.events):
                    await asyncio.sleep(0.005)
            await bob.client.close()
            async with asyncio.timeout(5):
                while not any(isinstance(e, PeerLeft) for e in ann.events):
                    await asyncio.sleep(0.005)
            assert [e.user.name for e in ann.events if isinstance(e, PeerLeft)] == ["bob"]
        finally:
            for t in (ann, bob, cat):
                await t.client.close()
            await stop_all(servers)

    run(scenario())


def test_a_server_that_missed_the_events_catches_up_before_a_welcome() -> None:
    # Ann edits on A; B, which serves Cat, hears nothing (its events are lost).
    # A client that saw Ann's edits then joins B with ``since``: B must not
    # welcome it at an older version.
    async def scenario() -> None:
        servers = await start_instances(MemoryStore())
        ann, cat = Tracked("ann"), Tracked("cat")
        try:
            await ann.client.start(url(servers[0]), create=True)
            session = ann.client.session
            assert session is not None
            await cat.client.start(url(servers[1]), session=session)
            servers[1].sessions[session]._unwatch()  # B stops hearing events
            for i in range(5):
                ann.client.edit(Create(f"m{i}", "mirror", {"x_mm": float(i)}))
            await ann.client.wait_synced()
            seen = ann.client.version
            assert seen > 0 and servers[1].sessions[session].durable_version < seen
            history = await fetch_history(url(servers[1]), session)  # joins B with since=0
            assert [e.version for e in history] == list(range(1, seen + 1))
            # Cat, on B all along, got the entries B took in for that join.
            async with asyncio.timeout(5):
                while cat.client.version < seen:
                    await asyncio.sleep(0.005)
            await check_converged(url(servers[1]), session, [ann, cat])
        finally:
            await ann.client.close()
            await cat.client.close()
            await stop_all(servers)

    run(scenario())
