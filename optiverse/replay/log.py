"""Where a session's history comes from: a server store or an exported JSON-lines log.

Both sources give the same stream of :data:`LogItem`: the logged
:class:`~optiverse.collab.messages.OpMsg` entries in version order, each
stored snapshot right after the entry of its version.  Streaming matters
for ``check``: a bad row or line surfaces as :class:`CorruptLog` at its
place in the stream, after every good item before it, so the first bad
version is the one reported.

The export format (``docs/debugging.md``) is JSON lines::

    {"format": "optiverse-log", "version": 1, "session": "s1", "created": 1.7e9}
    {"type": "op", "version": 1, "client": ..., "seq": ..., "user": ..., "op": ..., ...}
    {"type": "snapshot", "version": 40, "time": 1.7e9, "scene": {...scene file data...}}

An op line is exactly the ``op`` message of the wire protocol
(``messages.encode(entry)``), so a recorded incoming ``op`` message is also
a valid log line.  Reading is strict: anything else is :class:`CorruptLog`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol

import attrs

from optiverse.collab.messages import OpMsg, encode
from optiverse.replay.errors import CorruptLog, SourceError
from optiverse.wire import WireError, structure

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "JsonLinesSource",
    "Log",
    "LogItem",
    "LogSource",
    "StoreSource",
    "StoredSnapshot",
    "export_lines",
    "import_into_store",
    "open_source",
    "read_log",
    "write_jsonl",
]

FORMAT = "optiverse-log"
FORMAT_VERSION = 1
_HEADER_KEYS = {"format", "version", "session", "created"}
# Rows read per store query: bounds memory on long logs, and a corrupt row
# costs one row-by-row pass over this many rows to locate.
_CHUNK = 2000


@attrs.frozen
class StoredSnapshot:
    """The scene at ``version`` as the server stored it (scene-file data, not yet parsed)."""

    version: int
    scene: dict[str, Any]
    time: float = 0.0


LogItem = OpMsg | StoredSnapshot


class LogSource(Protocol):
    """A session's history, streamed."""

    @property
    def session(self) -> str: ...

    @property
    def created(self) -> float | None: ...

    @property
    def name(self) -> str:
        """How error messages name the source (a path or URL)."""
        ...

    def items(self) -> Iterator[LogItem]:
        """Entries in version order with snapshots interleaved; raises CorruptLog in place."""
        ...


@attrs.frozen
class Log:
    """A whole session history in memory, versions checked to run 1..head without gaps."""

    session: str
    entries: tuple[OpMsg, ...]
    snapshots: tuple[StoredSnapshot, ...] = ()
    created: float | None = None

    @property
    def head(self) -> int:
        return len(self.entries)

    def entry(self, version: int) -> OpMsg:
        """The entry that made ``version`` (1..head)."""
        return self.entries[version - 1]

    def items(self) -> Iterator[LogItem]:
        """The same stream a :class:`LogSource` gives."""
        snaps = sorted(self.snapshots, key=lambda s: s.version)
        i = 0
        for entry in self.entries:
            while i < len(snaps) and snaps[i].version <= entry.version - 1:
                yield snaps[i]
                i += 1
            yield entry
        yield from snaps[i:]


def read_log(source: LogSource) -> Log:
    """Everything ``source`` holds; CorruptLog on the first bad item or version gap."""
    entries: list[OpMsg] = []
    snapshots: list[StoredSnapshot] = []
    for item in source.items():
        if isinstance(item, StoredSnapshot):
            snapshots.append(item)
            continue
        expected = len(entries) + 1
        if item.version != expected:
            raise CorruptLog(f"out of sequence: found version {item.version}", expected)
        entries.append(item)
    return Log(source.session, tuple(entries), tuple(snapshots), source.created)


# --- JSON lines ---------------------------------------------------------------


def export_lines(log: Log | LogSource) -> Iterator[str]:
    """The export file's lines (without newlines): the header, then every item."""
    header: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "session": log.session,
        "created": log.created,
    }
    yield json.dumps(header, separators=(",", ":"))
    for item in log.items():
        if isinstance(item, StoredSnapshot):
            yield json.dumps(
                {
                    "type": "snapshot",
                    "version": item.version,
                    "time": item.time,
                    "scene": item.scene,
                },
                separators=(",", ":"),
                allow_nan=False,
            )
        else:
            yield encode(item)


