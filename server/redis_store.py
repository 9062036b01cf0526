"""The Redis :class:`~server.store.Store`: several server processes share their sessions.

``--store redis://host:port/db[?prefix=NAME]`` (``rediss://`` for TLS; a
password goes in the URL as ``redis://:secret@host``).  Every key lives
under the prefix (default ``optiverse``), so one Redis database can hold
several independent stores:

=============================  ===========================================================
``{prefix}:sessions``          sorted set: session id, scored by its creation time
``{prefix}:s:{id}``            hash: ``created``, ``version`` (the head) and, if it has
                               one, ``password_hash``
``{prefix}:log:{id}``          list: the entry of version ``v`` at index ``v - 1``, as
                               the text of its ``op`` message (``encode_entry``)
``{prefix}:clients:{id}``      hash: client id -> ``"seq:version"`` of its last entry
``{prefix}:snaps:{id}``        sorted set: ``"version:time"``, scored by version
``{prefix}:snapdata:{id}``     hash: version -> the scene JSON (``scene_to_data``)
``{prefix}:turn:{id}``         string, expiring: the writer holding the session's turn
                               (``claim``); appends by others fail while it exists
``{prefix}:events:{id}``       pub/sub channel: ``{"head": n}`` or
                               ``{"origin": ..., "payload": ...}``
=============================  ===========================================================

Every write, and every read that touches more than one key, is one Lua
script, so it is atomic: ``append`` compares the head, pushes the entries,
updates the clients, the head and the optional snapshot and publishes
:class:`~server.store.Appended` in one step, and ``load_session`` never sees
half of an append.  Commands are never retried by the client library: a
retried ``append`` whose first attempt did land would report a lost
compare-and-set, and the server would sequence its entries a second time.
A connection failure is a :class:`~server.store.StoreError` instead (the
caller cannot know whether that append landed; the head says).

Events arrive through one pub/sub connection per store, subscribed to the
channels of the watched sessions only.  A background task reads it and calls
the watchers on the event loop; if the connection drops, it reconnects and
subscribes again, with a growing delay.  Events published meanwhile are lost,
which the contract allows.  A store belongs to the event loop that first uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, Final, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from optiverse.collab.messages import OpMsg, User, encode_entry
from optiverse.commands.ops import Op
from optiverse.wire import structure
from server.store import (
    Appended,
    Relayed,
    SessionExists,
    SessionMeta,
    SessionRecord,
    Snapshot,
    SnapshotInfo,
    StoreError,
    StoreEvent,
    UnknownSession,
    Unwatch,
    Watcher,
    check_entries,
)

__all__ = ["DEFAULT_PREFIX", "RedisStore", "redis_url_parts"]

log = logging.getLogger(__name__)

DEFAULT_PREFIX: Final = "optiverse"
# The pub/sub connection: how long to wait before reconnecting (doubling up to
# the maximum), and how often to PING it while it is idle to notice a dead peer.
RECONNECT_MIN: Final = 0.05
RECONNECT_MAX: Final = 2.0
KEEPALIVE: Final = 15.0

# --- the Lua scripts -------------------------------------------------------------
#
# Versions travel as decimal strings and are compared with tonumber (exact
# up to 2^53).  A missing session hash (no 'created' field) is an unknown session.

_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'created', ARGV[2], 'version', '0')
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'password_hash', ARGV[4]) end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
"""

# KEYS: session, log, clients, snaps, snapdata, turn
# ARGV: expected, last, channel, event, n entries, n clients, has snapshot,
#       snapshot version, snapshot member, scene JSON, writer,
#       entries..., (client, "seq:version")...
# Returns -1 (unknown session), 0 (the head moved, or another writer holds the turn) or 1.
_APPEND = """
local head = redis.call('HGET', KEYS[1], 'version')
if not head then return -1 end
if tonumber(head) ~= tonumber(ARGV[1]) then return 0 end
local turn = redis.call('GET', KEYS[6])
if turn and turn ~= ARGV[11] then return 0 end
if redis.call('LLEN', KEYS[2]) ~= tonumber(head) then
  return redis.error_reply('the log of ' .. KEYS[1] .. ' disagrees with its head ' .. head)
end
local n = tonumber(ARGV[5])
-- at most 1000 entries per RPUSH: Lua's unpack has a stack limit
local first = 12
local i = first
while i < first + n do
  local j = math.min(i + 999, first + n - 1)
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, j))
  i = j + 1
end
for k = first + n, first + n + 2 * tonumber(ARGV[6]) - 1, 2 do
  redis.call('HSET', KEYS[3], ARGV[k], ARGV[k + 1])
end
if n > 0 then redis.call('HSET', KEYS[1], 'version', ARGV[2]) end
if ARGV[7] == '1' then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], ARGV[8], ARGV[8])
  redis.call('ZADD', KEYS[4], ARGV[8], ARGV[9])
  redis.call('HSET', KEYS[5], ARGV[8], ARGV[10])
end
if turn then redis.call('DEL', KEYS[6]) end
if n > 0 then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
"""

