"""The client's sync state machine.  Sans-I/O: messages in, messages out.

The engine owns two scenes:

* ``confirmed``: the server's scene at ``version`` (every op up to it);
* ``scene``: what the user sees: ``confirmed`` plus my pending operations.

Pending operations are one in flight (sent, not yet acknowledged) and a
buffer (not sent yet).  An incoming server operation is transformed past
every pending one, in order, before it touches ``scene``; each pending op is
transformed past it in turn (the ot.js client, with the buffer kept as a
list so each edit keeps its own seq and origin)::

        confirmed --server op s--> confirmed'
            |                          |
         pending p                  pending p'       (s, p') = transform(s, p)
            v                          v             s' applies to ``scene``
          scene ------- s' -------> scene'

After a disconnect the in-flight and buffered ops stay; on reconnect the
hello carries ``since`` and the in-flight op is resent with its original
seq, which the server deduplicates.  A refused op is dropped and ``scene``
is rebuilt from ``confirmed`` plus what remains pending.

Inputs: :meth:`local`, :meth:`connect`, :meth:`receive`, :meth:`disconnected`,
:meth:`resend`.  Outputs: drain :meth:`messages_to_send` and
:meth:`events_received` after each input.
"""

from __future__ import annotations

import enum
from functools import reduce
from typing import Any

import attrs

from optiverse.collab.messages import (
    PROTOCOL_VERSION,
    Ack,
    ClientMessage,
    ErrorCode,
    ErrorMsg,
    Hello,
    Joined,
    Left,
    OpMsg,
    Origin,
    Presence,
    PresenceMsg,
    ServerMessage,
    Submit,
    User,
    Welcome,
)
from optiverse.commands import Batch, Create, Noop, Op, Set, apply, transform
from optiverse.commands.edits import compose_sets
from optiverse.errors import OptiverseError
from optiverse.scene import Scene, component_props
from optiverse.scene.fileformat import scene_from_data
from optiverse.wire import dumps

__all__ = [
    "Acked",
    "ClientEngine",
    "ConnState",
    "Event",
    "InvalidState",
    "PeerJoined",
    "PeerLeft",
    "PeerPresence",
    "Pending",
    "Refused",
    "RemoteApplied",
    "Reset",
    "ServerError",
    "Throttled",
    "Welcomed",
]

# How many buffered edits of one origin go out as one Batch after an ack.
MAX_COMBINED = 64
# Buffered edits combine into one submit only up to this many leaf operations;
# an edit with more is measured against SUBMIT_BYTES when it is made.
COMBINE_LEAVES = 256
# The most encoded op one submit carries. An edit larger than this (pasting or
# deleting thousands of components) is queued as several ops, one submit each,
# so that no message passes the server's limit (1 MiB by default): a quarter of
# it, leaving room for the envelope and for servers set lower.
SUBMIT_BYTES = 256 * 1024


class ConnState(enum.Enum):
    OFFLINE = "offline"  # no connection (never connected, or lost)
    JOINING = "joining"  # hello sent, waiting for welcome
    LIVE = "live"  # joined; submits flow


class InvalidState(AssertionError):
    """The engine was driven wrongly (a caller bug), e.g. receive() while offline."""


@attrs.frozen
class Pending:
    seq: int
    op: Op
    origin: Origin


# --- events -----------------------------------------------------------------


@attrs.frozen
class Welcomed:
    session: str
    version: int
    users: tuple[User, ...]


@attrs.frozen
class RemoteApplied:
    """Another client's op, as it applied to ``scene``."""

    op: Op
    user: User
    origin: Origin
    version: int


@attrs.frozen
class Reset:
    """``scene`` was rebuilt (snapshot, or a refused op rolled back): redraw it all."""

    reason: str


@attrs.frozen
class Acked:
    seq: int
    version: int


@attrs.frozen
class Refused:
    """The server refused my op ``seq`` (it is rolled back), or a buffered op no longer applies."""

    seq: int
    code: str
    message: str


@attrs.frozen
class Throttled:
    """Rate-limited: call :meth:`ClientEngine.resend` after a pause."""

    seq: int


@attrs.frozen
class ServerError:
    code: str
    message: str


@attrs.frozen
class PeerPresence:
    user: User
    client: str
    cursor: tuple[float, float] | None
    selection: tuple[str, ...] | None


