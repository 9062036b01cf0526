"""One contract suite, run against every Store adapter (MemoryStore, SqliteStore, RedisStore).

The Redis runs need a ``redis-server`` binary (tests/redis_server.py starts
one for the whole run; each test gets its own key prefix) and are skipped
without it.  The Redis-only tests at the end start their own servers when
they kill them.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from optiverse.collab.messages import OpMsg, User
from optiverse.commands import Create, Set
from server.sqlite_store import SqliteStore, SyncSqliteStore, sqlite_path
from server.store import (
    Appended,
    MemoryStore,
    Relayed,
    SessionExists,
    SessionMeta,
    Snapshot,
    Store,
    StoreError,
    StoreEvent,
    UnknownSession,
    open_store,
)
from tests.redis_server import redis_url, running_redis

__all__ = ["redis_url"]  # a fixture: imported for pytest to find

ANN = User("u-ann", "Ann", "#112233")
BOB = User("u-bob", "Bob")


def entry(version: int, client: str = "ca", seq: int | None = None, user: User = ANN) -> OpMsg:
    return OpMsg(
        version=version,
        client=client,
        seq=version if seq is None else seq,
        user=user,
        op=Create(f"L{version}", "lens", {"x_mm": float(version)}),
        origin="edit",
        time=1_700_000_000.0 + version,
    )


def scene(n: int) -> dict[str, Any]:
    return {"format": "optiverse-scene", "version": 1, "components": [{"id": f"c{n}"}]}


StoreFactory = Callable[[], Store]


def redis_store(url: str) -> Store:
    pytest.importorskip("redis")
    from server.redis_store import RedisStore

    return RedisStore(url)


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """A factory: calling it again gives a store over the same data where the adapter persists."""
    if request.param == "memory":
        shared = MemoryStore()
        yield lambda: shared
    elif request.param == "sqlite":
        yield lambda: SqliteStore(tmp_path / "store.db")
    else:
        url = request.getfixturevalue("redis_url")
        prefix = f"t{uuid.uuid4().hex[:12]}"  # this test's own keys on the shared server
        yield lambda: redis_store(f"{url}?prefix={prefix}")


def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.node.callspec.params["make_store"])


def run(make: StoreFactory, body: Callable[[Store], Coroutine[Any, Any, None]]) -> None:
    async def go() -> None:
        store = make()
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(go())


def test_create_then_load_an_empty_session(make_store: StoreFactory) -> None:
    async def body(store: Store) -> None:
        meta = SessionMeta("s1", "scrypt$hash", 123.0)
        await store.create_session(meta)
        record = await store.load_session("s1")
        assert record is not None
        assert record.meta == meta
        assert record.snapshot is None and record.snapshot_version == 0
        assert record.entries == () and record.version == 0
        assert dict(record.clients) == {}
        assert await store.load_session("nope") is None
        with pytest.raises(SessionExists):
            await store.create_session(SessionMeta("s1"))

    run(make_store, body)


def test_append_is_compare_and_set(make_store: StoreFactory) -> None:
    async def body(store: Store) -> None:
        await store.create_session(SessionMeta("s"))
        assert await store.append("s", [entry(1), entry(2)], 0)
        assert not await store.append("s", [entry(2)], 1)  # the head is 2, not 1
        assert not await store.append("s", [entry(1)], 0)
        assert await store.append("s", [entry(3)], 2)
        assert [e.version for e in await store.log("s")] == [1, 2, 3]
        with pytest.raises(StoreError):
            await store.append("s", [entry(5)], 3)  # not consecutive
        with pytest.raises(UnknownSession):
            await store.append("nope", [entry(1)], 0)
        assert [e.version for e in await store.log("s")] == [1, 2, 3]

    run(make_store, body)


def test_entries_round_trip_exactly(make_store: StoreFactory) -> None:
    async def body(store: Store) -> None:
        await store.create_session(SessionMeta("s"))
        e1 = entry(1)
        e2 = OpMsg(2, "cb", 9, BOB, Set("L1", {"x_mm": 2.5}, {"x_mm": 1.0}), "undo", 1.5)
        assert await store.append("s", [e1, e2], 0)
        assert await store.ops_since("s", 0) == [e1, e2]
        record = await store.load_session("s")
        assert record is not None and record.entries == (e1, e2)

    run(make_store, body)


def test_log_and_ops_since_ranges(make_store: StoreFactory) -> None:
    async def body(store: Store) -> None:
        await store.create_session(SessionMeta("s"))
        assert await store.append("s", [entry(v) for v in range(1, 11)], 0)

        def versions(entries: list[OpMsg]) -> list[int]:
            return [e.version for e in entries]

        assert versions(await store.ops_since("s", 7)) == [8, 9, 10]
        assert versions(await store.ops_since("s", 10)) == []
        assert versions(await store.log("s", 2, 5)) == [3, 4, 5]
        assert versions(await store.log("s", 8)) == [9, 10]
        assert versions(await store.log("s")) == list(range(1, 11))
        with pytest.raises(UnknownSession):
            await store.ops_since("nope", 0)
        with pytest.raises(UnknownSession):
            await store.log("nope")

    run(make_store, body)


def test_snapshots_in_append_and_alone(make_store: StoreFactory) -> None:
    async def body(store: Store) -> None:
        await store.create_session(SessionMeta("s"))
        assert await store.append("s", [entry(1), entry(2)], 0, Snapshot(2, scene(2), 5.0))
        assert await store.append("s", [entry(3), entry(4), entry(5)], 2)
        await store.save_snapshot("s", Snapshot(4, scene(4), 6.0))
        with pytest.raises(StoreError):
            await store.save_snapshot("s", Snapshot(9, scene(9)))
        with pytest.raises(StoreError):
            await store.append("s", [entry(6)], 5, Snapshot(7, scene(7)))
        infos = await store.snapshots("s")
        assert [(i.version, i.time) for i in infos] == [(2, 5.0), (4, 6.0)]
        at3 = await store.snapshot("s", 3)
        assert at3 is not None and (at3.version, at3.scene) == (2, scene(2))
        assert await store.snapshot("s", 1) is None
        record = await store.load_session("s")
        assert record is not None and record.snapshot is not None
        assert record.snapshot.version == 4 and record.snapshot.scene == scene(4)
        assert [e.version for e in record.entries] == [5]
        assert record.version == 5

    run(make_store, body)


def test_a_big_batch_in_one_append(make_store: StoreFactory) -> None:
    async def body(store: Store) -> None:
        await store.create_session(SessionMeta("s"))
        batch = [entry(v, f"c{v % 7}", v) for v in range(1, 2501)]
        assert await store.append("s", batch, 0, Snapshot(2400, scene(2400), 7.0))
        assert await store.head("s") == 2500
        assert await store.log("s", 1998, 2001) == batch[1998:2001]
        record = await store.load_session("s")
        assert record is not None and record.snapshot_version == 2400
        assert record.entries == tuple(batch[2400:])
        assert dict(record.clients) == {e.client: (e.seq, e.version) for e in batch[-7:]}

    run(make_store, body)


def test_a_failed_append_stores_nothing(make_store: StoreFactory) -> None:
    async def body(store: Store) -> None:
        await store.create_session(SessionMeta("s"))
        assert not await store.append("s", [entry(2)], 1, Snapshot(2, scene(2)))
        assert await store.log("s") == []
        assert await store.snapshots("s") == []
        record = await store.load_session("s")
        assert record is not None and dict(record.clients) == {}

    run(make_store, body)


def test_clients_keep_their_last_seq_and_version(make_store: StoreFactory) -> None:
    async def body(store: Store) -> None:
        await store.create_session(SessionMeta("s"))
        batch = [entry(1, "ca", 1), entry(2, "cb", 7, BOB), entry(3, "ca", 2)]
        assert await store.append("s", batch, 0)
        assert await store.append("s", [entry(4, "cb", 8, BOB)], 3)
        record = await store.load_session("s")
        assert record is not None
        assert dict(record.clients) == {"ca": (2, 3), "cb": (8, 4)}

    run(make_store, body)


def test_sessions_are_separate_and_listed(make_store: StoreFactory) -> None:
    async def body(store: Store) -> None:
        await store.create_session(SessionMeta("b", None, 2.0))
        await store.create_session(SessionMeta("a", "h", 1.0))
        assert await store.append("a", [entry(1)], 0)
        assert await store.append("b", [entry(1), entry(2)], 0)
        assert [m.id for m in await store.list_sessions()] == ["a", "b"]
        assert (await store.list_sessions())[0].password_hash == "h"
        assert len(await store.log("a")) == 1 and len(await store.log("b")) == 2

    run(make_store, body)


def test_data_survives_reopening(make_store: StoreFactory, request: pytest.FixtureRequest) -> None:
    if "memory" in request.node.name:
        pytest.skip("MemoryStore keeps nothing once closed")

    async def write(store: Store) -> None:
        await store.create_session(SessionMeta("s", "h", 1.0))
        assert await store.append("s", [entry(1), entry(2)], 0, Snapshot(1, scene(1)))

    async def read(store: Store) -> None:
        record = await store.load_session("s")
        assert record is not None and record.version == 2
        assert record.meta == SessionMeta("s", "h", 1.0)
        assert [e.version for e in record.entries] == [2]

    run(make_store, write)
    run(make_store, read)


def test_concurrent_appends_to_many_sessions(make_store: StoreFactory) -> None:
    """Concurrent callers (the SQLite writer groups them into shared transactions)."""

    async def body(store: Store) -> None:
        names = [f"s{i}" for i in range(20)]
        await asyncio.gather(*(store.create_session(SessionMeta(n)) for n in names))

        async def writer(name: str) -> None:
            for v in range(1, 31):
                assert await store.append(name, [entry(v)], v - 1)

        await asyncio.gather(*(writer(n) for n in names))
        for n in names:
            assert [e.version for e in await store.log(n)] == list(range(1, 31))

    run(make_store, body)


def test_a_closed_store_refuses_calls(make_store: StoreFactory) -> None:
    async def go() -> None:
        store = make_store()
        await store.create_session(SessionMeta("s"))
        await store.close()
        with pytest.raises(StoreError):
            await store.log("s")

    asyncio.run(go())


def test_sync_sqlite_store_reads_what_the_server_wrote(tmp_path: Path) -> None:
    path = tmp_path / "s.db"

    async def write() -> None:
        store = SqliteStore(path)
        await store.create_session(SessionMeta("s"))
        assert await store.append("s", [entry(1), entry(2)], 0, Snapshot(2, scene(2)))
        await store.close()

    asyncio.run(write())
    reader = SyncSqliteStore(path, readonly=True)
    assert [e.version for e in reader.log("s", 0, 2)] == [1, 2]
    assert [s.version for s in reader.snapshots("s")] == [2]
    assert [m.id for m in reader.list_sessions()] == ["s"]
    reader.close()
    sync = SyncSqliteStore(path)
    assert sync.append("s", [entry(3)], 2)
    assert not sync.append("s", [entry(3)], 2)
    assert sync.load_session("s") is not None
    sync.close()


def test_store_urls(tmp_path: Path) -> None:
    assert isinstance(open_store("memory://"), MemoryStore)
    assert sqlite_path("sqlite:///rel/x.db") == "rel/x.db"
    assert sqlite_path("sqlite:////abs/x.db") == "/abs/x.db"
    for bad in ("postgres://x", "sqlite://", "x.db"):
        with pytest.raises(StoreError):
            open_store(bad)
    store = open_store(f"sqlite:///{tmp_path / 'u.db'}")
    assert isinstance(store, SqliteStore)
    asyncio.run(store.close())


# --- head, watch and relay ------------------------------------------------------------


def run_pair(
    make: StoreFactory,
    request: pytest.FixtureRequest,
    body: Callable[[Store, Store], Coroutine[Any, Any, None]],
) -> None:
    """``body(store, writer)``: the writer is a second store object on the same data
    where events cross processes (Redis), else the same object (local watchers)."""

    async def go() -> None:
        store = make()
        writer = make() if adapter(request) == "redis" else store
        try:
            await body(store, writer)
        finally:
            if writer is not store:
                await writer.close()
            await store.close()

    asyncio.run(go())


_probes = itertools.count()


class Heard:
    """A watcher that records its events; probes (see ``until_watching``) are kept apart."""

    def __init__(self) -> None:
        self.events: list[StoreEvent] = []
        self.probes: list[str] = []

    def __call__(self, event: StoreEvent) -> None:
        if isinstance(event, Relayed) and event.origin == "probe":
            self.probes.append(event.payload)
        else:
            self.events.append(event)

    async def wait_for(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            assert time.monotonic() < deadline, f"only heard {self.events}"
            await asyncio.sleep(0.005)


async def until_watching(writer: Store, session: str, *watchers: Heard) -> None:
    """Relay probes until every watcher hears one: a Redis store subscribes in the
    background, and events published before that are lost (the contract allows it)."""
    deadline = time.monotonic() + 5.0
    while True:
        probe = str(next(_probes))
        await writer.relay(session, "probe", probe)
        for _ in range(20):
            await asyncio.sleep(0.005)
            if all(probe in w.probes for w in watchers):
                return
        assert time.monotonic() < deadline, "the watchers never heard a probe"


def test_head_follows_appends(make_store: StoreFactory) -> None:
    async def body(store: Store) -> None:
        await store.create_session(SessionMeta("s"))
        assert await store.head("s") == 0
        assert await store.append("s", [entry(1), entry(2)], 0)
        assert await store.head("s") == 2
        assert not await store.append("s", [entry(2)], 1)
        assert await store.head("s") == 2
        assert await store.append("s", [], 2, Snapshot(2, scene(2)))  # a snapshot alone
        assert await store.head("s") == 2
        with pytest.raises(UnknownSession):
            await store.head("nope")

    run(make_store, body)


def test_watchers_hear_appends(make_store: StoreFactory, request: pytest.FixtureRequest) -> None:
    async def body(store: Store, writer: Store) -> None:
        await store.create_session(SessionMeta("s"))
        await store.create_session(SessionMeta("t"))
        first, second, elsewhere = Heard(), Heard(), Heard()
        store.watch("s", first)
        store.watch("s", second)
        store.watch("t", elsewhere)
        await until_watching(writer, "s", first, second)
        await until_watching(writer, "t", elsewhere)
        assert await writer.append("s", [entry(1), entry(2)], 0)
        await first.wait_for(1)
        await second.wait_for(1)
        assert first.events == second.events == [Appended(2)]
        # A lost compare-and-set tells nobody; the next append does.
        assert not await writer.append("s", [entry(2)], 1)
        assert await writer.append("s", [entry(3)], 2)
        await first.wait_for(2)
        assert first.events == [Appended(2), Appended(3)]
        assert elsewhere.events == []

    run_pair(make_store, request, body)


def test_unwatch_stops_delivery(make_store: StoreFactory, request: pytest.FixtureRequest) -> None:
    async def body(store: Store, writer: Store) -> None:
        await store.create_session(SessionMeta("s"))
        gone, stays = Heard(), Heard()
        unwatch = store.watch("s", gone)
        store.watch("s", stays)
        await until_watching(writer, "s", gone, stays)
        unwatch()
        unwatch()  # twice is harmless
        assert await writer.append("s", [entry(1)], 0)
        await writer.relay("s", "server-b", "after")
        await stays.wait_for(2)
        await asyncio.sleep(0.05)
        assert stays.events == [Appended(1), Relayed("server-b", "after")]
        assert gone.events == []

    run_pair(make_store, request, body)


def test_relay_reaches_every_watcher(
    make_store: StoreFactory, request: pytest.FixtureRequest
) -> None:
    async def body(store: Store, writer: Store) -> None:
        await store.create_session(SessionMeta("s"))
        one, two = Heard(), Heard()
        store.watch("s", one)
        store.watch("s", two)
        await until_watching(writer, "s", one, two)
        payload = '{"type":"presence","client":"c1","data":{"x":1.5,"name":"Zoë"}}'
        await writer.relay("s", "server-a", payload)
        await one.wait_for(1)
        await two.wait_for(1)
        assert one.events == two.events == [Relayed("server-a", payload)]
        await writer.relay("nope", "server-a", payload)  # nobody hears it; not an error

    run_pair(make_store, request, body)


def test_a_failing_watcher_does_not_stop_the_others(
    make_store: StoreFactory, request: pytest.FixtureRequest
) -> None:
    def broken(event: StoreEvent) -> None:
        raise RuntimeError("watcher bug")

    async def body(store: Store, writer: Store) -> None:
        await store.create_session(SessionMeta("s"))
        store.watch("s", broken)
        heard = Heard()
        store.watch("s", heard)
        await until_watching(writer, "s", heard)
        assert await writer.append("s", [entry(1)], 0)
        assert await writer.append("s", [entry(2)], 1)
        await heard.wait_for(2)
        assert heard.events == [Appended(1), Appended(2)]

    run_pair(make_store, request, body)


# --- Redis only ------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_racing_appends_one_wins(redis_url: str) -> None:
    """Two store objects (two server processes, in effect) append at the same head."""
    url = f"{redis_url}?prefix=t{uuid.uuid4().hex[:12]}"

    async def go() -> None:
        a, b = redis_store(url), redis_store(url)
        try:
            await a.create_session(SessionMeta("s"))
            # Lockstep: both at the same expected version, every round.
            for v in range(1, 41):
                won = await asyncio.gather(
                    a.append("s", [entry(v, "ca", v)], v - 1),
                    b.append("s", [entry(v, "cb", v, BOB)], v - 1),
                )
                assert sorted(won) == [False, True], f"round {v}: {won}"

            # Free-running: each retries at the head it reads until it has 30 more.
            async def writer(store: Store, client: str) -> None:
                for seq in range(1000, 1030):
                    while True:
                        head = await store.head("s")
                        if await store.append("s", [entry(head + 1, client, seq)], head):
                            break

            await asyncio.gather(writer(a, "ca"), writer(b, "cb"))
            logged = await b.log("s")
            assert [e.version for e in logged] == list(range(1, 101))
            for client in ("ca", "cb"):
                seqs = [e.seq for e in logged if e.client == client and e.seq >= 1000]
                assert seqs == list(range(1000, 1030))
            record = await a.load_session("s")
            assert record is not None and record.version == 100
            last = {e.client: (e.seq, e.version) for e in logged}  # each client's newest
            assert dict(record.clients) == last
        finally:
            await a.close()
            await b.close()

    asyncio.run(go())


@pytest.mark.redis
def test_redis_unsubscribes_when_the_last_watcher_goes(redis_url: str) -> None:
    pytest.importorskip("redis")
    import redis.asyncio as aioredis

    prefix = f"t{uuid.uuid4().hex[:12]}"
    channel = f"{prefix}:events:s"

    async def go() -> None:
        store = redis_store(f"{redis_url}?prefix={prefix}")
        probe = aioredis.Redis.from_url(redis_url, decode_responses=True)

        async def subscribers() -> int:
            ((_, count),) = await probe.pubsub_numsub(channel)
            return int(count)

        async def until(count: int) -> None:
            deadline = time.monotonic() + 5.0
            while await subscribers() != count:
                assert time.monotonic() < deadline, f"still {await subscribers()} subscribers"
                await asyncio.sleep(0.01)

        try:
            await store.create_session(SessionMeta("s"))
            one, two = store.watch("s", Heard()), store.watch("s", Heard())
            await until(1)  # one subscription for both watchers
            one()
            await asyncio.sleep(0.05)
            assert await subscribers() == 1
            two()
            await until(0)
            store.watch("s", Heard())
            await until(1)
        finally:
            await store.close()
            await until(0)
            await probe.aclose()

    asyncio.run(go())


@pytest.mark.redis
def test_redis_server_killed_mid_use(tmp_path: Path) -> None:
    """Errors are StoreError, never redis-py's; the events come back after a restart."""
    pytest.importorskip("redis")
    from redis.exceptions import RedisError

    with running_redis(tmp_path) as server:

        async def go() -> None:
            store, writer = redis_store(server.url), redis_store(server.url)
            try:
                await store.create_session(SessionMeta("s"))
                assert await store.append("s", [entry(1)], 0)
                heard = Heard()
                store.watch("s", heard)
                await until_watching(writer, "s", heard)

                server.kill()
                started = time.monotonic()
                for call in (
                    store.append("s", [entry(2)], 1),
                    store.head("s"),
                    store.load_session("s"),
                    store.list_sessions(),
                    writer.relay("s", "x", "y"),
                    store.create_session(SessionMeta("t")),
                ):
                    with pytest.raises(StoreError, match="cannot reach Redis") as failed:
                        await call
                    assert not isinstance(failed.value, RedisError)
                    assert failed.value.__cause__ is None
                assert time.monotonic() - started < 10.0

                # The data is gone (nothing saved), but the listener reconnects and
                # subscribes again by itself.
                server.start()
                await writer.create_session(SessionMeta("s"))
                await until_watching(writer, "s", heard)
                assert await writer.append("s", [entry(1)], 0)
                await heard.wait_for(1)
                assert heard.events == [Appended(1)]
            finally:
                await writer.close()
                await store.close()
            with pytest.raises(StoreError, match="closed"):
                await store.head("s")

        asyncio.run(go())