# KEYS: session, turn.  ARGV: writer, milliseconds.
# Returns -1 (unknown session), 1 (the writer holds the turn) or 0 (another does).
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local turn = redis.call('GET', KEYS[2])
if turn and turn ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
"""

# KEYS: session, snaps, snapdata.  ARGV: version, member, scene JSON.
# Returns -1 (unknown session), 1 (stored) or the head (the snapshot is newer).
_SAVE_SNAPSHOT = """
local head = redis.call('HGET', KEYS[1], 'version')
if not head then return {-1} end
if tonumber(ARGV[1]) > tonumber(head) then return {0, head} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], ARGV[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
return {1}
"""

# KEYS: session, log, clients, snaps, snapdata.
# Returns nil (unknown) or {{password_hash, created}, snapshot member, scene, entries, clients}.
_LOAD = """
local meta = redis.call('HMGET', KEYS[1], 'password_hash', 'created')
if not meta[2] then return false end
local member = false
local scene = false
local start = '0'
local newest = redis.call('ZRANGE', KEYS[4], -1, -1)
if #newest > 0 then
  member = newest[1]
  start = string.match(member, '^(%d+):')
  scene = redis.call('HGET', KEYS[5], start)
end
return {meta, member, scene, redis.call('LRANGE', KEYS[2], start, -1),
        redis.call('HGETALL', KEYS[3])}
"""

# KEYS: session, log.  ARGV: first index, last index.  nil: unknown session.
_LOG = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('LRANGE', KEYS[2], ARGV[1], ARGV[2])
"""

# KEYS: session, snaps.
_SNAPSHOTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('ZRANGE', KEYS[2], 0, -1)
"""

# KEYS: session, snaps, snapdata.  ARGV: version.  {} if none at or before it.
_SNAPSHOT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local found = redis.call('ZREVRANGEBYSCORE', KEYS[2], ARGV[1], '-inf', 'LIMIT', 0, 1)
if #found == 0 then return {} end
return {found[1], redis.call('HGET', KEYS[3], string.match(found[1], '^(%d+):'))}
"""

# --- URLs ---------------------------------------------------------------------


def redis_url_parts(url: str) -> tuple[str, str, str]:
    """``(url for redis-py, key prefix, url to show)`` of a ``redis://...?prefix=NAME`` URL.

    The URL to show has its password masked.  StoreError if the URL is not a Redis one.
    """
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        parts.port  # noqa: B018  # a bad port raises ValueError here
    except ValueError as exc:
        raise StoreError(f"invalid Redis store URL {url!r}: {exc}") from None
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise StoreError(
            f"invalid Redis store URL {url!r}; expected redis://host:port/db[?prefix=NAME]"
        )
    prefixes = [value for key, value in query if key == "prefix"]
    if len(prefixes) > 1:
        raise StoreError(f"invalid Redis store URL {url!r}: prefix given twice")
    prefix = prefixes[0] if prefixes else DEFAULT_PREFIX
    if not prefix or any(c.isspace() for c in prefix):
        raise StoreError(f"invalid Redis store URL {url!r}: the prefix must be a word")
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    client_url = urlunsplit((parts.scheme, parts.netloc, parts.path, rest, ""))
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rpartition('@')[2]}"
    shown = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return client_url, prefix, f"{shown} (prefix {prefix})"


# --- encoding -----------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _user(fields: tuple[tuple[str, Any], ...]) -> User:
    # Entries repeat the same few users; decoding each once saves most of a load's time.
    return structure(dict(fields), User)


def _decode_entry(text: str) -> OpMsg:
    """The entry of an ``op`` message text, as ``encode_entry(entry).text`` wrote it."""
    data = json.loads(text)
    op: Op = structure(data["op"], Op, "logged operation")
    return OpMsg(
        version=data["version"],
        client=data["client"],
        seq=data["seq"],
        user=_user(tuple(data["user"].items())),
        op=op,
        origin=data["origin"],
        time=data["time"],
    )


def _entries(session: str, texts: Sequence[str]) -> list[OpMsg]:
    try:
        return [_decode_entry(t) for t in texts]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StoreError(f"session {session!r}: a logged entry does not decode: {exc}") from None


