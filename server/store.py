"""Where sessions live between restarts: the async :class:`Store` contract and :class:`MemoryStore`.

The contract is shaped so that a Redis adapter can implement it later and
several server instances can share one session:

* :meth:`Store.append` is compare-and-set on the session's head version.  It
  appends ``entries`` (consecutive versions ``expected_version + 1 ...``)
  only if the head is still ``expected_version``, and reports whether it
  did.  The per-client last ``(seq, version)`` is updated in the same atomic
  step, and so is the optional snapshot, so a reload never sees one without
  the other.
* Nothing is ever rewritten: the log is append-only and kept for replay;
  snapshots only make loading cheaper.
* :meth:`Store.claim` gives a writer that keeps losing the compare-and-set
  a *turn*: for a short while, or until its next append lands, the others'
  appends fail as if the head had moved, so a busy writer cannot starve a
  slower one.  A writer that does not name itself (``writer=None``) never
  holds a turn and is held back by anyone else's.
* :meth:`Store.watch` tells every server sharing the store that a session's
  log grew (:class:`Appended`) or that another server relayed a message for
  the session's members (:class:`Relayed`, sent with :meth:`Store.relay`).
  Events are hints: one may come late, twice or never (a dropped
  subscription), and the compare-and-set of ``append`` is what keeps the log
  right regardless.  The local adapters deliver them within the process.

Every version range is half-open on the left: ``log(s, 10, 20)`` gives the
entries with ``10 < version <= 20``, and ``ops_since(s, 10)`` the ones after 10.

``tests/server/test_store_contract.py`` runs one suite against every adapter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from optiverse.collab.messages import OpMsg
from optiverse.errors import OptiverseError

__all__ = [
    "Appended",
    "LocalTurns",
    "LocalWatchers",
    "MemoryStore",
    "Relayed",
    "SessionExists",
    "SessionMeta",
    "SessionRecord",
    "Snapshot",
    "SnapshotInfo",
    "Store",
    "StoreError",
    "StoreEvent",
    "UnknownSession",
    "Unwatch",
    "Watcher",
    "check_entries",
    "open_store",
]

SceneData = dict[str, Any]


class StoreError(OptiverseError, RuntimeError):
    """Raised when the store cannot do what was asked (bad arguments, corrupt data)."""


class SessionExists(StoreError):
    """Raised by ``create_session`` for an id that is already taken."""


class UnknownSession(StoreError, KeyError):
    """Raised when a method other than ``load_session`` names a session the store lacks."""

    def __str__(self) -> str:
        return f"unknown session {self.args[0]!r}"


@attrs.frozen
class SessionMeta:
    """What a session is created with.  ``password_hash`` is never a clear password."""

    id: str
    password_hash: str | None = None
    created: float = attrs.field(factory=time.time)


@attrs.frozen
class SnapshotInfo:
    """That a snapshot exists at ``version``, written at ``time`` (Unix seconds)."""

    version: int
    time: float


@attrs.frozen
class Snapshot:
    """The scene at ``version``, as ``optiverse.scene.fileformat.scene_to_data`` gives it."""

    version: int
    scene: SceneData
    time: float = attrs.field(factory=time.time)


@attrs.frozen
class SessionRecord:
    """Everything needed to resume a session: the newest snapshot and the log after it."""

    meta: SessionMeta
    # None: no snapshot yet, the session starts from the empty scene at version 0.
    snapshot: Snapshot | None
    entries: tuple[OpMsg, ...]
    # client id -> (last seq logged, its version)
    clients: Mapping[str, tuple[int, int]]

    @property
    def snapshot_version(self) -> int:
        return self.snapshot.version if self.snapshot is not None else 0

    @property
    def version(self) -> int:
        """The head version: the last logged entry's."""
        return self.entries[-1].version if self.entries else self.snapshot_version


@attrs.frozen
class Appended:
    """The session's log now reaches ``head`` (or further)."""

    head: int


@attrs.frozen
class Relayed:
    """``payload`` (an encoded server message) for the session's members, relayed by
    the server instance ``origin``."""

    origin: str
    payload: str


StoreEvent = Appended | Relayed
Watcher = Callable[[StoreEvent], None]
Unwatch = Callable[[], None]


class LocalWatchers:
    """Watchers of this process, by session: what the local adapters deliver events to."""

    def __init__(self) -> None:
        self._by_session: dict[str, list[Watcher]] = {}

    def watch(self, session: str, callback: Watcher) -> Unwatch:
        self._by_session.setdefault(session, []).append(callback)

        def unwatch() -> None:
            callbacks = self._by_session.get(session, [])
            if callback in callbacks:
                callbacks.remove(callback)
            if not callbacks:
                self._by_session.pop(session, None)

        return unwatch

    def notify(self, session: str, event: StoreEvent) -> None:
        """Call the session's watchers soon, on the running loop (never re-entrantly)."""
        callbacks = self._by_session.get(session)
        if callbacks:
            loop = asyncio.get_running_loop()
            for callback in list(callbacks):
                loop.call_soon(callback, event)


