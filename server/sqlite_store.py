"""The SQLite :class:`~server.store.Store`: WAL, ``synchronous=FULL``, one writer thread.

Two classes share one schema (docs/server.md documents it):

* :class:`SyncSqliteStore` - plain synchronous methods with the same names
  and meanings as the async contract; each call is its own transaction.  The
  replay CLI and other tools use it directly, also while a server runs on
  the same file (WAL lets readers in beside the writer).
* :class:`SqliteStore` - the async adapter the server uses.  Every write is a
  job for one dedicated writer thread, which takes all queued jobs at once
  and runs them in ONE transaction (each in its own savepoint, so a failing
  job leaves the others alone): a group commit across sessions, one fsync
  for however many appends were waiting.  A call returns only after that
  commit.  Reads use a second connection on a reader thread, so they never
  wait for, or delay, a commit.

Each connection is used by one thread at a time only.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from optiverse.collab.messages import OpMsg, User, encode_entry
from optiverse.commands.ops import Op
from optiverse.wire import structure
from server.store import (
    Appended,
    LocalTurns,
    LocalWatchers,
    Relayed,
    SessionExists,
    SessionMeta,
    SessionRecord,
    Snapshot,
    SnapshotInfo,
    StoreError,
    UnknownSession,
    Unwatch,
    Watcher,
    check_entries,
)

__all__ = ["SCHEMA", "SCHEMA_VERSION", "SqliteStore", "SyncSqliteStore", "sqlite_path"]

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_info (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    password_hash TEXT,
    created REAL NOT NULL,
    version INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ops (
    session TEXT NOT NULL,
    version INTEGER NOT NULL,
    client TEXT NOT NULL,
    seq INTEGER NOT NULL,
    user_json TEXT NOT NULL,
    origin TEXT NOT NULL,
    time REAL NOT NULL,
    op_json TEXT NOT NULL,
    PRIMARY KEY (session, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
    session TEXT NOT NULL,
    version INTEGER NOT NULL,
    time REAL NOT NULL,
    scene_json TEXT NOT NULL,
    PRIMARY KEY (session, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS clients (
    session TEXT NOT NULL,
    client TEXT NOT NULL,
    seq INTEGER NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (session, client)
) WITHOUT ROWID;
"""


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:///path`` URL (three slashes: relative; four: absolute)."""
    if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
        raise StoreError(f"invalid SQLite store URL {url!r}; expected sqlite:///path/to/file.db")
    return url[len("sqlite:///") :]


@functools.lru_cache(maxsize=1024)
def _user(user_json: str) -> User:
    # Rows repeat the same few users; decoding each once saves most of a load's time.
    return structure(json.loads(user_json), User)


def _entry(row: tuple[int, str, int, str, str, float, str]) -> OpMsg:
    version, client, seq, user_json, origin, when, op_json = row
    op: Op = structure(json.loads(op_json), Op, "logged operation")
    return OpMsg(
        version=version,
        client=client,
        seq=seq,
        user=_user(user_json),
        op=op,
        origin=origin,  # type: ignore[arg-type]  # written from an Origin
        time=when,
    )


def _row(session: str, entry: OpMsg) -> tuple[Any, ...]:
    # The session encoded the entry once for its broadcast; reuse that JSON.
    encoded = encode_entry(entry)
    return (
        session,
        entry.version,
        entry.client,
        entry.seq,
        encoded.user_json,
        entry.origin,
        entry.time,
        encoded.op_json,
    )


_ENTRY_COLUMNS = "version, client, seq, user_json, origin, time, op_json"