def test_redis_store_urls() -> None:
    pytest.importorskip("redis")
    from server.redis_store import DEFAULT_PREFIX, RedisStore, redis_url_parts

    client, prefix, shown = redis_url_parts("redis://:secret@example.org:6380/2?prefix=app")
    assert (client, prefix) == ("redis://:secret@example.org:6380/2", "app")
    assert "secret" not in shown and "example.org:6380/2" in shown
    assert redis_url_parts("redis://localhost")[1] == DEFAULT_PREFIX
    for bad in (
        "redis://",
        "redis://h:notaport/0",
        "redis://h/0?prefix=",
        "redis://h/0?prefix=a&prefix=b",
        "http://h/0",
    ):
        with pytest.raises(StoreError):
            redis_url_parts(bad)
    store = open_store("redis://127.0.0.1:1/0?prefix=x")  # nothing connects yet
    assert isinstance(store, RedisStore) and store.prefix == "x"

    async def refused() -> None:
        with pytest.raises(StoreError, match="cannot reach Redis"):
            await store.head("s")
        await store.close()

    asyncio.run(refused())


# --- turns ------------------------------------------------------------------------


def test_a_turn_holds_other_writers_back_until_its_holder_appends(
    make_store: StoreFactory, request: pytest.FixtureRequest
) -> None:
    async def body(a: Store, b: Store) -> None:
        await a.create_session(SessionMeta("s"))
        assert await a.append("s", [entry(1)], 0, writer="A")
        assert await b.claim("s", "B", 5.0)
        assert await b.claim("s", "B", 5.0)  # the holder may extend it
        assert not await a.claim("s", "A", 5.0)
        # A's append at the right head fails, storing nothing; so does an anonymous one.
        assert not await a.append("s", [entry(2)], 1, writer="A")
        assert not await a.append("s", [entry(2)], 1)
        assert await a.head("s") == 1
        # B's append lands and ends its turn: A goes on.
        assert await b.append("s", [entry(2, client="cb")], 1, writer="B")
        assert await a.append("s", [entry(3)], 2, writer="A")
        assert [e.version for e in await a.log("s")] == [1, 2, 3]
        with pytest.raises(UnknownSession):
            await a.claim("nope", "A", 1.0)

    run_pair(make_store, request, body)


def test_a_turn_expires(make_store: StoreFactory, request: pytest.FixtureRequest) -> None:
    async def body(a: Store, b: Store) -> None:
        await a.create_session(SessionMeta("s"))
        assert await b.claim("s", "B", 0.05)
        assert not await a.append("s", [entry(1)], 0, writer="A")
        await asyncio.sleep(0.1)
        assert await a.append("s", [entry(1)], 0, writer="A")
        assert await a.claim("s", "A", 5.0)  # nobody holds it now

    run_pair(make_store, request, body)