class LocalTurns:
    """Turns (see :meth:`Store.claim`) held within this process: the local adapters'."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, float]] = {}  # session -> (writer, monotonic deadline)

    def holder(self, session: str) -> str | None:
        held = self._held.get(session)
        if held is None:
            return None
        if time.monotonic() >= held[1]:
            del self._held[session]
            return None
        return held[0]

    def blocks(self, session: str, writer: str | None) -> bool:
        """True when someone other than ``writer`` holds the session's turn."""
        holder = self.holder(session)
        return holder is not None and holder != writer

    def claim(self, session: str, writer: str, seconds: float) -> bool:
        holder = self.holder(session)
        if holder is not None and holder != writer:
            return False
        self._held[session] = (writer, time.monotonic() + seconds)
        return True

    def landed(self, session: str, writer: str | None) -> None:
        """``writer`` appended: its turn, if it held one, is over."""
        if writer is not None and self.holder(session) == writer:
            del self._held[session]


class Store(Protocol):
    """The async storage contract every adapter implements (see the module docstring)."""

    async def create_session(self, meta: SessionMeta) -> None:
        """Create an empty session at version 0, or raise SessionExists."""

    async def load_session(self, session: str) -> SessionRecord | None:
        """The session's newest snapshot, the log after it and its clients; None if unknown."""

    async def append(
        self,
        session: str,
        entries: Sequence[OpMsg],
        expected_version: int,
        snapshot: Snapshot | None = None,
        writer: str | None = None,
    ) -> bool:
        """Atomically log ``entries`` if the head is ``expected_version``; False if it is not.

        ``entries`` must have the versions ``expected_version + 1, +2, ...``.
        ``snapshot``, if given, is stored in the same atomic step and must be at
        a version no newer than the last entry.  Also False, storing nothing,
        while a writer other than ``writer`` holds the session's turn; an
        append by the turn's holder ends it.  Raises UnknownSession.
        """

    async def ops_since(self, session: str, version: int) -> list[OpMsg]:
        """Every logged entry after ``version``, oldest first.  Raises UnknownSession."""

    async def save_snapshot(self, session: str, snapshot: Snapshot) -> None:
        """Store ``snapshot`` (at a logged version).  Raises UnknownSession."""

    async def snapshots(self, session: str) -> list[SnapshotInfo]:
        """The versions that have a snapshot, oldest first.  Raises UnknownSession."""

    async def snapshot(self, session: str, version: int) -> Snapshot | None:
        """The newest snapshot at or before ``version`` (None: replay from the empty scene)."""

    async def log(self, session: str, start: int = 0, stop: int | None = None) -> list[OpMsg]:
        """Entries with ``start < version <= stop`` (None: to the head).  Raises UnknownSession."""

    async def list_sessions(self) -> list[SessionMeta]:
        """Every session, oldest first."""

    async def head(self, session: str) -> int:
        """The session's head version.  Raises UnknownSession."""

    async def claim(self, session: str, writer: str, seconds: float) -> bool:
        """Take the session's turn for ``seconds`` (or extend it, for its holder).

        Returns False, changing nothing, while another writer holds it.
        """

    def watch(self, session: str, callback: Watcher) -> Unwatch:
        """Call ``callback(event)`` on this event loop for the session's events (see the
        module docstring) until the returned function is called."""

    async def relay(self, session: str, origin: str, payload: str) -> None:
        """Deliver ``Relayed(origin, payload)`` to every watcher of ``session``.

        Best effort, like every event, and cheap: servers relay presence with
        it.  A session nobody watches (an unknown one included) gets nothing;
        that is not an error.
        """

    async def close(self) -> None:
        """Finish pending writes and release the store; it cannot be used afterwards."""


def check_entries(entries: Sequence[OpMsg], expected_version: int) -> None:
    """StoreError unless ``entries`` are the consecutive versions after ``expected_version``."""
    for offset, entry in enumerate(entries, start=1):
        if entry.version != expected_version + offset:
            raise StoreError(
                f"entry #{offset} has version {entry.version}; expected {expected_version + offset}"
            )


class _MemorySession:
    def __init__(self, meta: SessionMeta) -> None:
        self.meta = meta
        self.log: list[OpMsg] = []
        self.snapshots: list[Snapshot] = []
        self.clients: dict[str, tuple[int, int]] = {}

    @property
    def version(self) -> int:
        return self.log[-1].version if self.log else 0


