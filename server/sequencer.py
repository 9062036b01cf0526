"""The per-session sequencer: one total order, transform, apply.  Sans-I/O.

``submit`` takes a client's operation made at version ``base``, transforms
it past every logged operation after ``base`` (in order), applies it to the
session's scene and gives it the next version.  It does no I/O: the caller
persists the returned entry, then acknowledges and broadcasts it.

Only the last ``tail_size`` entries stay in memory.  A submit whose base is
older than that needs the missing entries: the caller checks
:meth:`Sequencer.needs_history`, loads them from the store and passes them
as ``history``.
"""

from __future__ import annotations

import time as _time
from collections import deque
from collections.abc import Iterable, Sequence
from itertools import islice

import attrs

from optiverse.collab.messages import ErrorCode, OpMsg, Origin, User
from optiverse.commands import Op, apply, transform_against
from optiverse.commands.ops import Batch, Create, Delete, Noop, Set
from optiverse.errors import OptiverseError
from optiverse.scene import Scene

__all__ = ["Accepted", "Duplicate", "Rejected", "Sequencer", "SubmitResult"]


@attrs.frozen
class Accepted:
    """The operation got ``entry.version``; ``entry.op`` is what applied."""

    entry: OpMsg


@attrs.frozen
class Duplicate:
    """This ``(client, seq)`` was sequenced before, at ``version``; ack it again."""

    version: int


@attrs.frozen
class Rejected:
    """Refused; nothing changed."""

    code: ErrorCode
    message: str


SubmitResult = Accepted | Duplicate | Rejected


def _creates(op: Op) -> int:
    if isinstance(op, Batch):
        return sum(isinstance(o, Create) for o in op.ops)
    return int(isinstance(op, Create))


def _relevant(op: Op, history: Iterable[OpMsg]) -> Iterable[Op]:
    """The operations of ``history`` that can change ``op`` when it is transformed past them.

    A Create, Delete or Set is transformed only by operations on its own id
    (``transform`` returns it as it is past any other), and a busy session's
    history is mostly other components: skipping them makes a submit with a
    stale base cost what its conflicts cost, not what its lag costs.
    """
    ops = (e.op for e in history)
    if not isinstance(op, Create | Delete | Set):
        return ops
    return (o for o in ops if _touches(o, op.id))


def _touches(op: Op, component_id: str) -> bool:
    if isinstance(op, Batch):
        return any(_touches(o, component_id) for o in op.ops)
    return not isinstance(op, Noop) and op.id == component_id