@attrs.frozen
class PeerJoined:
    user: User
    client: str


@attrs.frozen
class PeerLeft:
    user: User
    client: str


Event = (
    Welcomed
    | RemoteApplied
    | Reset
    | Acked
    | Refused
    | Throttled
    | ServerError
    | PeerPresence
    | PeerJoined
    | PeerLeft
)


def _only_sets(op: Op) -> bool:
    return isinstance(op, Set) or (
        isinstance(op, Batch) and all(isinstance(o, Set) for o in op.ops)
    )


def _leaves(op: Op) -> int:
    return len(op.ops) if isinstance(op, Batch) else 0 if isinstance(op, Noop) else 1


def _pieces(op: Op) -> list[Op]:
    """``op``, or consecutive parts of it that each encode to at most SUBMIT_BYTES.

    Only a Batch can be split; its parts applied in order are the Batch. One leaf
    is never too large (names are capped at 200 characters).
    """
    if (
        not isinstance(op, Batch)
        or len(op.ops) <= COMBINE_LEAVES
        or len(dumps(op, Op)) <= SUBMIT_BYTES
    ):
        return [op]
    half = len(op.ops) // 2
    return _pieces(Batch(op.ops[:half])) + _pieces(Batch(op.ops[half:]))


def _combine(ops: list[Op]) -> Op:
    """One op for buffered edits of one origin.

    Edits made only of Sets (drag steps, above all) fold into one Set per
    component, first ``old`` and last value: intermediate positions that were
    never sent need not be sent now.  Anything else goes as one Batch.
    """
    if len(ops) == 1:
        return ops[0]
    if all(_only_sets(op) for op in ops):
        return reduce(compose_sets, ops)
    return Batch.of(ops)


