"""``check-client``: re-run a client recording through a fresh engine, against the server's log.

A recording (:mod:`optiverse.collab.recording`) holds what one client sent
(``out``), received (``in``) and did locally (``local``).  Feeding the
``local`` and ``in`` entries in order to a new
:class:`~optiverse.collab.engine.ClientEngine` must reproduce the ``out``
entries; after every received message the engine's confirmed scene must
equal the server's scene at the engine's version, which is replayed from
the server's log.  The first point where any of that fails is reported
with its line, so a divergence one user saw can be replayed offline.

Checks, in the order they can fail at one line:

* a ``local`` edit applies (or fails) as recorded;
* the engine accepts each received message (no ``InvalidState``);
* each recorded ``out`` message is the next one the engine produced;
* after a received message, ``confirmed`` equals the server's scene at
  ``version``, and while nothing is pending ``scene`` equals ``confirmed``.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from optiverse.collab.engine import ClientEngine, InvalidState
from optiverse.collab.messages import (
    ClientMessage,
    OpMsg,
    ProtocolError,
    User,
    Welcome,
    decode_server,
    encode,
)
from optiverse.collab.recording import REDACTED, Entry, RecordingError, read_recording
from optiverse.commands import Op
from optiverse.errors import OptiverseError
from optiverse.replay.errors import ReplayError, SourceError
from optiverse.replay.log import Log
from optiverse.replay.replay import Progress, apply_entry, first_difference
from optiverse.replay.report import summarize_op
from optiverse.scene import Scene
from optiverse.scene.fileformat import scene_from_data
from optiverse.wire import WireError, structure

__all__ = ["ClientReport", "Divergence", "check_client", "read_numbered"]


@attrs.frozen
class Divergence:
    """The first point where the replayed client differs from the recording or the server."""

    line: int
    version: int
    message: str
    component: str | None = None

    def __str__(self) -> str:
        return f"line {self.line} (client at version {self.version}): {self.message}"


@attrs.frozen
class ClientReport:
    client: str | None
    session: str | None
    lines: int
    versions_checked: int
    divergence: Divergence | None

    @property
    def ok(self) -> bool:
        return self.divergence is None


def read_numbered(path: str | Path) -> Iterator[tuple[int, Entry]]:
    """The recording's entries with their line numbers; SourceError on a bad line."""
    try:
        with open(path, encoding="utf-8") as handle:
            numbers = [n for n, line in enumerate(handle, 1) if line.strip()]
        yield from zip(numbers, read_recording(path), strict=False)
    except RecordingError as exc:
        raise SourceError(f"bad recording: {exc}") from None
    except OSError as exc:
        raise SourceError(f"cannot read recording {str(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SourceError(f"{str(path)!r} is not a recording: not UTF-8 text") from None


class _ServerScenes:
    """The server's scene at increasing versions, replayed once from the log."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.scene = Scene()
        self.version = 0

    def at(self, version: int) -> Scene:
        if version < self.version:
            self.scene, self.version = Scene(), 0
        for entry in self.log.entries[self.version : version]:
            apply_entry(self.scene, entry)
        self.version = version
        return self.scene


class _Diverged(Exception):
    def __init__(self, message: str, component: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.component = component


def check_client(
    recording: Iterator[tuple[int, Entry]], log: Log, progress: Progress | None = None
) -> ClientReport:
    """Re-run ``recording`` (from :func:`read_numbered`) against ``log``; stop at a divergence."""
    run = _Run(log)
    line = 0
    try:
        for line, entry in recording:
            run.feed(entry)
            if progress is not None:
                progress(line, 0)
    except _Diverged as exc:
        divergence = Divergence(line, run.version, exc.message, exc.component)
        return ClientReport(run.client, run.session, line, run.checked, divergence)
    return ClientReport(run.client, run.session, line, run.checked, None)


class _Run:
    def __init__(self, log: Log) -> None:
        self.log = log
        self.server = _ServerScenes(log)
        self.engine: ClientEngine | None = None
        self.sent: deque[ClientMessage] = deque()
        self.checked = 0
        self.session: str | None = None

    @property
    def client(self) -> str | None:
        return self.engine.client_id if self.engine else None

    @property
    def version(self) -> int:
        return self.engine.version if self.engine else 0

    def feed(self, entry: Entry) -> None:
        try:
            if entry.dir == "local":
                self._local(entry.msg)
            elif entry.dir == "out":
                self._out(entry.msg)
            else:
                self._in(entry.msg)
        except InvalidState as exc:
            raise _Diverged(f"the engine refuses this {entry.dir} entry: {exc}") from None

    def _need_engine(self) -> ClientEngine:
        if self.engine is None:
            raise ReplayError("the recording does not begin with its 'start' entry")
        return self.engine

    def _local(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "start":
            user: User = _decode(msg.get("user"), User, "start user")
            scene = scene_from_data(msg.get("scene"))
            self.engine = ClientEngine(str(msg.get("client")), user, scene)
            return
        engine = self._need_engine()
        if kind == "edit":
            self._edit(engine, msg)
        elif kind == "connect":
            engine.connect(
                msg.get("session"),
                create=bool(msg.get("create")),
                password=REDACTED if msg.get("password") else None,
            )
        elif kind == "disconnected":
            engine.disconnected()
            # What the engine queued but the dead connection never carried.
            self.sent.clear()
        elif kind == "resend":
            engine.resend()
        elif kind == "obsolete":
            return  # an undo/redo entry the app skipped: no engine input
        elif kind == "presence":
            cursor, selection = msg.get("cursor"), msg.get("selection")
            engine.presence(
                None if cursor is None else (float(cursor[0]), float(cursor[1])),
                None if selection is None else tuple(selection),
            )
        else:
            raise ReplayError(f"unknown local entry type {kind!r} in the recording")
        self.sent.extend(engine.messages_to_send())

    def _edit(self, engine: ClientEngine, msg: dict[str, Any]) -> None:
        op: Op = _decode(msg.get("op"), Op, "recorded edit")
        recorded_error = msg.get("error")
        try:
            applied = engine.local(op, msg.get("origin", "edit"))
        except OptiverseError as exc:
            if recorded_error is None:
                raise _Diverged(
                    f"local edit {summarize_op(op)} fails in the replay: {exc}"
                ) from None
            return
        if recorded_error is not None:
            raise _Diverged(
                f"local edit {summarize_op(op)} failed for the client ({recorded_error}) "
                "but applies in the replay"
            )
        if msg.get("applied") is not None:
            expected: Op = _decode(msg["applied"], Op, "recorded applied edit")
            if expected != applied:
                raise _Diverged(
                    f"local edit applied as {summarize_op(expected)} for the client, "
                    f"as {summarize_op(applied)} in the replay"
                )

    def _out(self, msg: dict[str, Any]) -> None:
        if not self.sent:
            raise _Diverged(f"the client sent {_brief(msg)}, but the replayed engine sent nothing")
        produced = self.sent.popleft()
        if json.loads(encode(produced)) != msg:
            raise _Diverged(
                f"the client sent {_brief(msg)}, the replayed engine "
                f"{_brief(json.loads(encode(produced)))}"
            )

    def _in(self, msg: dict[str, Any]) -> None:
        engine = self._need_engine()
        if msg.get("type") is None:
            return  # undecodable on the wire too; the client dropped it
        try:
            message = decode_server(json.dumps(msg))
        except ProtocolError:
            return
        if isinstance(message, Welcome):
            self._check_session(message.session)
        try:
            engine.receive(message)
        except OptiverseError as exc:
            raise _Diverged(f"the received {msg.get('type')} does not apply: {exc}") from None
        self.sent.extend(engine.messages_to_send())
        engine.events_received()
        if isinstance(message, OpMsg) or msg.get("type") in ("welcome", "ack", "error"):
            self._compare(engine, msg)

    def _check_session(self, session: str) -> None:
        if session != self.log.session:
            raise ReplayError(
                f"the recording is of session {session!r}, the log of session {self.log.session!r}"
            )
        self.session = session

    def _compare(self, engine: ClientEngine, msg: dict[str, Any]) -> None:
        version = engine.version
        if version > self.log.head:
            raise _Diverged(
                f"the client is at version {version}; the server's log ends at {self.log.head}"
            )
        server = self.server.at(version)
        difference = first_difference(engine.confirmed, server)
        if difference is not None:
            raise _Diverged(
                f"after the received {msg.get('type')}, the client's scene at version {version} "
                "differs from the server's: " + difference.describe("client", "server"),
                difference.component,
            )
        if not engine.pending:
            difference = first_difference(engine.scene, engine.confirmed)
            if difference is not None:
                raise _Diverged(
                    "with nothing pending, the client shows a scene that differs from its "
                    "confirmed one: " + difference.describe("shown", "confirmed"),
                    difference.component,
                )
        self.checked += 1


def _decode(data: object, cls: Any, what: str) -> Any:
    try:
        return structure(data, cls, what)
    except WireError as exc:
        raise ReplayError(f"bad recording: {exc}") from None


def _brief(msg: dict[str, Any]) -> str:
    text = json.dumps(msg, separators=(",", ":"))
    return text if len(text) <= 160 else text[:157] + "..."