class SyncSqliteStore:
    """The store's schema and queries, synchronous; see the module docstring.

    ``path`` is a file path (not a URL; :func:`sqlite_path` converts).  The file
    and its tables are created if missing.  ``readonly`` opens an existing file
    without write access (for inspection tools).
    """

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = str(path)
        if readonly:
            uri = Path(self.path).resolve().as_uri() + "?mode=ro"
            self.conn = sqlite3.connect(
                uri, uri=True, isolation_level=None, check_same_thread=False
            )
        else:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA busy_timeout = 10000")
        if not readonly:
            self.conn.execute("PRAGMA journal_mode = WAL")
            # FULL: a commit is on disk (WAL fsynced) before it returns; that is
            # what lets the server acknowledge right after.
            self.conn.execute("PRAGMA synchronous = FULL")
            self.conn.executescript(SCHEMA)
            self.conn.execute(
                "INSERT OR IGNORE INTO schema_info VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        found = self.conn.execute(
            "SELECT value FROM schema_info WHERE key = 'schema_version'"
        ).fetchone()
        if found is None or int(found[0]) != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {found[0] if found else None}; "
                f"this server reads version {SCHEMA_VERSION}"
            )

    # --- transactions --------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextmanager
    def read_transaction(self) -> Iterator[None]:
        """One consistent read (a deferred transaction: it never waits for the writer)."""
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("ROLLBACK")

    def _in_tx(self, fn: Callable[..., T], *args: Any) -> T:
        with self.transaction():
            return fn(*args)

    def _read(self, fn: Callable[..., T], *args: Any) -> T:
        with self.read_transaction():
            return fn(*args)

    # --- the contract, each method in its own transaction --------------------

    def create_session(self, meta: SessionMeta) -> None:
        self._in_tx(self.create_session_tx, meta)

    def load_session(self, session: str) -> SessionRecord | None:
        return self._read(self.load_session_tx, session)

    def append(
        self,
        session: str,
        entries: Sequence[OpMsg],
        expected_version: int,
        snapshot: Snapshot | None = None,
    ) -> bool:
        return self._in_tx(self.append_tx, session, entries, expected_version, snapshot)

    def ops_since(self, session: str, version: int) -> list[OpMsg]:
        return self.log(session, version, None)

    def save_snapshot(self, session: str, snapshot: Snapshot) -> None:
        self._in_tx(self.save_snapshot_tx, session, snapshot)

    def snapshots(self, session: str) -> list[SnapshotInfo]:
        return self._read(self.snapshots_tx, session)

    def snapshot(self, session: str, version: int) -> Snapshot | None:
        return self._read(self.snapshot_tx, session, version)

    def log(self, session: str, start: int = 0, stop: int | None = None) -> list[OpMsg]:
        return self._read(self.log_tx, session, start, stop)

    def head(self, session: str) -> int:
        return self._read(self._head, session)

    def list_sessions(self) -> list[SessionMeta]:
        rows = self.conn.execute(
            "SELECT id, password_hash, created FROM sessions ORDER BY created, id"
        ).fetchall()
        return [SessionMeta(i, h, c) for i, h, c in rows]

    def close(self) -> None:
        self.conn.close()

    # --- the same, inside a transaction the caller holds ----------------------

    def _head(self, session: str) -> int:
        row = self.conn.execute("SELECT version FROM sessions WHERE id = ?", (session,)).fetchone()
        if row is None:
            raise UnknownSession(session)
        return int(row[0])

    def create_session_tx(self, meta: SessionMeta) -> None:
        try:
            self.conn.execute(
                "INSERT INTO sessions (id, password_hash, created, version) VALUES (?, ?, ?, 0)",
                (meta.id, meta.password_hash, meta.created),
            )
        except sqlite3.IntegrityError:
            raise SessionExists(f"session {meta.id!r} already exists") from None

    def load_session_tx(self, session: str) -> SessionRecord | None:
        row = self.conn.execute(
            "SELECT id, password_hash, created FROM sessions WHERE id = ?", (session,)
        ).fetchone()
        if row is None:
            return None
        meta = SessionMeta(*row)
        snap = self.snapshot_tx(session, None)
        entries = self.log_tx(session, snap.version if snap is not None else 0, None)
        clients = {
            client: (seq, version)
            for client, seq, version in self.conn.execute(
                "SELECT client, seq, version FROM clients WHERE session = ?", (session,)
            )
        }
        return SessionRecord(meta, snap, tuple(entries), clients)

    def append_tx(
        self,
        session: str,
        entries: Sequence[OpMsg],
        expected_version: int,
        snapshot: Snapshot | None,
    ) -> bool:
        check_entries(entries, expected_version)
        if self._head(session) != expected_version:
            return False
        last = entries[-1].version if entries else expected_version
        if snapshot is not None and snapshot.version > last:
            raise StoreError(f"snapshot at {snapshot.version} is newer than the log head {last}")
        self.conn.executemany(
            f"INSERT INTO ops (session, {_ENTRY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [_row(session, e) for e in entries],
        )
        latest = {e.client: (e.seq, e.version) for e in entries}
        self.conn.executemany(
            "INSERT INTO clients (session, client, seq, version) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (session, client) DO UPDATE SET seq = excluded.seq, "
            "version = excluded.version",
            [(session, c, s, v) for c, (s, v) in latest.items()],
        )
        self.conn.execute("UPDATE sessions SET version = ? WHERE id = ?", (last, session))
        if snapshot is not None:
            self._put_snapshot(session, snapshot)
        return True

    def save_snapshot_tx(self, session: str, snapshot: Snapshot) -> None:
        head = self._head(session)
        if snapshot.version > head:
            raise StoreError(f"snapshot at {snapshot.version} is newer than the head {head}")
        self._put_snapshot(session, snapshot)

    def _put_snapshot(self, session: str, snapshot: Snapshot) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO snapshots (session, version, time, scene_json) "
            "VALUES (?, ?, ?, ?)",
            (
                session,
                snapshot.version,
                snapshot.time,
                json.dumps(snapshot.scene, separators=(",", ":"), allow_nan=False),
            ),
        )

    def snapshots_tx(self, session: str) -> list[SnapshotInfo]:
        self._head(session)
        rows = self.conn.execute(
            "SELECT version, time FROM snapshots WHERE session = ? ORDER BY version", (session,)
        )
        return [SnapshotInfo(v, t) for v, t in rows]

    def snapshot_tx(self, session: str, version: int | None) -> Snapshot | None:
        self._head(session)
        row = self.conn.execute(
            "SELECT version, scene_json, time FROM snapshots WHERE session = ? AND version <= ? "
            "ORDER BY version DESC LIMIT 1",
            (session, version if version is not None else 2**62),
        ).fetchone()
        if row is None:
            return None
        return Snapshot(row[0], json.loads(row[1]), row[2])

    def log_tx(self, session: str, start: int, stop: int | None) -> list[OpMsg]:
        self._head(session)
        rows = self.conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM ops WHERE session = ? AND version > ? AND version <= ? "
            "ORDER BY version",
            (session, start, stop if stop is not None else 2**62),
        )
        return [_entry(r) for r in rows]


