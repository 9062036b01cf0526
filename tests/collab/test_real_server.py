"""AsyncClients against a real ``python -m server`` subprocess over real sockets.

Every check ends the same way (``helpers.check_converged``): a fresh client
joins and its snapshot must equal every client's scene, the full history
(fetched with ``since=0``) must replay to it, and every ack any client got
must be in that history at the acked version.
"""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from optiverse.collab.bot import EditGenerator
from optiverse.collab.engine import ConnState
from optiverse.commands import Batch, Create, Delete
from tests.collab.conftest import ServerFactory
from tests.collab.helpers import Tracked, check_converged, fetch_history, run, settle


async def edit_for(
    t: Tracked, rng: random.Random, seconds: float, *, max_pause: float, drop_p: float = 0.0
) -> int:
    """Random edits with random pauses.

    With ``drop_p``, the socket is dropped abruptly once at a random moment
    and then with probability ``drop_p`` after each edit.
    """
    generate = EditGenerator(random.Random(rng.random()), t.id, target_size=12)
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    drop_at = loop.time() + rng.uniform(0.1, 0.9) * seconds if drop_p else end
    edits = 0
    while loop.time() < end:
        t.client.edit(generate(t.client.scene))
        edits += 1
        if rng.random() < drop_p or loop.time() >= drop_at:
            drop_at = end
            t.client.drop_connection()
        await asyncio.sleep(rng.uniform(0, max_pause))
    return edits


# More seeds to hunt with: OPTIVERSE_REAL_SEEDS=1-40
_RANGE = os.environ.get("OPTIVERSE_REAL_SEEDS", "11-13").split("-")
SEEDS = range(int(_RANGE[0]), int(_RANGE[-1]) + 1)


@pytest.mark.parametrize("seed", SEEDS)
def test_clients_editing_concurrently_with_drops_converge(
    server_proc: ServerFactory, seed: int
) -> None:
    srv = server_proc()
    rng = random.Random(seed)
    n = rng.randint(2, 10)

    async def scenario() -> None:
        fleet = [Tracked(f"c{i}") for i in range(n)]
        await fleet[0].client.start(srv.url, create=True)
        session = fleet[0].client.session
        assert session is not None
        for t in fleet[1:]:
            await t.client.start(srv.url, session=session)
        counts = await asyncio.gather(
            *(
                edit_for(t, random.Random(rng.random()), 1.5, max_pause=0.03, drop_p=0.03)
                for t in fleet
            )
        )
        assert sum(counts) > 10 * n
        assert all(t.client.stats.disconnects > 0 for t in fleet), "a connection was never dropped"
        try:
            await check_converged(srv.url, session, fleet, lambda: f"seed {seed}, {n} clients")
        finally:
            for t in fleet:
                await t.client.close()

    try:
        run(scenario())
    except BaseException as exc:
        raise AssertionError(
            f"seed {seed} ({n} clients) failed: {exc!r}\n{srv.log()[-3000:]}"
        ) from exc


def test_kill_9_mid_burst_loses_no_acked_op_and_offline_edits_arrive(
    server_proc: ServerFactory,
) -> None:
    srv = server_proc()
    rng = random.Random(7)

    async def scenario() -> None:
        fleet = [Tracked(f"k{i}") for i in range(3)]
        await fleet[0].client.start(srv.url, create=True)
        session = fleet[0].client.session
        assert session is not None
        for t in fleet[1:]:
            await t.client.start(srv.url, session=session)

        burst = [
            asyncio.create_task(edit_for(t, random.Random(rng.random()), 2.5, max_pause=0.004))
            for t in fleet
        ]
        await asyncio.sleep(0.8)
        srv.kill()
        acked_before_kill = sum(len(t.acked) for t in fleet)
        async with asyncio.timeout(5):
            while any(t.client.state is not ConnState.OFFLINE for t in fleet):
                await asyncio.sleep(0.01)
        # Edits while the server is down: applied locally, sent after it returns.
        offline = {t.id: f"{t.id}-offline" for t in fleet}
        for t in fleet:
            t.client.edit(Create(offline[t.id], "mirror", {"name": "made offline"}))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(srv.restart)
        counts = await asyncio.gather(*burst)
        try:
            assert acked_before_kill > 0 and sum(counts) > 100
            await check_converged(srv.url, session, fleet, lambda: "after kill -9")
            assert all(t.client.stats.connections >= 2 for t in fleet)
            history = await fetch_history(srv.url, session)
            created = {
                (e.client, op.id)
                for e in history
                for op in getattr(e.op, "ops", (e.op,))
                if isinstance(op, Create)
            }
            for t in fleet:
                assert (t.id, offline[t.id]) in created, f"{t.id}'s offline create never arrived"
                assert t.client.stats.refused == 0
                assert t.client.stats.edits_acked == t.client.stats.edits
        finally:
            for t in fleet:
                await t.client.close()

    try:
        run(scenario())
    except BaseException as exc:
        raise AssertionError(f"{exc!r}\n{srv.log()[-3000:]}") from exc


def test_a_rate_limited_client_resends_and_converges(server_proc: ServerFactory) -> None:
    srv = server_proc(None, "--max-ops-per-second", "20")

    async def scenario() -> None:
        fleet = [Tracked("fast"), Tracked("watcher")]
        await fleet[0].client.start(srv.url, create=True)
        session = fleet[0].client.session
        assert session is not None
        await fleet[1].client.start(srv.url, session=session)
        await edit_for(fleet[0], random.Random(3), 1.5, max_pause=0.002)
        try:
            stats = fleet[0].client.stats
            assert stats.throttled > 0, "the server never rate-limited the fast client"
            await check_converged(srv.url, session, fleet, lambda: f"{stats}")
            assert stats.edits_acked == stats.edits and stats.refused == 0
        finally:
            for t in fleet:
                await t.client.close()

    run(scenario())


def test_edits_larger_than_a_message_reach_everyone_in_parts(server_proc: ServerFactory) -> None:
    # Each edit below encodes to 1-2 MB, over the server's 1 MiB message limit:
    # they must go as several submits, and nobody may be disconnected for it.
    srv = server_proc()

    def lenses(prefix: str, n: int) -> Batch:
        return Batch(
            tuple(
                Create(f"{prefix}{i}", "lens", {"name": "n" * 200, "x_mm": float(i)})
                for i in range(n)
            )
        )

    async def scenario() -> None:
        a, b = Tracked("a"), Tracked("b")
        a.client.edit(lenses("A", 4000))  # offline: uploaded when the session is created
        await a.client.start(srv.url, create=True)
        session = a.client.session
        assert session is not None
        await b.client.start(srv.url, session=session)
        try:
            await settle([a.client, b.client])
            assert len(b.client.scene.components) == 4000
            # Concurrently: a deletes 2000 of its lenses while b pastes 4000 more.
            a.client.edit(Batch(tuple(Delete(f"A{i}") for i in range(2000))))
            b.client.edit(lenses("B", 4000))
            scene = await check_converged(srv.url, session, [a, b])
            assert len(scene.components) == 2000 + 4000
            assert all(t.client.stats.disconnects == 0 for t in (a, b))
        finally:
            await a.client.close()
            await b.client.close()

    run(scenario(), timeout=120.0)
