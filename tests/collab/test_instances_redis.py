"""Two ``python -m server`` processes sharing sessions through a real Redis.

The in-process tests (``test_instances.py``) cover the sequencing logic; these
run it as deployed: separate processes, the Redis store, ``kill -9`` of an
instance while both take edits, and the members of a dead instance dropped by
the others.
"""

from __future__ import annotations

import asyncio
import random
import secrets

import pytest

from optiverse.collab.engine import ConnState, PeerJoined, PeerLeft
from tests.collab.conftest import ServerFactory, ServerProcess
from tests.collab.helpers import Tracked, check_converged, fetch_history, run
from tests.collab.test_real_server import edit_for
from tests.redis_server import redis_url

__all__ = ["redis_url"]  # the fixture, imported to be found

pytestmark = pytest.mark.redis


def two_instances(
    server_proc: ServerFactory, redis_url: str, *args: str
) -> tuple[ServerProcess, ServerProcess]:
    store = f"{redis_url}?prefix=t{secrets.token_hex(4)}"
    return server_proc(store, *args), server_proc(store, *args)


@pytest.mark.parametrize("seed", [21, 22])
def test_clients_of_two_server_processes_converge(
    server_proc: ServerFactory, redis_url: str, seed: int
) -> None:
    a, b = two_instances(server_proc, redis_url)
    rng = random.Random(seed)
    n = rng.randint(4, 8)

    async def scenario() -> None:
        fleet = [Tracked(f"r{i}") for i in range(n)]
        await fleet[0].client.start(a.url, create=True)
        session = fleet[0].client.session
        assert session is not None
        for i, t in enumerate(fleet[1:], 1):
            await t.client.start((a, b)[i % 2].url, session=session)
        try:
            counts = await asyncio.gather(
                *(
                    edit_for(t, random.Random(rng.random()), 1.5, max_pause=0.02, drop_p=0.03)
                    for t in fleet
                )
            )
            assert sum(counts) > 10 * n
            for srv in (a, b):
                await check_converged(srv.url, session, fleet, lambda: f"seed {seed}")
        finally:
            for t in fleet:
                await t.client.close()

    try:
        run(scenario())
    except BaseException as exc:
        raise AssertionError(f"seed {seed}: {exc!r}\n{a.log()[-2000:]}\n{b.log()[-2000:]}") from exc
    # Each process took in the other's entries, and the two raced for the log.
    assert a.metric("optiverse_ops_adopted_total") > 0
    assert b.metric("optiverse_ops_adopted_total") > 0
    assert a.metric("optiverse_appends_lost_total") + b.metric("optiverse_appends_lost_total") > 0


def test_kill_9_of_one_instance_loses_no_acked_op_and_its_people_leave(
    server_proc: ServerFactory, redis_url: str
) -> None:
    a, b = two_instances(server_proc, redis_url, "--roster-seconds", "0.2")
    rng = random.Random(5)

    async def scenario() -> None:
        on_a = [Tracked(f"a{i}") for i in range(2)]
        on_b = [Tracked(f"b{i}") for i in range(2)]
        await on_a[0].client.start(a.url, create=True)
        session = on_a[0].client.session
        assert session is not None
        await on_a[1].client.start(a.url, session=session)
        for t in on_b:
            await t.client.start(b.url, session=session)
        fleet = on_a + on_b
        burst = [
            asyncio.create_task(edit_for(t, random.Random(rng.random()), 2.0, max_pause=0.005))
            for t in fleet
        ]
        await asyncio.sleep(0.6)
        a.kill()
        acked_before = sum(len(t.acked) for t in fleet)
        # B's people hear that A's are gone once A misses three roster periods.
        async with asyncio.timeout(10):
            while not all(
                {e.client for e in t.events if isinstance(e, PeerLeft)} >= {x.id for x in on_a}
                for t in on_b
            ):
                await asyncio.sleep(0.02)
        async with asyncio.timeout(5):
            while any(t.client.state is not ConnState.OFFLINE for t in on_a):
                await asyncio.sleep(0.01)
        await asyncio.to_thread(a.restart)
        counts = await asyncio.gather(*burst)
        try:
            assert acked_before > 0 and sum(counts) > 100
            for srv in (a, b):
                await check_converged(srv.url, session, fleet, lambda: "after kill -9 of A")
            assert all(t.client.stats.edits_acked == t.client.stats.edits for t in fleet)
            history = await fetch_history(b.url, session)
            assert {e.client for e in history} >= {t.id for t in fleet}
            # A's people are back: B's people saw them join again.
            for t in on_b:
                joined = [e.client for e in t.events if isinstance(e, PeerJoined)]
                assert all(joined.count(x.id) >= 1 for x in on_a)
        finally:
            for t in fleet:
                await t.client.close()

    try:
        run(scenario())
    except BaseException as exc:
        raise AssertionError(f"{exc!r}\n{a.log()[-3000:]}\n{b.log()[-3000:]}") from exc
