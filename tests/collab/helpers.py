"""Shared pieces of the real-server client tests: a history fetch, a fleet of clients."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from websockets.asyncio.client import connect

from optiverse.collab.aio import MAX_INCOMING_BYTES, AsyncClient
from optiverse.collab.backoff import backoff
from optiverse.collab.engine import Acked, Event
from optiverse.collab.messages import (
    PROTOCOL_VERSION,
    ErrorMsg,
    Hello,
    OpMsg,
    User,
    Welcome,
    decode_server,
    encode,
)
from optiverse.commands import apply
from optiverse.scene import Scene

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def fast_backoff() -> Iterator[float]:
    return backoff(initial=0.05, max_delay=0.4, rng=random.Random(0))


class Tracked:
    """An AsyncClient and the acks it was given, by (seq, version)."""

    def __init__(self, name: str, **options: Any) -> None:
        self.acked: list[tuple[int, int]] = []
        self.events: list[Event] = []
        self.client = AsyncClient(
            User("u-" + name, name), on_event=self._on_event, delays=fast_backoff, **options
        )

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, Acked):
            self.acked.append((event.seq, event.version))

    @property
    def id(self) -> str:
        return self.client.client_id


async def fetch_history(url: str, session: str, password: str | None = None) -> list[OpMsg]:
    """Every logged entry of ``session``: join with ``since=0`` on a bare socket."""
    user = User("auditor", "Auditor")
    hello = Hello(
        PROTOCOL_VERSION,
        user,
        client="audit-" + secrets.token_hex(4),
        session=session,
        password=password,
        since=0,
    )
    async with connect(url, max_size=MAX_INCOMING_BYTES) as ws:
        await ws.send(encode(hello))
        while True:
            message = decode_server(await ws.recv())
            if isinstance(message, ErrorMsg):
                raise AssertionError(f"history fetch refused: {message}")
            if isinstance(message, Welcome):
                assert message.ops is not None, "since=0 must give ops, not a snapshot"
                return list(message.ops)


def replay(history: list[OpMsg]) -> Scene:
    scene = Scene()
    for version, entry in enumerate(history, 1):
        assert entry.version == version, f"history has version {entry.version} at {version}"
        apply(scene, entry.op)
    return scene


async def settle(clients: list[AsyncClient], timeout: float = 20.0) -> None:
    """Wait until every client is synced and at the same version (the broadcasts have landed)."""
    async with asyncio.timeout(timeout):
        for client in clients:
            await client.wait_synced()
        while len({c.version for c in clients}) > 1 or not all(c.synced for c in clients):
            await asyncio.sleep(0.01)


async def check_converged(
    url: str, session: str, fleet: list[Tracked], describe: Callable[[], str] = str
) -> Scene:
    """Everyone equals a fresh joiner's snapshot; the history replays to it; no ack was lost."""
    await settle([t.client for t in fleet])
    fresh = AsyncClient(User("fresh", "Fresh"))
    await fresh.start(url, session=session)
    try:
        for t in fleet:
            assert t.client.version == fresh.version, (
                f"{t.id} at version {t.client.version}, server at {fresh.version}; {describe()}"
            )
            assert t.client.scene == fresh.scene, f"{t.id} differs from the server; {describe()}"
        history = await fetch_history(url, session)
        assert len(history) == fresh.version
        assert replay(history) == fresh.scene, f"the log does not replay to the scene; {describe()}"
        logged = {(e.client, e.seq): e.version for e in history}
        for t in fleet:
            for seq, version in t.acked:
                assert logged.get((t.id, seq)) == version, (
                    f"{t.id} seq {seq} was acked at version {version}, history has "
                    f"{logged.get((t.id, seq))}; {describe()}"
                )
        return fresh.scene
    finally:
        await fresh.close()
