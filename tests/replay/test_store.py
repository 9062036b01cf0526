"""Replaying from the server's SQLite store (through its own read path), and tampering with it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from optiverse.commands import Set
from optiverse.replay.errors import SourceError
from optiverse.replay.log import StoreSource, import_into_store, read_log
from optiverse.replay.replay import check
from tests.replay.sim import SimResult


@pytest.fixture
def store(sim: SimResult, tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "sessions.db"
    url = f"sqlite:///{path}"
    import_into_store(sim.log, url, "s1")
    return url, path


def _execute(path: Path, sql: str, *args: object) -> None:
    conn = sqlite3.connect(path)
    with conn:
        changed = conn.execute(sql, args).rowcount
    conn.close()
    assert changed == 1


def test_the_store_gives_back_the_log_it_was_given(sim: SimResult, store: tuple[str, Path]) -> None:
    source = StoreSource(store[0], "s1")
    log = read_log(source)
    assert log.entries == sim.log.entries
    assert log.snapshots == sim.log.snapshots
    report = check(StoreSource(store[0], None))  # the only session: no --session needed
    assert report.ok, report.problem
    assert report.snapshots == len(sim.log.snapshots)


def test_an_undecodable_row_is_located_by_its_version(store: tuple[str, Path]) -> None:
    url, path = store
    _execute(path, 'UPDATE ops SET op_json = \'{"type": "set"\' WHERE version = 23')
    report = check(StoreSource(url, "s1"))
    assert report.problem is not None
    assert report.problem.version == 23
    assert report.versions == 22
    assert report.problem.message.startswith("stored row:")


def test_a_tampered_op_row_is_reported_at_its_version(
    sim: SimResult, store: tuple[str, Path]
) -> None:
    url, path = store
    entry = next(e for e in sim.log.entries[10:] if isinstance(e.op, Set))
    assert isinstance(entry.op, Set)
    key = next(iter(entry.op.old))
    conn = sqlite3.connect(path)
    (op_json,) = conn.execute(
        "SELECT op_json FROM ops WHERE version = ?", (entry.version,)
    ).fetchone()
    conn.close()
    data = json.loads(op_json)
    old = data["old"][key]
    data["old"][key] = (
        (not old) if isinstance(old, bool) else old + 1 if isinstance(old, float) else "?"
    )
    _execute(path, "UPDATE ops SET op_json = ? WHERE version = ?", json.dumps(data), entry.version)
    report = check(StoreSource(url, "s1"))
    assert report.problem is not None
    assert (report.problem.version, report.problem.component) == (entry.version, entry.op.id)
    assert f"property {key!r}: logged old value" in report.problem.message


def test_a_tampered_snapshot_row_is_reported(sim: SimResult, store: tuple[str, Path]) -> None:
    url, path = store
    snap = sim.log.snapshots[1]
    conn = sqlite3.connect(path)
    (scene_json,) = conn.execute(
        "SELECT scene_json FROM snapshots WHERE version = ?", (snap.version,)
    ).fetchone()
    conn.close()
    _execute(
        path,
        "UPDATE snapshots SET scene_json = ? WHERE version = ?",
        scene_json.replace('"locked":false', '"locked":true', 1),
        snap.version,
    )
    report = check(StoreSource(url, "s1"))
    assert report.problem is not None
    assert report.problem.version == snap.version
    assert "snapshot differs from the replay" in report.problem.message
    assert "property 'locked': replay false, snapshot true" in report.problem.message
    assert report.problem.component is not None


def test_a_missing_row_is_a_gap(store: tuple[str, Path]) -> None:
    url, path = store
    _execute(path, "DELETE FROM ops WHERE version = 9")
    report = check(StoreSource(url, "s1"))
    assert report.problem is not None
    assert (report.problem.version, report.versions) == (9, 8)


def test_a_store_file_that_is_not_a_database_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(SourceError, match="cannot open sqlite:///"):
        StoreSource(f"sqlite:///{path}", None)
