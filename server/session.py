"""One live session: the sequencer, its members and the group-commit writer.

The rule this module exists for: **nothing is acknowledged or broadcast
before it is committed.**  A submit is sequenced at once (so later submits
transform against it), its entry waits in ``pending``, and the writer task
commits everything pending in one ``Store.append`` (one transaction, one
fsync), then sends the acks and broadcasts the ops in version order.  While
one commit runs the next batch accumulates, so the commit rate adapts to the
load: that is the group commit.

Everything here runs on the event loop; the sequencer stays pure and is only
called from synchronous code, so no other coroutine can interleave with a
submit between sequencing and queueing.  A failed commit (the store raised)
makes the session *broken*: its clients are closed with 1011 and reconnect to
a freshly loaded session; no unacknowledged entry was ever promised to anyone.

Several servers may serve one session through a shared store (Redis).  Each
sequences its own clients' submits; the store's compare-and-set append
decides the order.  A server that loses it, or hears from the store that the
log grew (:meth:`Session._on_store_event`), *catches up*: it reads the
entries it lacks, rebuilds its sequencer at the store's head with them (they
are already transformed, so they are applied as they are), sequences its
pending submits again on top (from the clients' original ops and bases, so
they are transformed past the new entries too), and broadcasts the new
entries to its own members before anything else.  Nothing pending had been
acknowledged, so nothing anyone was told changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import struct
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from websockets.asyncio.server import ServerConnection
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.protocol import State

from optiverse.collab.messages import (
    Ack,
    CloseCode,
    ErrorCode,
    ErrorMsg,
    Joined,
    Left,
    OpMsg,
    Presence,
    PresenceMsg,
    ProtocolError,
    Submit,
    User,
    Welcome,
    decode_server,
    encode,
    encode_entry,
    forget_entry,
    remember_entry,
)
from optiverse.commands import apply, invert
from optiverse.scene import Scene
from optiverse.scene.fileformat import scene_from_data, scene_to_data
from server.config import ServerConfig
from server.metrics import ServerMetrics
from server.sequencer import Accepted, Duplicate, Rejected, Sequencer
from server.store import (
    Relayed,
    SessionMeta,
    Snapshot,
    Store,
    StoreError,
    StoreEvent,
)

__all__ = ["Member", "Session", "TokenBucket", "send_text", "send_texts"]

log = logging.getLogger(__name__)

# A client whose unread output exceeds this is too slow to follow the session.
MAX_WRITE_BUFFER = 16 << 20
_GATHER_ROUNDS = 3
# After this many compare-and-set losses in a row a server claims the
# session's turn (Store.claim): for TURN_SECONDS, or until its append lands,
# the other servers' appends fail, so a busy server cannot starve it.
CLAIM_AFTER_LOSSES = 2
TURN_SECONDS = 0.25
# A server that cannot commit for this long gives up (its clients reconnect).
MAX_LOSING_SECONDS = 30.0
# How long to wait when an append lost to another server's turn, not to new entries.
TURN_WAIT_SECONDS = 0.002
# Fire-and-forget close tasks, referenced so they are not collected mid-way.
_background: set[asyncio.Task[None]] = set()


def send_text(ws: ServerConnection, text: str) -> None:
    """Queue ``text`` on ``ws`` without waiting (see :func:`send_texts`)."""
    send_texts(ws, [text.encode()])


def send_texts(ws: ServerConnection, texts: Sequence[bytes]) -> None:
    """Queue UTF-8 ``texts`` on ``ws`` in one write; close a connection that cannot keep up.

    Writing synchronously keeps every message of a session in one order on
    every connection (acks and ops go out in version order) and costs no task
    per message.  One write per batch instead of websockets' one per frame
    saves a system call per message and connection, the largest cost of a
    fan-out.  A connection that is closing or sending a fragmented message
    (we never do) is skipped, as ``websockets.broadcast`` does.
    """
    protocol = ws.protocol
    if (
        not texts
        or protocol.state is not State.OPEN
        or ws.send_in_progress is not None
        or protocol.expect_continuation_frame
    ):
        return
    transport = ws.transport
    writes = protocol.data_to_send()  # normally empty: websockets flushes as it goes
    deflate = None
    for extension in protocol.extensions:
        if isinstance(extension, PerMessageDeflate):
            deflate = extension
    if deflate is None:
        writes.extend(map(_frame, texts))
    else:
        writes.extend(_deflated(deflate, texts))
    transport.write(b"".join(writes))
    if transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
        log.warning("closing %s: more than %d bytes unsent", ws.remote_address, MAX_WRITE_BUFFER)
        task = asyncio.get_running_loop().create_task(ws.close(CloseCode.POLICY, "client too slow"))
        _background.add(task)
        task.add_done_callback(_background.discard)


def _frame(data: bytes, rsv1: int = 0) -> bytes:
    """One final, unmasked text frame (a server's frames are never masked)."""
    head = 0x81 | rsv1
    size = len(data)
    if size < 126:
        return bytes((head, size)) + data
    if size < 65536:
        return struct.pack("!BBH", head, 126, size) + data
    return struct.pack("!BBQ", head, 127, size) + data


def _deflated(ext: PerMessageDeflate, texts: Sequence[bytes]) -> list[bytes]:
    """``texts`` as permessage-deflate frames, with the connection's own compressor.

    What ``Frame.serialize`` does through ``PerMessageDeflate.encode``, without
    a Frame object and three function calls per message: the compressor's
    state stays websockets' own, so its own sends remain valid.
    """
    out = []
    for data in texts:
        if ext.local_no_context_takeover:
            encoder = zlib.compressobj(wbits=-ext.local_max_window_bits, **ext.compress_settings)
        else:
            encoder = ext.encoder
        payload = encoder.compress(data) + encoder.flush(zlib.Z_SYNC_FLUSH)
        # A sync flush ends with 00 00 ff ff, which the receiver adds back.
        out.append(_frame(payload[:-4], 0x40))
    return out


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class _Pending(NamedTuple):
    """A sequenced entry waiting for its commit, and what it came from."""

    entry: OpMsg
    sender: Member
    received: float  # monotonic time the submit arrived
    submit: Submit  # the client's own op and base, to sequence it again after a catch-up


class _Remote(NamedTuple):
    """A member of another server sharing this session, as its relays tell."""

    user: User
    presence: str | None  # the last presence relayed for it, encoded
    seen: float  # monotonic time of its last relay


class Member:
    """One joined connection: who it is and its per-connection limits."""

    def __init__(self, ws: ServerConnection, user: User, client: str, config: ServerConfig) -> None:
        limits = config.limits
        self.ws = ws
        self.user = user
        self.client = client
        self.ops_bucket = TokenBucket(limits.ops_per_second, limits.ops_burst)
        self.strikes = 0  # submits refused in a row for the rate limit
        self.presence_interval = 1.0 / limits.presence_per_second
        self.next_presence = 0.0
        self.pending_presence: PresenceMsg | None = None
        self.presence_timer: asyncio.TimerHandle | None = None
        self.last_presence: str | None = None

    def send(self, text: str) -> None:
        send_text(self.ws, text)

    def __repr__(self) -> str:
        return f"<Member {self.client} ({self.user.id}) {self.ws.remote_address}>"


class Session:
    """A loaded session; create with :meth:`create` or :meth:`load`, never directly."""

    def __init__(
        self,
        meta: SessionMeta,
        sequencer: Sequencer,
        snapshot_version: int,
        store: Store,
        config: ServerConfig,
        metrics: ServerMetrics,
    ) -> None:
        self.id = meta.id
        self.meta = meta
        self.sequencer = sequencer
        self.store = store
        self.config = config
        self.metrics = metrics
        self.members: dict[ServerConnection, Member] = {}
        self.durable_version = sequencer.version
        # client -> (seq, version) as committed: the sequencer's, without what is pending.
        self.durable_clients = dict(sequencer.client_seqs)
        self.snapshot_version = snapshot_version
        # The newest head the store told us of; above durable_version: catch up.
        self.store_head = sequencer.version
        self.pending: list[_Pending] = []
        self._committing: list[OpMsg] = []  # the batch whose commit is in progress
        # duplicates of entries not yet committed: (version, member, seq)
        self.waiting_acks: list[tuple[int, Member, int]] = []
        self.joining = 0  # hellos between lookup and join; the session must stay loaded
        self.broken = False
        self.stopping = False  # shutting down: no left messages, no new members
        self.on_broken: Callable[[Session], None] = lambda _s: None
        self.on_idle: Callable[[Session], None] = lambda _s: None
        self._kick = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer = asyncio.get_running_loop().create_task(
            self._write_loop(), name=f"writer-{self.id}"
        )
        self._unwatch = store.watch(self.id, self._on_store_event)
        # Tells our relays from other servers' (each session object has its own).
        self.origin = secrets.token_hex(8)
        self.remote: dict[str, _Remote] = {}  # client id -> member of another server
        self._roster = asyncio.get_running_loop().call_later(
            config.roster_seconds, self._roster_tick
        )

    # --- lifecycle -------------------------------------------------------------

    @classmethod
    async def create(
        cls, meta: SessionMeta, store: Store, config: ServerConfig, metrics: ServerMetrics
    ) -> Session:
        """Store a new empty session and load it."""
        await store.create_session(meta)
        return cls(meta, cls._sequencer(Scene(), 0, [], {}, config), 0, store, config, metrics)

    @classmethod
    async def load(
        cls, session_id: str, store: Store, config: ServerConfig, metrics: ServerMetrics
    ) -> Session | None:
        """The stored session, replayed from its newest snapshot; None if the store lacks it."""
        record = await store.load_session(session_id)
        if record is None:
            return None
        try:
            scene = scene_from_data(record.snapshot.scene) if record.snapshot else Scene()
            for entry in record.entries:
                apply(scene, entry.op)
        except Exception as exc:
            raise StoreError(f"session {session_id!r} does not replay: {exc}") from exc
        # The tail starts empty: a loaded session is usually idle, and entries are
        # about 1 KB each.  Stale bases, `since` and old resubmits read the store.
        sequencer = cls._sequencer(scene, record.version, [], dict(record.clients), config)
        session = cls(record.meta, sequencer, record.snapshot_version, store, config, metrics)
        log.info("session %s loaded at version %d", session_id, record.version)
        return session

    @staticmethod
    def _sequencer(
        scene: Scene,
        version: int,
        tail: list[OpMsg],
        clients: dict[str, tuple[int, int]],
        config: ServerConfig,
    ) -> Sequencer:
        return Sequencer(
            scene,
            version,
            tail[-config.tail_size :],
            clients,
            tail_size=config.tail_size,
            max_components=config.limits.max_components,
        )

    async def flush(self) -> None:
        """Return once everything sequenced so far is committed and acknowledged."""
        while (
            (self.pending or not self._idle.is_set())
            and not self.broken
            and not self._writer.done()
        ):
            self._kick.set()
            await self._idle.wait()
            await asyncio.sleep(0)

    async def close(self) -> None:
        """Flush, then stop the writer.  The session must not be used afterwards."""
        await self.flush()
        self._unwatch()
        self._roster.cancel()
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer

    @property
    def idle(self) -> bool:
        """No member, nobody joining and nothing left to commit: safe to unload."""
        return not self.members and not self.joining and not self.pending and self._idle.is_set()

    # --- members ---------------------------------------------------------------

    async def join(self, member: Member, since: int | None) -> None:
        """Add ``member`` and send its welcome; ProtocolError(session_full) when full.

        The welcome is at the *durable* version: entries still being committed
        are left out of it and reach the new member as ``op`` broadcasts once
        they are committed, like everyone else.  Welcoming at the sequencer's
        head instead would hand a joiner versions that a crash can still lose,
        and its later ``since`` would then name a history nobody else has.
        """
        # Another server may have appended without us hearing of it (events are
        # hints), and a client moving here from it may know those versions: take
        # them in before the welcome, so it never goes back.
        await self._catch_up_to(await self.store.head(self.id))
        ops: list[OpMsg] | None = None
        if since is not None and since <= self.durable_version:
            ops = await self.entries_after(since)
        # From here on nothing awaits: the welcome is written before any later
        # op, and entries_after returned everything up to the head.
        if self.broken:
            raise ProtocolError(ErrorCode.INTERNAL, "the session failed; reconnect")
        if len(self.members) >= self.config.limits.clients_per_session:
            raise ProtocolError(
                ErrorCode.SESSION_FULL,
                f"the session has reached its limit of "
                f"{self.config.limits.clients_per_session} clients",
            )
        version = self.durable_version
        snapshot: dict[str, Any] | None = None
        if ops is not None:
            ops = [e for e in ops if e.version <= version]
        else:
            snapshot = scene_to_data(self._durable_scene())
        self.members[member.ws] = member
        # It may have been another server's member until it moved here.
        self.remote.pop(member.client, None)
        users: dict[str, User] = {}
        for other in self.members.values():
            users.setdefault(other.user.id, other.user)
        for remote in self.remote.values():
            users.setdefault(remote.user.id, remote.user)
        welcome = Welcome(
            session=self.id,
            version=version,
            users=tuple(users.values()),
            snapshot=snapshot,
            ops=tuple(ops) if ops is not None else None,
            limits=self.config.limits.for_client(),
        )
        member.send(encode(welcome))
        for other in self.members.values():
            if other is not member and other.last_presence is not None:
                member.send(other.last_presence)
        for remote in self.remote.values():
            if remote.presence is not None:
                member.send(remote.presence)
        self._to_others(member, encode(Joined(member.user, member.client)))
        log.info("%r joined session %s at version %d", member, self.id, version)

    async def _catch_up_to(self, head: int, timeout: float = 10.0) -> None:
        """Return once the durable version reaches ``head`` (the writer catches up),
        the session broke, or ``timeout`` passed."""
        if head <= self.durable_version:
            return
        self.store_head = max(self.store_head, head)
        self._kick.set()
        deadline = time.monotonic() + timeout
        while (
            self.durable_version < head
            and not self.broken
            and not self._writer.done()
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.002)

    def _durable_scene(self) -> Scene:
        """The scene at ``durable_version``: the head without what is not yet committed."""
        undurable = [*self._committing, *(p.entry for p in self.pending)]
        if not undurable:
            return self.sequencer.scene
        scene = self.sequencer.scene.copy()
        for entry in reversed(undurable):
            apply(scene, invert(entry.op))
        return scene

    def leave(self, member: Member) -> None:
        if self.members.pop(member.ws, None) is None:
            return
        if member.presence_timer is not None:
            member.presence_timer.cancel()
        if not self.stopping:
            self._to_others(member, encode(Left(member.user, member.client)))
        log.info("%r left session %s", member, self.id)
        if not self.members:
            # Idle sessions keep only what a reconnect needs; the rest is in the store.
            self.sequencer.trim_tail(0)
            self.on_idle(self)

    def _to_others(self, sender: Member, text: str) -> None:
        """Send ``text`` to every other member, here and on the other servers."""
        data = [text.encode()]
        for ws in self.members:
            if ws is not sender.ws:
                send_texts(ws, data)
        self._relay(text)

    # --- members of other servers ----------------------------------------------

    def _relay(self, text: str) -> None:
        """Hand ``text`` to the other servers of this session, through the store."""
        task = asyncio.get_running_loop().create_task(self._relay_now(text))
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _relay_now(self, text: str) -> None:
        try:
            await self.store.relay(self.id, self.origin, text)
        except Exception as exc:  # presence is best effort; ops do not depend on it
            log.warning("relay for session %s failed: %s", self.id, exc)

    def _on_relayed(self, event: Relayed) -> None:
        """Another server's member joined, left or moved: tell ours (a join only once)."""
        if event.origin == self.origin:
            return
        try:
            message = decode_server(event.payload)
        except ProtocolError as exc:
            log.warning("ignored a relay for session %s: %s", self.id, exc)
            return
        if not isinstance(message, Joined | Left | PresenceMsg):
            log.warning("ignored a relayed %s for session %s", type(message).__name__, self.id)
            return
        if any(m.client == message.client for m in self.members.values()):
            return  # it is connected here now: what its old server says is stale
        now = time.monotonic()
        data = [event.payload.encode()]
        if isinstance(message, Joined):
            known = self.remote.get(message.client)
            self.remote[message.client] = _Remote(
                message.user, known.presence if known else None, now
            )
            if known is not None:
                return  # a roster refresh
        elif isinstance(message, Left):
            if self.remote.pop(message.client, None) is None:
                return
        else:
            if message.client not in self.remote:
                # Its joined got lost: announce it before its presence.
                data.insert(0, encode(Joined(message.user, message.client)).encode())
            self.remote[message.client] = _Remote(message.user, event.payload, now)
        for ws in self.members:
            send_texts(ws, data)

    async def _check_head(self) -> None:
        try:
            head = await self.store.head(self.id)
        except Exception as exc:  # the next commit will say more
            log.warning("reading the head of session %s failed: %s", self.id, exc)
            return
        if head > self.store_head:
            self.store_head = head
            self._kick.set()

    def _roster_tick(self) -> None:
        """Re-announce our members to the other servers; forget theirs gone silent
        for three periods (their server died without saying they left)."""
        period = self.config.roster_seconds
        loop = asyncio.get_running_loop()
        self._roster = loop.call_later(period, self._roster_tick)
        if self.members:
            # Events are hints (a pub/sub reconnect loses some): look at the head
            # too, so a server whose members only watch still catches up. A
            # session nobody is in needs no read: a join reads the head itself.
            task = loop.create_task(self._check_head())
            _background.add(task)
            task.add_done_callback(_background.discard)
        for member in self.members.values():
            self._relay(encode(Joined(member.user, member.client)))
        now = time.monotonic()
        gone = [c for c, r in self.remote.items() if now - r.seen > 3 * period]
        for client in gone:
            remote = self.remote.pop(client)
            data = [encode(Left(remote.user, client)).encode()]
            for ws in self.members:
                send_texts(ws, data)

    # --- presence --------------------------------------------------------------

    def presence(self, member: Member, msg: Presence) -> None:
        """Relay ``msg`` to the others, at most ``presence_per_second``; the latest wins."""
        out = PresenceMsg(member.user, member.client, msg.cursor, msg.selection)
        if member.presence_timer is not None:
            member.pending_presence = out
            return
        loop = asyncio.get_running_loop()
        wait = member.next_presence - loop.time()
        if wait <= 0:
            self._relay_presence(member, out)
        else:
            member.pending_presence = out
            member.presence_timer = loop.call_later(wait, self._presence_due, member)

    def _presence_due(self, member: Member) -> None:
        member.presence_timer = None
        out, member.pending_presence = member.pending_presence, None
        if out is not None and member.ws in self.members:
            self._relay_presence(member, out)

    def _relay_presence(self, member: Member, out: PresenceMsg) -> None:
        text = encode(out)
        member.last_presence = text
        member.next_presence = asyncio.get_running_loop().time() + member.presence_interval
        self._to_others(member, text)

    # --- operations ------------------------------------------------------------

    async def entries_after(self, base: int) -> list[OpMsg]:
        """Every entry after ``base`` up to the current head, from memory and the store.

        The store has what is committed; entries not yet committed are in
        ``pending`` or the batch being committed, whatever the tail kept.  While
        the store is read the session goes on, and entries sequenced meanwhile
        may already have left the tail when the read returns: they are
        committed by then, so the next round reads just those.
        """
        found = self.sequencer.ops_since(base)
        if found is not None:
            return found
        logged: dict[int, OpMsg] = {}
        start = base
        for _attempt in range(5):
            stop = min(self.durable_version, self.sequencer.tail_start)
            if stop > start:
                logged.update((e.version, e) for e in await self.store.log(self.id, start, stop))
            # Memory as it is now: a catch-up during the read may have replaced
            # the uncommitted entries an earlier look saw at those versions.
            known = {**logged, **self._in_memory(base)}
            head = self.sequencer.version
            missing = next((v for v in range(base + 1, head + 1) if v not in known), None)
            if missing is None:
                return [known[v] for v in range(base + 1, head + 1)]
            start = missing - 1
        raise StoreError(f"entries after {base} of session {self.id} are missing")

    def _in_memory(self, base: int) -> dict[int, OpMsg]:
        known = {e.version: e for e in self.sequencer.tail if e.version > base}
        known.update((e.version, e) for e in self._committing if e.version > base)
        known.update((p.entry.version, p.entry) for p in self.pending if p.entry.version > base)
        return known

    async def submit(self, member: Member, msg: Submit, received: float) -> None:
        """Sequence ``msg``; the ack and broadcast follow its commit (or an error now)."""
        history = None
        if msg.base <= self.sequencer.version and self.sequencer.needs_history(msg.base):
            history = await self.entries_after(msg.base)
        if self.broken:
            raise ProtocolError(ErrorCode.INTERNAL, "the session failed; reconnect", msg.seq)
        result = self.sequencer.submit(
            member.client, msg.seq, msg.base, msg.op, member.user, msg.origin, history=history
        )
        if (
            isinstance(result, Rejected)
            and result.code is ErrorCode.STALE_SEQ
            and (logged := await self._logged_version(member.client, msg.seq)) is not None
        ):
            result = Duplicate(logged)
        if isinstance(result, Accepted):
            remember_entry(result.entry)  # encoded once: the store's thread and _deliver reuse it
            self.pending.append(_Pending(result.entry, member, received, msg))
            self._kick.set()
        elif isinstance(result, Duplicate):
            self.metrics.duplicates.inc()
            if result.version <= self.durable_version:
                member.send(encode(Ack(msg.seq, result.version)))
            else:
                self.waiting_acks.append((result.version, member, msg.seq))
        else:
            self.metrics.ops_rejected.inc(code=result.code.value)
            raise ProtocolError(result.code, result.message, msg.seq)

    async def _logged_version(self, client: str, seq: int) -> int | None:
        """The version of ``(client, seq)`` in the store, for a resubmit older than the tail."""
        last = self.sequencer.client_seqs.get(client)
        if last is None:
            return None
        # seqs and versions grow together: the entry is among the last `gap` before `last`.
        start = max(0, last[1] - 1 - min((last[0] - seq) * 64, 5_000))
        for entry in await self.store.log(self.id, start, min(last[1], self.durable_version)):
            if entry.client == client and entry.seq == seq:
                return entry.version
        return None

    def _on_store_event(self, event: StoreEvent) -> None:
        """The store says the log grew (if another server did it, catch up soon),
        or relays a message from another server's member."""
        if isinstance(event, Relayed):
            self._on_relayed(event)
        elif event.head > self.store_head:
            self.store_head = event.head
            if event.head > self.durable_version:
                self._kick.set()

    async def _write_loop(self) -> None:
        while True:
            await self._kick.wait()
            # Let the loop read what arrived during the last commit first (the
            # socket callbacks, then the handlers), so it joins this batch.
            for _ in range(_GATHER_ROUNDS):
                await asyncio.sleep(0)
            self._kick.clear()
            if not self.pending and self.store_head <= self.durable_version:
                continue
            self._idle.clear()
            try:
                if self.store_head > self.durable_version:
                    await self._catch_up()
                await self._commit()
            except Exception:
                log.exception("commit of session %s failed", self.id)
                self._fail()
                return
            finally:
                self._idle.set()

    async def _commit(self) -> None:
        """Commit everything pending, catching up first each time another server
        appended before us; then acknowledge and broadcast."""
        losses = 0
        losing_since = time.monotonic()
        while self.pending:
            batch, self.pending = self.pending, []
            entries = [p.entry for p in batch]
            head = entries[-1].version
            assert head == self.sequencer.version, "every sequenced entry is pending or committed"
            snapshot = None
            if head - self.snapshot_version >= self.config.snapshot_every:
                snapshot = Snapshot(head, scene_to_data(self.sequencer.scene))
            started = time.monotonic()
            self._committing = entries
            try:
                appended = await self.store.append(
                    self.id, entries, self.durable_version, snapshot, self.origin
                )
            finally:
                self._committing = []
            if appended:
                done = time.monotonic()
                self.metrics.commit_seconds.observe(done - started)
                self.metrics.commit_batch.observe(len(entries))
                self.durable_version = head
                self.store_head = max(self.store_head, head)
                for entry in entries:
                    self.durable_clients[entry.client] = (entry.seq, entry.version)
                if snapshot is not None:
                    self.snapshot_version = head
                self._deliver(batch, done)
                return
            # Another server appended first, or holds the turn: what we
            # sequenced sits on a stale head, or must wait.
            self.metrics.lost_appends.inc()
            self.pending = batch + self.pending
            losses += 1
            if time.monotonic() - losing_since > MAX_LOSING_SECONDS:
                raise StoreError(
                    f"append to session {self.id} lost to other writers for "
                    f"{MAX_LOSING_SECONDS:.0f} s"
                )
            if losses >= CLAIM_AFTER_LOSSES:
                await self.store.claim(self.id, self.origin, TURN_SECONDS)
            before = self.durable_version
            await self._catch_up()
            if self.durable_version == before:
                await asyncio.sleep(TURN_WAIT_SECONDS)  # nothing new: someone's turn

    async def _catch_up(self) -> None:
        """Take in the entries other servers appended; sequence what is pending again on top.

        Reads only what is new since the durable version, plus, when a pending
        submit's base is older than the committed entries still in memory, the
        entries between: a server that fell behind must not re-read its whole
        lag on every try, or it never catches up with a busy peer.  Only the
        part after the reads runs without awaiting, so no submit, join or
        commit interleaves with the rebuild.
        """
        durable = self.durable_version
        hint = self.store_head
        new = await self.store.log(self.id, durable)
        if not new:
            if self.store_head == hint:
                self.store_head = durable  # a stale hint: nothing to take in
            # else a newer event came during the read: the writer looks again.
            return
        # The committed entries in memory end at the durable version (the
        # writer alone moves it, and this is the writer).
        committed = [e for e in self.sequencer.tail if e.version <= durable]
        fetched = committed + new
        start = fetched[0].version - 1
        while True:
            oldest = min([start, *(p.submit.base for p in self.pending)])
            if oldest >= start:
                break
            fetched = await self.store.log(self.id, oldest, start) + fetched
            start = oldest
        head = fetched[-1].version
        foreign = new
        # The sequencer at the durable version, then the foreign entries on top.
        sequencer = self._sequencer(
            self._durable_scene(),
            durable,
            committed,
            dict(self.durable_clients),
            self.config,
        )
        for entry in foreign:
            sequencer.adopt(entry)
            self.durable_clients[entry.client] = (entry.seq, entry.version)
        # A pending Set on a component nobody touched since its base then skips
        # the transform: the cost of a lag is what conflicts, not how long it is.
        sequencer.note_touched(fetched)
        old_pending, self.pending = self.pending, []
        self.sequencer = sequencer
        self.durable_version = head
        self.store_head = max(self.store_head, head)
        log.info(
            "session %s caught up with %d entries from other servers (now at %d); "
            "%d pending sequenced again",
            self.id,
            len(foreign),
            head,
            len(old_pending),
        )
        # The members hear of the foreign entries first: they precede every
        # version this server gives out from now on.
        frames = [encode_entry(entry).text.encode() for entry in foreign]
        for ws in self.members:
            send_texts(ws, frames)
        self.metrics.ops_adopted.inc(len(foreign))
        self._resequence(old_pending, fetched, start)

    def _resequence(self, old: list[_Pending], fetched: list[OpMsg], start: int) -> None:
        """Sequence ``old`` submits again, in their order, on the caught-up sequencer
        (``fetched``: the entries after version ``start``, up to the store's head)."""
        renumbered: dict[int, int] = {}
        refused: dict[int, Rejected] = {}
        again: list[OpMsg] = []
        for pending in old:
            forget_entry(pending.entry)
            msg = pending.submit
            # fetched holds the consecutive versions after start.
            history = fetched[msg.base - start :] + again
            result = self.sequencer.submit(
                pending.sender.client,
                msg.seq,
                msg.base,
                msg.op,
                pending.sender.user,
                msg.origin,
                history=history,
            )
            if isinstance(result, Accepted):
                remember_entry(result.entry)
                self.pending.append(pending._replace(entry=result.entry))
                again.append(result.entry)
                renumbered[pending.entry.version] = result.entry.version
                continue
            if isinstance(result, Rejected) and result.code is ErrorCode.STALE_SEQ:
                # Logged by another server, and out of the tail since: it is
                # among the entries after its base.
                logged = next(
                    (
                        e.version
                        for e in history
                        if (e.client, e.seq) == (pending.sender.client, msg.seq)
                    ),
                    None,
                )
                if logged is not None:
                    result = Duplicate(logged)
            if isinstance(result, Duplicate):
                # The client resent it to another server, which logged it.
                renumbered[pending.entry.version] = result.version
                self._send_if_joined(pending.sender, encode(Ack(msg.seq, result.version)))
            else:
                # Valid on the old head, refused on the new one (say the scene is full now).
                self.metrics.ops_rejected.inc(code=result.code.value)
                refused[pending.entry.version] = result
                error = ErrorMsg(result.code.value, result.message, msg.seq)
                self._send_if_joined(pending.sender, encode(error))
        # Resubmits waiting for a pending entry's ack follow it to its new version.
        waiting, self.waiting_acks = self.waiting_acks, []
        for version, member, seq in waiting:
            if version in refused:
                rejected = refused[version]
                error = ErrorMsg(rejected.code.value, rejected.message, seq)
                self._send_if_joined(member, encode(error))
                continue
            version = renumbered.get(version, version)
            if version <= self.durable_version:
                self._send_if_joined(member, encode(Ack(seq, version)))
            else:
                self.waiting_acks.append((version, member, seq))

    def _send_if_joined(self, member: Member, text: str) -> None:
        if member.ws in self.members:
            member.send(text)

    def _deliver(self, batch: list[_Pending], now: float) -> None:
        """Acks to the senders, ops to everyone else: one write per connection, version order."""
        out: dict[ServerConnection, list[bytes]] = {ws: [] for ws in self.members}
        for entry, sender, received, _submit in batch:
            op_text = encode_entry(entry).text.encode()
            forget_entry(entry)
            sender_ws = sender.ws
            for ws, frames in out.items():
                if ws is sender_ws:
                    frames.append(encode(Ack(entry.seq, entry.version)).encode())
                else:
                    frames.append(op_text)
            self.metrics.latency.observe(now - received)
        self.metrics.ops_sequenced.inc(len(batch))
        if self.waiting_acks:
            due = [w for w in self.waiting_acks if w[0] <= self.durable_version]
            self.waiting_acks = [w for w in self.waiting_acks if w[0] > self.durable_version]
            for version, member, seq in due:
                if member.ws in out:
                    out[member.ws].append(encode(Ack(seq, version)).encode())
        for ws, frames in out.items():
            send_texts(ws, frames)

    def _fail(self) -> None:
        """Drop the session from service: nothing pending was acknowledged, clients reload."""
        self.broken = True
        self.pending.clear()
        self.waiting_acks.clear()
        self.on_broken(self)
        loop = asyncio.get_running_loop()
        for member in list(self.members.values()):
            member.send(encode(ErrorMsg(ErrorCode.INTERNAL.value, "the session failed; reconnect")))
            task = loop.create_task(member.ws.close(CloseCode.INTERNAL, "session failed"))
            _background.add(task)
            task.add_done_callback(_background.discard)