_STOP = object()


class SqliteStore:
    """The async :class:`~server.store.Store` over :class:`SyncSqliteStore` (module docstring)."""

    def __init__(self, path: str | Path, *, max_batch: int = 256) -> None:
        self.sync = SyncSqliteStore(path)
        self.path = self.sync.path
        # Reads go through a second connection on their own thread, so a
        # client's long history read never delays the commits (WAL lets a
        # reader in beside the writer, and it sees every committed append).
        self.reader = SyncSqliteStore(path)
        self._reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reader")
        self.max_batch = max_batch
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        # One process per file (see docs/server.md), so its watchers are all local.
        self._watchers = LocalWatchers()
        self._turns = LocalTurns()
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._thread.start()

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StoreError("the store is closed")
        return await asyncio.get_running_loop().run_in_executor(self._reads, fn, *args)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StoreError("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, args, loop, future))
        return await future

    def _run(self) -> None:
        conn = self.sync.conn
        while True:
            first = self._jobs.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stop = True
                    break
                batch.append(job)
            results: list[tuple[Any, BaseException | None]] = []
            try:
                conn.execute("BEGIN IMMEDIATE")
                for fn, args, _loop, _future in batch:
                    conn.execute("SAVEPOINT job")
                    try:
                        results.append((fn(*args), None))
                        conn.execute("RELEASE job")
                    except Exception as exc:
                        conn.execute("ROLLBACK TO job")
                        conn.execute("RELEASE job")
                        results.append((None, exc))
                conn.execute("COMMIT")
            except Exception as exc:
                log.exception("SQLite transaction failed")
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                results = [(None, StoreError(f"SQLite transaction failed: {exc}"))] * len(batch)
            for (_fn, _args, loop, future), (value, error) in zip(batch, results, strict=True):
                # A RuntimeError means that caller's loop is gone: nobody is waiting.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle, future, value, error)
            if stop:
                return

    async def create_session(self, meta: SessionMeta) -> None:
        await self._call(self.sync.create_session_tx, meta)

    async def load_session(self, session: str) -> SessionRecord | None:
        return await self._read(self.reader.load_session, session)

    async def append(
        self,
        session: str,
        entries: Sequence[OpMsg],
        expected_version: int,
        snapshot: Snapshot | None = None,
        writer: str | None = None,
    ) -> bool:
        if self._turns.blocks(session, writer):
            await self.head(session)  # UnknownSession first, as the contract says
            return False
        appended = await self._call(
            self.sync.append_tx, session, entries, expected_version, snapshot
        )
        if appended:
            self._turns.landed(session, writer)
            if entries:
                self._watchers.notify(session, Appended(entries[-1].version))
        return appended

    async def ops_since(self, session: str, version: int) -> list[OpMsg]:
        return await self._read(self.reader.log, session, version, None)

    async def save_snapshot(self, session: str, snapshot: Snapshot) -> None:
        await self._call(self.sync.save_snapshot_tx, session, snapshot)

    async def snapshots(self, session: str) -> list[SnapshotInfo]:
        return await self._read(self.reader.snapshots, session)

    async def snapshot(self, session: str, version: int) -> Snapshot | None:
        return await self._read(self.reader.snapshot, session, version)

    async def log(self, session: str, start: int = 0, stop: int | None = None) -> list[OpMsg]:
        return await self._read(self.reader.log, session, start, stop)

    async def list_sessions(self) -> list[SessionMeta]:
        return await self._read(self.reader.list_sessions)

    async def head(self, session: str) -> int:
        return await self._read(self.reader.head, session)

    async def claim(self, session: str, writer: str, seconds: float) -> bool:
        await self.head(session)  # UnknownSession
        return self._turns.claim(session, writer, seconds)

    def watch(self, session: str, callback: Watcher) -> Unwatch:
        return self._watchers.watch(session, callback)

    async def relay(self, session: str, origin: str, payload: str) -> None:
        # No read to check the session: presence relays are frequent, and
        # with one process per file there is nobody to relay to anyway.
        if self._closed:
            raise StoreError("the store is closed")
        self._watchers.notify(session, Relayed(origin, payload))

    async def close(self) -> None:
        """Let the writer finish every queued job, then close the file."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        await asyncio.to_thread(self._reads.shutdown, wait=True)
        self.sync.close()
        self.reader.close()


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