def _snapshot_member(snapshot: Snapshot) -> tuple[str, str, str]:
    """(version, sorted-set member, scene JSON) of ``snapshot``."""
    try:
        scene = json.dumps(snapshot.scene, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError) as exc:
        raise StoreError(f"snapshot at {snapshot.version} is not JSON: {exc}") from None
    version = str(int(snapshot.version))
    return version, f"{version}:{float(snapshot.time)!r}", scene


def _snapshot_info(member: str) -> SnapshotInfo:
    version, _, when = member.partition(":")
    return SnapshotInfo(int(version), float(when))


def _event(data: str) -> StoreEvent:
    message = json.loads(data)
    if "head" in message:
        return Appended(int(message["head"]))
    origin, payload = message["origin"], message["payload"]
    if not isinstance(origin, str) or not isinstance(payload, str):
        raise TypeError("origin and payload must be strings")
    return Relayed(origin, payload)


# --- the store ------------------------------------------------------------------


class RedisStore:
    """The :class:`~server.store.Store` over Redis (see the module docstring).

    ``url`` is ``redis://host:port/db[?prefix=NAME]``.  Nothing connects
    until the first call; a Redis that cannot be reached makes that call
    raise StoreError.  ``timeout`` bounds each command (seconds).
    """

    def __init__(self, url: str, *, timeout: float = 10.0, connect_timeout: float = 5.0) -> None:
        client_url, self.prefix, self.where = redis_url_parts(url)
        try:
            self._redis = aioredis.Redis.from_url(
                client_url,
                decode_responses=True,
                socket_timeout=timeout,
                socket_connect_timeout=connect_timeout,
                retry=Retry(NoBackoff(), 0),  # never retry: see the module docstring
            )
        except (ValueError, TypeError, RedisError) as exc:
            raise StoreError(f"invalid Redis store URL {self.where}: {exc}") from None
        self._create = self._redis.register_script(_CREATE)
        self._append = self._redis.register_script(_APPEND)
        self._claim = self._redis.register_script(_CLAIM)
        self._save_snapshot = self._redis.register_script(_SAVE_SNAPSHOT)
        self._load = self._redis.register_script(_LOAD)
        self._log = self._redis.register_script(_LOG)
        self._snapshots = self._redis.register_script(_SNAPSHOTS)
        self._snapshot = self._redis.register_script(_SNAPSHOT)
        self._closed = False
        # session -> token -> callback; a token per watch() call, so unwatch
        # removes exactly that registration even if a callback is watched twice.
        self._watchers: dict[str, dict[int, Watcher]] = {}
        self._tokens = itertools.count()
        self._wake = asyncio.Event()  # the set of watched sessions changed, or closing
        self._listener: asyncio.Task[None] | None = None
        self._listening = False  # the pub/sub connection has delivered since it (re)connected

    def __repr__(self) -> str:
        return f"RedisStore({self.where})"

    # --- keys ---------------------------------------------------------------

    def _key(self, kind: str, session: str) -> str:
        return f"{self.prefix}:{kind}:{session}"

    def _channel(self, session: str) -> str:
        return self._key("events", session)

    # --- calling Redis ---------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn redis-py's exceptions into StoreError with a message that says where."""
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StoreError(f"cannot reach Redis at {self.where}: {exc}") from None
        except RedisError as exc:
            raise StoreError(f"Redis at {self.where} failed: {exc}") from None

    async def _run(self, script: AsyncScript, keys: list[str], args: list[str]) -> Any:
        self._check_open()
        with self._errors():
            return await script(keys=keys, args=args)

    async def _command(self, pending: Awaitable[Any]) -> Any:
        with self._errors():
            return await pending

    def _session_keys(self, session: str, *kinds: str) -> list[str]:
        return [self._key("s", session), *(self._key(kind, session) for kind in kinds)]

    # --- the contract -------------------------------------------------------------

    async def create_session(self, meta: SessionMeta) -> None:
        created = repr(float(meta.created))
        has_password = meta.password_hash is not None
        done = await self._run(
            self._create,
            [self._key("s", meta.id), f"{self.prefix}:sessions"],
            [meta.id, created, "1" if has_password else "0", meta.password_hash or ""],
        )
        if not done:
            raise SessionExists(f"session {meta.id!r} already exists")

    async def load_session(self, session: str) -> SessionRecord | None:
        keys = self._session_keys(session, "log", "clients", "snaps", "snapdata")
        found = await self._run(self._load, keys, [])
        if found is None:
            return None
        (password_hash, created), member, scene, texts, flat_clients = found
        snapshot = None
        if member is not None:
            info = _snapshot_info(member)
            snapshot = Snapshot(info.version, self._scene(session, scene), info.time)
        clients: dict[str, tuple[int, int]] = {}
        for client, value in zip(flat_clients[::2], flat_clients[1::2], strict=True):
            seq, _, version = value.partition(":")
            clients[client] = (int(seq), int(version))
        meta = SessionMeta(session, password_hash, float(created))
        return SessionRecord(meta, snapshot, tuple(_entries(session, texts)), clients)

    async def append(
        self,
        session: str,
        entries: Sequence[OpMsg],
        expected_version: int,
        snapshot: Snapshot | None = None,
        writer: str | None = None,
    ) -> bool:
        self._check_open()
        check_entries(entries, expected_version)
        last = entries[-1].version if entries else expected_version
        if snapshot is not None and snapshot.version > last:
            raise StoreError(f"snapshot at {snapshot.version} is newer than the log head {last}")
        snap = _snapshot_member(snapshot) if snapshot is not None else ("", "", "")
        latest = {e.client: f"{e.seq}:{e.version}" for e in entries}
        args = [
            str(expected_version),
            str(last),
            self._channel(session),
            f'{{"head":{last}}}',
            str(len(entries)),
            str(len(latest)),
            "1" if snapshot is not None else "0",
            *snap,
            writer or "",  # "" is nobody's: a turn always blocks it
            *(encode_entry(e).text for e in entries),
            *itertools.chain.from_iterable(latest.items()),
        ]
        keys = self._session_keys(session, "log", "clients", "snaps", "snapdata", "turn")
        done = await self._run(self._append, keys, args)
        if done == -1:
            raise UnknownSession(session)
        return bool(done == 1)

    async def ops_since(self, session: str, version: int) -> list[OpMsg]:
        return await self.log(session, version, None)

    async def save_snapshot(self, session: str, snapshot: Snapshot) -> None:
        keys = self._session_keys(session, "snaps", "snapdata")
        status = await self._run(self._save_snapshot, keys, list(_snapshot_member(snapshot)))
        if status[0] == -1:
            raise UnknownSession(session)
        if status[0] == 0:
            raise StoreError(f"snapshot at {snapshot.version} is newer than the head {status[1]}")

    async def snapshots(self, session: str) -> list[SnapshotInfo]:
        members = await self._run(self._snapshots, self._session_keys(session, "snaps"), [])
        if members is None:
            raise UnknownSession(session)
        return [_snapshot_info(m) for m in members]

    async def snapshot(self, session: str, version: int) -> Snapshot | None:
        keys = self._session_keys(session, "snaps", "snapdata")
        found = await self._run(self._snapshot, keys, [str(version)])
        if found is None:
            raise UnknownSession(session)
        if not found:
            return None
        info = _snapshot_info(found[0])
        return Snapshot(info.version, self._scene(session, found[1]), info.time)

    async def log(self, session: str, start: int = 0, stop: int | None = None) -> list[OpMsg]:
        first = max(start, 0)  # the entry of version v is at index v - 1
        last = -1 if stop is None else stop - 1
        if stop is not None and last < first:
            first, last = 1, 0  # nothing, but still UnknownSession for an unknown session
        keys = self._session_keys(session, "log")
        texts = await self._run(self._log, keys, [str(first), str(last)])
        if texts is None:
            raise UnknownSession(session)
        return _entries(session, texts)

    async def list_sessions(self) -> list[SessionMeta]:
        self._check_open()
        ids = cast(
            list[str], await self._command(self._redis.zrange(f"{self.prefix}:sessions", 0, -1))
        )
        pipe = self._redis.pipeline(transaction=False)
        for session in ids:
            pipe.hmget(self._key("s", session), ["password_hash", "created"])
        rows = cast(list[list[str | None]], await self._command(pipe.execute()))
        # Sessions are never deleted; a hash without 'created' could only be foreign data.
        return [
            SessionMeta(session, password_hash, float(created))
            for session, (password_hash, created) in zip(ids, rows, strict=True)
            if created is not None
        ]

    async def head(self, session: str) -> int:
        self._check_open()
        found = await self._command(self._redis.hget(self._key("s", session), "version"))
        if found is None:
            raise UnknownSession(session)
        return int(found)

    async def claim(self, session: str, writer: str, seconds: float) -> bool:
        milliseconds = str(max(1, round(seconds * 1000)))
        keys = self._session_keys(session, "turn")
        done = await self._run(self._claim, keys, [writer, milliseconds])
        if done == -1:
            raise UnknownSession(session)
        return bool(done == 1)

    def watch(self, session: str, callback: Watcher) -> Unwatch:
        self._check_open()
        token = next(self._tokens)
        self._watchers.setdefault(session, {})[token] = callback
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(
                self._listen(), name=f"redis-events {self.where}"
            )
        self._wake.set()

        def unwatch() -> None:
            callbacks = self._watchers.get(session)
            removed = callbacks is not None and callbacks.pop(token, None) is not None
            if removed and not callbacks:
                del self._watchers[session]
                self._wake.set()

        return unwatch

    async def relay(self, session: str, origin: str, payload: str) -> None:
        # One PUBLISH, no check that the session exists: relays are frequent
        # (presence), and an unknown session has no watchers anyway.
        self._check_open()
        message = json.dumps({"origin": origin, "payload": payload}, separators=(",", ":"))
        await self._command(self._redis.publish(self._channel(session), message))

    async def close(self) -> None:
        """Stop the event listener and close every connection."""
        if self._closed:
            return
        self._closed = True
        self._watchers.clear()
        self._wake.set()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        with contextlib.suppress(RedisError, OSError):
            await self._redis.aclose()

    # --- helpers -------------------------------------------------------------------

    def _scene(self, session: str, text: str | None) -> dict[str, Any]:
        if text is None:
            raise StoreError(f"session {session!r}: a snapshot has no scene")
        try:
            return cast(dict[str, Any], json.loads(text))
        except ValueError as exc:
            raise StoreError(f"session {session!r}: a snapshot does not decode: {exc}") from None

    # --- events ----------------------------------------------------------------------

    async def _listen(self) -> None:
        """Keep one pub/sub connection subscribed to the watched sessions; deliver events."""
        delay = RECONNECT_MIN
        while not self._closed:
            pubsub = self._redis.pubsub()
            self._listening = False
            try:
                await self._pump(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._closed:
                    return
                if self._listening:  # it worked for a while: try again soon
                    delay = RECONNECT_MIN
                log.warning(
                    "Redis events at %s: %s; reconnecting in %.2f s", self.where, exc, delay
                )
            finally:
                with contextlib.suppress(Exception):
                    await cast(Callable[[], Awaitable[None]], pubsub.aclose)()  # untyped
            if self._closed:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX)

    async def _pump(self, pubsub: PubSub) -> None:
        """Subscribe as the watchers change and read messages, until the connection fails.

        One read is pending at any time; SUBSCRIBE and UNSUBSCRIBE only write,
        so they go out while it waits (their confirmations come through the read).
        """
        loop = asyncio.get_running_loop()
        subscribed: set[str] = set()
        reader: asyncio.Task[Any] | None = None
        heard = loop.time()
        try:
            while not self._closed:
                self._wake.clear()
                wanted = {self._channel(s) for s in self._watchers}
                if wanted - subscribed:
                    await pubsub.subscribe(*sorted(wanted - subscribed))
                if subscribed - wanted:
                    await pubsub.unsubscribe(*sorted(subscribed - wanted))
                if subscribed != wanted:
                    heard = loop.time()
                subscribed = wanted
                if pubsub.connection is None:  # never subscribed: nothing to read yet
                    await self._wake.wait()
                    continue
                if reader is None:
                    reader = loop.create_task(
                        pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                    )
                waker = loop.create_task(self._wake.wait())
                done, _ = await asyncio.wait(
                    {reader, waker}, timeout=KEEPALIVE, return_when=asyncio.FIRST_COMPLETED
                )
                waker.cancel()
                if reader in done:
                    message, reader = reader.result(), None
                    heard = loop.time()
                    self._listening = True
                    if message is not None:
                        self._dispatch(message)
                elif not done and subscribed:
                    # Idle: a PING's pong is a message, so silence means a dead peer.
                    if loop.time() - heard > 2 * KEEPALIVE:
                        raise RedisConnectionError("no answer to PING")
                    await pubsub.ping()
        finally:
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return  # a pong
        channel = str(message.get("channel"))
        session = channel[len(self._channel("")) :]
        try:
            event = _event(str(message.get("data")))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("Redis events at %s: bad message on %s: %s", self.where, channel, exc)
            return
        callbacks = self._watchers.get(session)
        if callbacks:
            loop = asyncio.get_running_loop()
            for token in list(callbacks):
                loop.call_soon(self._deliver, session, token, event)

    def _deliver(self, session: str, token: int, event: StoreEvent) -> None:
        callback = self._watchers.get(session, {}).get(token)
        if callback is None:
            return  # unwatched since the message came
        try:
            callback(event)
        except Exception:
            log.exception("a watcher of session %r failed on %r", session, event)