def write_jsonl(log: Log | LogSource, out: IO[str]) -> int:
    """Write the export of ``log`` to ``out``; returns the number of lines."""
    count = 0
    for line in export_lines(log):
        out.write(line + "\n")
        count += 1
    return count


class JsonLinesSource:
    """An exported log file; see the module docstring for the format."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = str(path)
        try:
            with self.path.open(encoding="utf-8") as handle:
                first = handle.readline()
        except OSError as exc:
            raise SourceError(f"cannot read {self.name!r}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise SourceError(f"{self.name!r} is not an Optiverse log: not UTF-8 text") from None
        self.session, self.created = _header(first, self.name)
        self.line: int | None = None
        """The line number of the item :meth:`items` yielded last."""

    def items(self) -> Iterator[LogItem]:
        last_version = 0
        with self.path.open(encoding="utf-8", errors="strict") as handle:
            handle.readline()
            for number, line in enumerate(handle, start=2):
                if not line.strip():
                    continue
                self.line = number
                try:
                    item = _decode_line(line)
                except (ValueError, WireError) as exc:
                    raise CorruptLog(_one_line(str(exc)), last_version + 1, number) from None
                if isinstance(item, OpMsg):
                    last_version = item.version
                yield item


def _header(line: str, name: str) -> tuple[str, float | None]:
    try:
        data = json.loads(line)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SourceError(
            f"{name!r} is not an Optiverse log: its first line must be the header "
            f'{{"format": "{FORMAT}", "version": {FORMAT_VERSION}, "session": ...}}'
        )
    version = data.get("version")
    if version != FORMAT_VERSION:
        raise SourceError(
            f"{name!r}: log format version {version!r}; this build reads version {FORMAT_VERSION}"
        )
    extra = set(data) - _HEADER_KEYS
    if extra:
        raise SourceError(f"{name!r}: unknown header field(s) {', '.join(sorted(extra))}")
    session = data.get("session")
    created = data.get("created")
    if not isinstance(session, str) or not session:
        raise SourceError(f"{name!r}: the header's 'session' must be a non-empty string")
    if created is not None and (isinstance(created, bool) or not isinstance(created, int | float)):
        raise SourceError(f"{name!r}: the header's 'created' must be a number or null")
    return session, None if created is None else float(created)


def _decode_line(line: str) -> LogItem:
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("a log line must be a JSON object")
    tag = data.pop("type", None)
    if tag == "op":
        entry: OpMsg = structure(data, OpMsg, "log entry")
        return entry
    if tag == "snapshot":
        return _snapshot_item(data)
    raise ValueError(f"unknown line type {tag!r}; expected 'op' or 'snapshot'")


def _snapshot_item(data: dict[str, Any]) -> StoredSnapshot:
    if set(data) != {"version", "time", "scene"}:
        raise ValueError("a snapshot line has exactly the fields type, version, time and scene")
    version, when, scene = data["version"], data["time"], data["scene"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"snapshot version {version!r} is not a version number")
    if isinstance(when, bool) or not isinstance(when, int | float):
        raise ValueError(f"snapshot time {when!r} is not a number")
    if not isinstance(scene, dict):
        raise ValueError("snapshot scene is not an object")
    return StoredSnapshot(version, scene, float(when))


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- the server's SQLite store -----------------------------------------------


class StoreSource:
    """A session in a server's SQLite store, read through the store's own read path.

    The file is opened read-only, so this is safe beside a running server.
    """

    def __init__(self, url: str, session: str | None) -> None:
        from server.sqlite_store import SyncSqliteStore, sqlite_path
        from server.store import StoreError

        self.name = url
        try:
            path = sqlite_path(url)
        except StoreError as exc:
            raise SourceError(str(exc)) from None
        if not Path(path).is_file():
            raise SourceError(f"no store file {path!r} (from {url})")
        try:
            self.store = SyncSqliteStore(path, readonly=True)
            sessions = [meta.id for meta in self.store.list_sessions()]
        except (sqlite3.Error, StoreError) as exc:
            raise SourceError(f"cannot open {url}: {exc}") from None
        if session is None:
            if len(sessions) != 1:
                listed = ", ".join(sessions[:10]) + (", ..." if len(sessions) > 10 else "")
                raise SourceError(
                    f"{url} holds {len(sessions)} sessions; pick one with --session"
                    + (f" ({listed})" if sessions else "")
                )
            session = sessions[0]
        record = self.store.load_session(session)
        if record is None:
            raise SourceError(f"unknown session {session!r} in {url}")
        self.session = session
        self.created: float | None = record.meta.created
        self.head = record.version

    def items(self) -> Iterator[LogItem]:
        pending = [info.version for info in self.store.snapshots(self.session)]
        start = 0
        while start < self.head:
            stop = min(start + _CHUNK, self.head)
            for entry in self._chunk(start, stop):
                while pending and pending[0] <= entry.version - 1:
                    yield self._snapshot(pending.pop(0))
                yield entry
            start = stop
        for version in pending:
            yield self._snapshot(version)

    def _chunk(self, start: int, stop: int) -> Iterator[OpMsg]:
        try:
            entries = self.store.log(self.session, start, stop)
        except ValueError:
            # Some row of the chunk does not decode: go row by row, so the rows
            # before it still replay and the bad one is named.
            yield from self._rows(start, stop)
            return
        yield from entries

    def _rows(self, start: int, stop: int) -> Iterable[OpMsg]:
        for version in range(start + 1, stop + 1):
            try:
                yield from self.store.log(self.session, version - 1, version)
            except ValueError as exc:
                raise CorruptLog(f"stored row: {_one_line(str(exc))}", version) from None

    def _snapshot(self, version: int) -> StoredSnapshot:
        try:
            snap = self.store.snapshot(self.session, version)
        except ValueError as exc:
            raise CorruptLog(f"stored snapshot: {_one_line(str(exc))}", version) from None
        if snap is None or snap.version != version:
            raise CorruptLog("stored snapshot vanished while reading", version)
        if not isinstance(snap.scene, dict):
            raise CorruptLog("stored snapshot is not a scene object", version)
        return StoredSnapshot(snap.version, snap.scene, snap.time)

    def close(self) -> None:
        self.store.close()


def open_source(spec: str, session: str | None = None) -> JsonLinesSource | StoreSource:
    """The source ``spec`` names: ``sqlite:///path.db`` (with ``session``) or a log file."""
    if spec.startswith("sqlite:"):
        return StoreSource(spec, session)
    if "://" in spec:
        raise SourceError(
            f"cannot replay from {spec!r}: use sqlite:///path/to/store.db or an exported log "
            "file (a memory:// store lives only inside its server process)"
        )
    source = JsonLinesSource(spec)
    if session is not None and session != source.session:
        raise SourceError(f"{spec!r} holds session {source.session!r}, not {session!r}")
    return source