class ClientEngine:
    """One client's view of one session; see the module docstring."""

    def __init__(self, client_id: str, user: User, scene: Scene | None = None) -> None:
        self.client_id = client_id
        self.user = user
        self.scene = scene if scene is not None else Scene()
        self.confirmed = self.scene.copy()
        self.session: str | None = None
        self.version = 0
        self.state = ConnState.OFFLINE
        self.inflight: Pending | None = None
        self.buffer: list[Pending] = []
        self.users: dict[str, User] = {}
        self._joined_once = False
        self._inflight_sent = False
        self._next_seq = 1
        self._acked_seq = 0  # the newest seq acknowledged
        self._outbox: list[ClientMessage] = []
        self._events: list[Event] = []

    # --- outputs ------------------------------------------------------------

    def messages_to_send(self) -> list[ClientMessage]:
        """Messages for the server, oldest first; the list is handed over."""
        out, self._outbox = self._outbox, []
        return out

    def events_received(self) -> list[Event]:
        """What happened since the last call; the list is handed over."""
        out, self._events = self._events, []
        return out

    @property
    def pending(self) -> list[Pending]:
        return ([self.inflight] if self.inflight else []) + self.buffer

    @property
    def synced(self) -> bool:
        """Live with nothing pending: ``scene`` equals the server's at ``version``."""
        return self.state is ConnState.LIVE and not self.pending

    # --- inputs -------------------------------------------------------------

    def local(self, op: Op, origin: Origin = "edit") -> Op:
        """Apply my edit to ``scene`` now and queue it; returns it as applied.

        Raises the apply error (scene unchanged) if ``op`` is invalid here.
        Works offline: the edit is sent once the session is joined.
        """
        effective = apply(self.scene, op)
        if isinstance(effective, Noop) or (isinstance(effective, Batch) and not effective.ops):
            return effective
        for piece in _pieces(effective):
            self.buffer.append(Pending(self._take_seq(), piece, origin))
        self._flush()
        return effective

    def connect(
        self,
        session: str | None = None,
        *,
        create: bool = False,
        password: str | None = None,
    ) -> None:
        """Queue the hello for a new connection (join ``session``, or ``create`` one).

        Creating a session uploads the current local scene as my first edit.
        """
        if self.state is not ConnState.OFFLINE:
            raise InvalidState(f"connect() while {self.state.value}")
        if create:
            if self._joined_once:
                raise InvalidState("create on an engine that already belongs to a session")
            if self.confirmed.components:
                # The server starts from ``confirmed``, not from ``scene``: edits
                # made before connecting are pending on top of it and must follow
                # the upload.  Nothing was ever sent, so a seq below theirs is free.
                upload = Batch(
                    tuple(
                        Create(cid, comp.kind, component_props(comp))
                        for cid, comp in self.confirmed.in_draw_order()
                    )
                )
                self.confirmed = Scene()
                # The upload goes first; nothing was ever sent, so the queued
                # edits can take the seqs after its parts.
                queued: list[tuple[Op, Origin]] = [(p.op, p.origin) for p in self.buffer]
                parts: list[tuple[Op, Origin]] = [(piece, "edit") for piece in _pieces(upload)]
                self.buffer = [
                    Pending(self._take_seq(), op, origin) for op, origin in parts + queued
                ]
        elif session is None:
            raise InvalidState("connect() needs a session id or create=True")
        if session is not None and self.session not in (None, session):
            raise InvalidState("this engine belongs to another session")
        self.state = ConnState.JOINING
        since = self.version if self._joined_once else None
        self._outbox.append(
            Hello(
                protocol=PROTOCOL_VERSION,
                user=self.user,
                client=self.client_id,
                session=None if create else session,
                create=create,
                password=password,
                since=since,
            )
        )

    def disconnected(self) -> None:
        """The connection is gone; pending ops stay and go out again after reconnect."""
        self.state = ConnState.OFFLINE
        self._inflight_sent = False
        self._outbox.clear()
        self.users.clear()

    def resend(self) -> None:
        """Send the in-flight op again (after a rate-limit pause)."""
        if self.state is ConnState.LIVE and self.inflight and not self._inflight_sent:
            self._send_inflight()

    def presence(
        self, cursor: tuple[float, float] | None, selection: tuple[str, ...] | None
    ) -> None:
        """Queue my cursor/selection for the others (dropped while not live)."""
        if self.state is ConnState.LIVE:
            self._outbox.append(Presence(cursor=cursor, selection=selection))

    def receive(self, message: ServerMessage) -> None:
        """Feed one decoded server message."""
        if self.state is ConnState.OFFLINE:
            raise InvalidState(f"received {type(message).__name__} while offline")
        if isinstance(message, Welcome):
            self._welcome(message)
        elif self.state is not ConnState.LIVE:
            if isinstance(message, ErrorMsg):
                self._events.append(ServerError(message.code, message.message))
            else:
                raise InvalidState(f"received {type(message).__name__} before welcome")
        elif isinstance(message, OpMsg):
            self._remote(message)
        elif isinstance(message, Ack):
            self._ack(message.seq, message.version)
        elif isinstance(message, ErrorMsg):
            self._error(message)
        elif isinstance(message, PresenceMsg):
            self._events.append(
                PeerPresence(message.user, message.client, message.cursor, message.selection)
            )
        elif isinstance(message, Joined):
            self.users[message.client] = message.user
            self._events.append(PeerJoined(message.user, message.client))
        elif isinstance(message, Left):
            self.users.pop(message.client, None)
            self._events.append(PeerLeft(message.user, message.client))

    # --- internals ----------------------------------------------------------

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def _welcome(self, message: Welcome) -> None:
        if self.state is not ConnState.JOINING:
            raise InvalidState("welcome while not joining")
        self.session = message.session
        self.state = ConnState.LIVE
        self.users = {}
        if message.snapshot is not None:
            self.confirmed = scene_from_data(message.snapshot)
            self.version = message.version
            self._rebuild("snapshot")
        for entry in message.ops or ():
            self._remote(entry)
        if message.ops is not None and self.version != message.version:
            raise InvalidState(f"welcome ops end at {self.version}, not {message.version}")
        self._joined_once = True
        self._events.append(Welcomed(message.session, message.version, message.users))
        if self.inflight is None:
            self._flush()
        elif not self._inflight_sent:
            # Not when the welcome acked my old in-flight op: _ack already sent the next one.
            self._send_inflight()

    def _remote(self, entry: OpMsg) -> None:
        if entry.version <= self.version:
            return  # already in my snapshot
        if entry.version != self.version + 1:
            raise InvalidState(f"op {entry.version} after version {self.version}: a gap")
        if (
            entry.client == self.client_id
            and self.inflight is not None
            and entry.seq == self.inflight.seq
        ):
            # My in-flight op, sequenced before a disconnect ate its ack.
            self._ack(entry.seq, entry.version)
            return
        apply(self.confirmed, entry.op)
        op = entry.op
        for i, pending in enumerate(self.pending):
            op, moved = transform(op, pending.op)
            self._replace_pending(i, attrs.evolve(pending, op=moved))
        self.version = entry.version
        effective = apply(self.scene, op)
        self._events.append(RemoteApplied(effective, entry.user, entry.origin, entry.version))

    def _replace_pending(self, index: int, pending: Pending) -> None:
        if self.inflight is not None:
            if index == 0:
                self.inflight = pending
                return
            index -= 1
        self.buffer[index] = pending

    def _ack(self, seq: int, version: int) -> None:
        if self.inflight is None or self.inflight.seq != seq:
            if seq <= self._acked_seq:
                # The server acks every resent duplicate, and my resend may
                # cross the op or welcome that already acked it: nothing to do.
                return
            raise InvalidState(f"ack of seq {seq} with nothing of that seq in flight")
        if version <= self.version:
            # My op is already in ``confirmed``: the snapshot I was welcomed
            # with included it, so it must not apply twice.
            self._acked_seq = seq
            self.inflight = None
            self._inflight_sent = False
            self._events.append(Acked(seq, version))
            self._rebuild("acked in snapshot")
            self._flush()
            return
        if version != self.version + 1:
            raise InvalidState(f"ack at version {version} after version {self.version}")
        apply(self.confirmed, self.inflight.op)
        self.version = version
        self._acked_seq = seq
        self.inflight = None
        self._inflight_sent = False
        self._events.append(Acked(seq, version))
        self._flush()

    def _error(self, message: ErrorMsg) -> None:
        inflight = self.inflight
        if message.seq is None or inflight is None or message.seq != inflight.seq:
            self._events.append(ServerError(message.code, message.message))
            return
        if message.code == ErrorCode.RATE_LIMITED:
            self._inflight_sent = False
            self._events.append(Throttled(inflight.seq))
            return
        self.inflight = None
        self._inflight_sent = False
        self._events.append(Refused(inflight.seq, message.code, message.message))
        self._rebuild("refused")
        self._flush()

    def _rebuild(self, reason: str) -> None:
        """``scene`` := ``confirmed`` + pending; pending ops that no longer apply are dropped."""
        scene = self.confirmed.copy()
        kept: list[Pending] = []
        for pending in self.pending:
            try:
                kept.append(attrs.evolve(pending, op=apply(scene, pending.op)))
            except OptiverseError as exc:
                self._events.append(Refused(pending.seq, ErrorCode.INVALID_OP, str(exc)))
        if self.inflight is not None and (not kept or kept[0].seq != self.inflight.seq):
            self.inflight = None
            self._inflight_sent = False
        if self.inflight is not None:
            self.inflight, self.buffer = kept[0], kept[1:]
        else:
            self.buffer = kept
        self.scene.components = scene.components
        self._events.append(Reset(reason))

    def _flush(self) -> None:
        while self.state is ConnState.LIVE and self.inflight is None and self.buffer:
            first = self.buffer[0]
            take = 1
            leaves = _leaves(first.op)
            while (
                take < len(self.buffer)
                and take < MAX_COMBINED
                and self.buffer[take].origin == first.origin
                and leaves + _leaves(self.buffer[take].op) <= COMBINE_LEAVES
            ):
                leaves += _leaves(self.buffer[take].op)
                take += 1
            group, self.buffer = self.buffer[:take], self.buffer[take:]
            op = _combine([p.op for p in group])
            if isinstance(op, Noop):
                # The group cancels out (a drag back to where it started): the
                # scene already shows that, and the server needs nothing.
                continue
            self.inflight = Pending(group[-1].seq, op, first.origin)
            self._send_inflight()

    def _send_inflight(self) -> None:
        assert self.inflight is not None
        self._inflight_sent = True
        self._outbox.append(
            Submit(
                seq=self.inflight.seq,
                base=self.version,
                op=self.inflight.op,
                origin=self.inflight.origin,
            )
        )

    def debug_state(self) -> dict[str, Any]:
        """A summary for logs and recordings."""
        return {
            "state": self.state.value,
            "version": self.version,
            "inflight": self.inflight.seq if self.inflight else None,
            "buffered": [p.seq for p in self.buffer],
        }