class MemoryStore:
    """A :class:`Store` in a dict: the reference adapter, and ``--store memory://``.

    The log is a list indexed by version - 1.  Entries and snapshots are
    immutable by convention: callers must not mutate what they pass in or get back.
    """

    def __init__(self) -> None:
        self._sessions: dict[str, _MemorySession] = {}
        self._closed = False
        self._watchers = LocalWatchers()
        self._turns = LocalTurns()

    def _get(self, session: str) -> _MemorySession:
        if self._closed:
            raise StoreError("the store is closed")
        try:
            return self._sessions[session]
        except KeyError:
            raise UnknownSession(session) from None

    async def create_session(self, meta: SessionMeta) -> None:
        if self._closed:
            raise StoreError("the store is closed")
        if meta.id in self._sessions:
            raise SessionExists(f"session {meta.id!r} already exists")
        self._sessions[meta.id] = _MemorySession(meta)

    async def load_session(self, session: str) -> SessionRecord | None:
        if session not in self._sessions:
            return None
        state = self._get(session)
        snap = state.snapshots[-1] if state.snapshots else None
        start = snap.version if snap is not None else 0
        return SessionRecord(state.meta, snap, tuple(state.log[start:]), dict(state.clients))

    async def append(
        self,
        session: str,
        entries: Sequence[OpMsg],
        expected_version: int,
        snapshot: Snapshot | None = None,
        writer: str | None = None,
    ) -> bool:
        state = self._get(session)
        check_entries(entries, expected_version)
        if state.version != expected_version or self._turns.blocks(session, writer):
            return False
        last = entries[-1].version if entries else expected_version
        if snapshot is not None and snapshot.version > last:
            raise StoreError(f"snapshot at {snapshot.version} is newer than the log head {last}")
        state.log.extend(entries)
        for entry in entries:
            state.clients[entry.client] = (entry.seq, entry.version)
        if snapshot is not None:
            state.snapshots.append(snapshot)
        self._turns.landed(session, writer)
        if entries:
            self._watchers.notify(session, Appended(last))
        return True

    async def ops_since(self, session: str, version: int) -> list[OpMsg]:
        return self._get(session).log[max(version, 0) :]

    async def save_snapshot(self, session: str, snapshot: Snapshot) -> None:
        state = self._get(session)
        if snapshot.version > state.version:
            raise StoreError(
                f"snapshot at {snapshot.version} is newer than the head {state.version}"
            )
        state.snapshots = sorted(
            [s for s in state.snapshots if s.version != snapshot.version] + [snapshot],
            key=lambda s: s.version,
        )

    async def snapshots(self, session: str) -> list[SnapshotInfo]:
        return [SnapshotInfo(s.version, s.time) for s in self._get(session).snapshots]

    async def snapshot(self, session: str, version: int) -> Snapshot | None:
        found = [s for s in self._get(session).snapshots if s.version <= version]
        return found[-1] if found else None

    async def log(self, session: str, start: int = 0, stop: int | None = None) -> list[OpMsg]:
        entries = self._get(session).log
        return entries[max(start, 0) : stop if stop is not None else len(entries)]

    async def list_sessions(self) -> list[SessionMeta]:
        return sorted((s.meta for s in self._sessions.values()), key=lambda m: (m.created, m.id))

    async def head(self, session: str) -> int:
        return self._get(session).version

    async def claim(self, session: str, writer: str, seconds: float) -> bool:
        self._get(session)
        return self._turns.claim(session, writer, seconds)

    def watch(self, session: str, callback: Watcher) -> Unwatch:
        return self._watchers.watch(session, callback)

    async def relay(self, session: str, origin: str, payload: str) -> None:
        if self._closed:
            raise StoreError("the store is closed")
        self._watchers.notify(session, Relayed(origin, payload))

    async def close(self) -> None:
        self._closed = True


def open_store(url: str) -> Store:
    """The store a ``--store`` URL names: ``memory://``, ``sqlite:///relative/or//absolute.db``
    or ``redis://host:port/db[?prefix=NAME]`` (shared by several server processes; needs
    the ``redis`` extra)."""
    if url == "memory://":
        return MemoryStore()
    if url.startswith("sqlite://"):
        from server.sqlite_store import SqliteStore, sqlite_path

        return SqliteStore(sqlite_path(url))
    if url.startswith(("redis://", "rediss://")):
        try:
            from server.redis_store import RedisStore
        except ImportError as exc:
            raise StoreError(
                f"{url.partition('://')[0]}:// stores need redis-py "
                f"(pip install 'optiverse[redis]'): {exc}"
            ) from None
        return RedisStore(url)
    raise StoreError(
        f"unsupported store {url!r}; use memory://, sqlite:///path/to/file.db "
        "or redis://host:port/db[?prefix=NAME]"
    )
