"""One contract suite, run against every Store adapter (MemoryStore, SqliteStore)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from optiverse.collab.messages import OpMsg, User
from optiverse.commands import Create, Set
from server.sqlite_store import SqliteStore, SyncSqliteStore, sqlite_path
from server.store import (
    MemoryStore,
    SessionExists,
    SessionMeta,
    Snapshot,
    Store,
    StoreError,
    UnknownSession,
    open_store,
)

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


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """A factory: calling it again gives a store over the same data where the adapter persists."""
    if request.param == "memory":
        shared = MemoryStore()
        yield lambda: shared
    else:
        yield lambda: SqliteStore(tmp_path / "store.db")


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