class Sequencer:
    """Orders one session's operations.  Not thread-safe; one per session."""

    def __init__(
        self,
        scene: Scene,
        version: int,
        tail: Iterable[OpMsg] = (),
        client_seqs: dict[str, tuple[int, int]] | None = None,
        *,
        tail_size: int = 512,
        max_components: int = 10_000,
    ) -> None:
        self.scene = scene
        self.version = version
        self.tail: deque[OpMsg] = deque(tail, maxlen=tail_size)
        # client id -> (last seq sequenced, its version): what makes resubmits idempotent.
        self.client_seqs: dict[str, tuple[int, int]] = dict(client_seqs or {})
        self.max_components = max_components
        # component id -> the last version that touched it, for versions after
        # `_touched_from`: a Create/Delete/Set whose id nobody touched since its
        # base needs no transform at all (the common case of a busy session).
        self._touched: dict[str, int] = {}
        self._touched_from = version
        if self.tail and self.tail[-1].version != version:
            raise ValueError("the tail must end at the sequencer's version")

    @property
    def tail_start(self) -> int:
        """The oldest base a submit can have without passing ``history``."""
        return self.tail[0].version - 1 if self.tail else self.version

    def needs_history(self, base: int) -> bool:
        """True when a submit at ``base`` needs the entries after ``base`` from the store."""
        return base < self.tail_start

    def submit(
        self,
        client: str,
        seq: int,
        base: int,
        op: Op,
        user: User,
        origin: Origin = "edit",
        *,
        now: float | None = None,
        history: Sequence[OpMsg] | None = None,
    ) -> SubmitResult:
        """Sequence one operation; see the module docstring."""
        last = self.client_seqs.get(client)
        if last is not None and seq <= last[0]:
            if seq == last[0]:
                return Duplicate(last[1])
            # A client that pipelined several ops resends all of them after a
            # reconnect; the older ones are still idempotent while in the tail.
            for entry in reversed(self.tail):
                if entry.client == client and entry.seq == seq:
                    return Duplicate(entry.version)
            return Rejected(
                ErrorCode.STALE_SEQ,
                f"seq {seq} is older than the last acknowledged seq {last[0]} of this client",
            )
        if base > self.version:
            return Rejected(
                ErrorCode.BASE_AHEAD, f"base {base} is ahead of the session version {self.version}"
            )
        untouched = (
            isinstance(op, Create | Delete | Set)
            and base >= self._touched_from
            and self._touched.get(op.id, 0) <= base
        )
        if untouched:
            history = []  # nothing after base can change it: no need to read any
        elif history is None:
            if self.needs_history(base):
                raise ValueError(f"base {base} is older than the tail; pass history")
            history = self._tail_after(base)
        else:
            history = [e for e in history if e.version > base]
            if len(history) != self.version - base:
                raise ValueError(f"history after base {base} is incomplete")
        try:
            transformed = transform_against(op, _relevant(op, history))
            if len(self.scene) + _creates(transformed) > self.max_components:
                return Rejected(
                    ErrorCode.SCENE_FULL,
                    f"the scene has reached its limit of {self.max_components} components",
                )
            effective = apply(self.scene, transformed)
        except OptiverseError as exc:
            return Rejected(ErrorCode.INVALID_OP, str(exc))
        self.version += 1
        entry = OpMsg(
            version=self.version,
            client=client,
            seq=seq,
            user=user,
            op=effective,
            origin=origin,
            time=_time.time() if now is None else now,
        )
        self.tail.append(entry)
        self.client_seqs[client] = (seq, self.version)
        self._touch(entry)
        return Accepted(entry)

    def adopt(self, entry: OpMsg) -> None:
        """Take in an entry another server sequenced for this session.

        It is already transformed and comes at the next version, so it is
        applied as it is, like a replay.  Raises ValueError for a version out
        of order and OptiverseError for an op that does not apply (a log this
        scene did not come from).
        """
        if entry.version != self.version + 1:
            raise ValueError(f"entry at version {entry.version} after version {self.version}")
        apply(self.scene, entry.op)
        self.version = entry.version
        self.tail.append(entry)
        self.client_seqs[entry.client] = (entry.seq, entry.version)
        self._touch(entry)

    def note_touched(self, entries: Sequence[OpMsg]) -> None:
        """Remember which components ``entries`` touched.

        ``entries`` are consecutive and end at this sequencer's version (read
        from the store).  A later submit made at a base among them, on a
        component none of them touched after that base, then needs no history
        at all: a server catching up re-sequences its pending submits this way.
        """
        if not entries or entries[-1].version != self.version:
            raise ValueError("the entries must end at the sequencer's version")
        first = entries[0].version - 1
        if first >= self._touched_from:
            return
        for entry in entries:
            if entry.version > self._touched_from:
                break  # what follows is counted already
            op = entry.op
            for item in op.ops if isinstance(op, Batch) else (op,):
                if not isinstance(item, Noop):
                    self._touched[item.id] = max(self._touched.get(item.id, 0), entry.version)
        self._touched_from = first

    def _touch(self, entry: OpMsg) -> None:
        op = entry.op
        for item in op.ops if isinstance(op, Batch) else (op,):
            if not isinstance(item, Noop):
                self._touched[item.id] = entry.version

    def _tail_after(self, version: int) -> list[OpMsg]:
        # The tail holds consecutive versions ending at self.version, so the
        # entries after `version` are its last (self.version - version): no scan.
        count = self.version - version
        if count <= 0:
            return []
        return list(islice(reversed(self.tail), count))[::-1]

    def trim_tail(self, keep: int = 0) -> None:
        """Drop all but the newest ``keep`` entries from memory (an idle session's tail)."""
        while len(self.tail) > keep:
            self.tail.popleft()
        if not keep:
            self._touched.clear()
            self._touched_from = self.version

    def ops_since(self, version: int) -> list[OpMsg] | None:
        """The entries after ``version`` if they are all in memory, else None."""
        if version < self.tail_start or version > self.version:
            return None
        return self._tail_after(version)
