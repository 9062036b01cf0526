"""A JSON-lines recording of one client's session, for replaying and checking it later.

Each line is one object ``{"t": <unix time>, "dir": "out" | "in" | "local", "msg": {...}}``:

* ``out``: a client message as sent (the ``password`` of a hello is replaced
  by ``"<redacted>"``);
* ``in``: a server message as received, decoded or not;
* ``local``: an input to the engine that is not a server message, tagged by
  ``type``: ``start`` (first line: client id, user, initial scene),
  ``edit`` (a local edit, undo or redo: the op asked for, the op as applied
  or the error, and the seq it was queued under), ``connect``,
  ``disconnected``, ``resend`` and ``presence``.

Feeding the ``local`` and ``in`` lines, in order, to a fresh
:class:`~optiverse.collab.engine.ClientEngine` reproduces the ``out`` lines
and the client's scene; docs/client.md describes every field.  A recorder
writes and flushes one line per call, so a crash loses at most the line
being written.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

import attrs

from optiverse.collab.messages import User
from optiverse.commands import Op
from optiverse.scene import Scene
from optiverse.scene.fileformat import scene_to_data
from optiverse.wire import unstructure

__all__ = [
    "FORMAT",
    "REDACTED",
    "VERSION",
    "Direction",
    "Entry",
    "Recorder",
    "RecordingError",
    "read_recording",
]

FORMAT = "optiverse-client-recording"
VERSION = 1
REDACTED = "<redacted>"
Direction = Literal["out", "in", "local"]
_DIRECTIONS = ("out", "in", "local")


class RecordingError(ValueError):
    """Raised when a recording file has a line that is not a recording entry."""


@attrs.frozen
class Entry:
    """One line of a recording."""

    t: float
    dir: Direction
    msg: dict[str, Any]


class Recorder:
    """Appends entries to a JSON-lines file.  Thread-safe; one line per call."""

    def __init__(
        self, target: str | Path | IO[str], *, clock: Callable[[], float] = time.time
    ) -> None:
        if isinstance(target, str | Path):
            self._file: IO[str] = open(target, "w", encoding="utf-8")  # noqa: SIM115
            self._owned = True
        else:
            self._file = target
            self._owned = False
        self._clock = clock
        self._lock = threading.Lock()

    # --- the three directions ------------------------------------------------

    def sent(self, text: str) -> None:
        """A client message, as the JSON text that went on the wire."""
        if '"password"' in text:
            data = json.loads(text)
            if data.get("password") is not None:
                data["password"] = REDACTED
            self._write("out", data)
        else:
            self._write_raw("out", text)

    def received(self, text: str) -> None:
        """A server message, as the JSON text that came off the wire."""
        try:
            json.loads(text)
        except ValueError:
            # Kept, so a replay sees the same garbage the client did.
            self._write("in", {"type": None, "raw": text})
            return
        self._write_raw("in", text)

    def local(self, msg: dict[str, Any]) -> None:
        """Any local entry (``msg["type"]`` says which); prefer the typed helpers below."""
        self._write("local", msg)

    # --- typed local entries ---------------------------------------------------

    def start(self, client: str, user: User, scene: Scene) -> None:
        self.local(
            {
                "type": "start",
                "format": FORMAT,
                "version": VERSION,
                "client": client,
                "user": unstructure(user),
                "scene": scene_to_data(scene),
            }
        )

    def edit(
        self,
        op: Op,
        origin: str,
        *,
        applied: Op | None = None,
        seq: int | None = None,
        error: str | None = None,
    ) -> None:
        """A local edit: ``op`` as asked for, and ``applied`` (queued as ``seq``) or ``error``.

        ``seq`` is None when the edit changed nothing and was not queued.
        """
        self.local(
            {
                "type": "edit",
                "origin": origin,
                "op": unstructure(op, Op),
                "applied": None if applied is None else unstructure(applied, Op),
                "seq": seq,
                "error": error,
            }
        )

    def connect(self, session: str | None, create: bool, password: bool) -> None:
        """``engine.connect``; ``password`` says only whether one was given."""
        self.local({"type": "connect", "session": session, "create": create, "password": password})

    def disconnected(self, code: int | None, reason: str) -> None:
        self.local({"type": "disconnected", "code": code, "reason": reason})

    def resend(self) -> None:
        self.local({"type": "resend"})

    def presence(
        self, cursor: tuple[float, float] | None, selection: tuple[str, ...] | None
    ) -> None:
        self.local(
            {
                "type": "presence",
                "cursor": None if cursor is None else list(cursor),
                "selection": None if selection is None else list(selection),
            }
        )

    # --- file handling -------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._owned and not self._file.closed:
                self._file.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _write(self, direction: Direction, msg: dict[str, Any]) -> None:
        self._write_raw(direction, json.dumps(msg, separators=(",", ":")))

    def _write_raw(self, direction: Direction, msg_json: str) -> None:
        if "\n" in msg_json or "\r" in msg_json:
            # JSON strings cannot hold raw newlines, so these are whitespace:
            # re-dump to keep one entry per line.
            msg_json = json.dumps(json.loads(msg_json), separators=(",", ":"))
        line = f'{{"t":{self._clock()!r},"dir":"{direction}","msg":{msg_json}}}\n'
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line)
            self._file.flush()


def read_recording(path: str | Path) -> Iterator[Entry]:
    """The entries of a recording file, in order, or RecordingError naming the bad line."""
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise RecordingError(f"{path}:{number}: not JSON: {exc}") from None
            if (
                not isinstance(data, dict)
                or set(data) != {"t", "dir", "msg"}
                or data["dir"] not in _DIRECTIONS
                or not isinstance(data["msg"], dict)
                or not isinstance(data["t"], int | float)
            ):
                raise RecordingError(
                    f"{path}:{number}: expected {{'t': time, 'dir': 'out'|'in'|'local', "
                    "'msg': {...}}"
                )
            yield Entry(float(data["t"]), data["dir"], data["msg"])