def import_into_store(log: Log, url: str, session: str) -> None:
    """Create ``session`` in the SQLite store at ``url`` holding ``log``, all in one transaction.

    Raises SourceError if the session exists or the store cannot be written;
    on any error nothing is imported.
    """
    from server.sqlite_store import SyncSqliteStore, sqlite_path
    from server.store import SessionExists, SessionMeta, Snapshot, StoreError

    try:
        store = SyncSqliteStore(sqlite_path(url))
    except (sqlite3.Error, StoreError) as exc:
        raise SourceError(f"cannot open {url} for writing: {exc}") from None
    try:
        meta = (
            SessionMeta(session) if log.created is None else SessionMeta(session, None, log.created)
        )
        with store.transaction():
            store.create_session_tx(meta)
            if log.entries and not store.append_tx(session, log.entries, 0, None):
                raise SourceError(f"session {session!r} changed while importing")
            for snap in log.snapshots:
                store.save_snapshot_tx(session, Snapshot(snap.version, snap.scene, snap.time))
    except SessionExists:
        raise SourceError(
            f"session {session!r} already exists in {url}; choose another id with --as"
        ) from None
    except (sqlite3.Error, StoreError) as exc:
        raise SourceError(f"cannot import into {url}: {exc}") from None
    finally:
        store.close()
