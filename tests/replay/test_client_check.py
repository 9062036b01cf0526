"""``check-client``: a recording re-run through a fresh engine, against the server's log."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from optiverse.replay.client_check import check_client, read_numbered
from optiverse.replay.log import Log
from tests.replay.conftest import write_log
from tests.replay.sim import SimResult
from tests.replay.test_cli import run


@pytest.fixture
def log_file(sim: SimResult, tmp_path: Path) -> Path:
    return write_log(sim.log, tmp_path / "server.jsonl")


def _copy(sim: SimResult, client: str, tmp_path: Path) -> Path:
    return Path(shutil.copy(sim.recordings[client], tmp_path / f"{client}.jsonl"))


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write(path: Path, lines: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_clean_recordings_of_every_client_pass(sim: SimResult, log_file: Path) -> None:
    for client, path in sim.recordings.items():
        report = check_client(read_numbered(path), sim.log)
        assert report.ok, report.divergence
        assert report.client == client and report.session == "sim"
        assert report.versions_checked > 20
        code, out, _ = run("check-client", str(path), str(log_file))
        assert code == 0, out
        assert out.startswith(f"OK: client {client}: ")


def test_a_tampered_received_op_is_the_first_divergence(
    sim: SimResult, log_file: Path, tmp_path: Path
) -> None:
    path = _copy(sim, "client1", tmp_path)
    lines = _lines(path)
    index = next(
        i
        for i, line in enumerate(lines)
        if i > 20
        and line["dir"] == "in"
        and line["msg"]["type"] == "op"  # type: ignore[index]
        and line["msg"]["op"]["type"] == "set"  # type: ignore[index]
        and "x_mm" in line["msg"]["op"]["props"]  # type: ignore[index]
    )
    msg = lines[index]["msg"]
    msg["op"]["props"]["x_mm"] += 0.5  # type: ignore[index]
    _write(path, lines)
    code, out, _ = run("check-client", str(path), str(log_file))
    assert code == 1
    component = msg["op"]["id"]  # type: ignore[index]
    assert out.startswith(f"FAIL: client client1: line {index + 1} (client at version ")
    assert f"differs from the server's: component {component!r} property 'x_mm'" in out
    assert out.count("\n") == 1


def test_an_out_message_the_engine_would_not_send_is_a_divergence(
    sim: SimResult, tmp_path: Path
) -> None:
    path = _copy(sim, "client0", tmp_path)
    lines = _lines(path)
    index = next(
        i
        for i, line in enumerate(lines)
        if i > 10 and line["dir"] == "out" and line["msg"]["type"] == "submit"  # type: ignore[index]
    )
    lines[index]["msg"]["base"] += 1  # type: ignore[index]
    _write(path, lines)
    report = check_client(read_numbered(path), sim.log)
    assert report.divergence is not None
    assert report.divergence.line == index + 1
    assert "the client sent" in report.divergence.message
    assert "the replayed engine" in report.divergence.message


def test_a_local_edit_that_applied_differently_is_a_divergence(
    sim: SimResult, tmp_path: Path
) -> None:
    path = _copy(sim, "client2", tmp_path)
    lines = _lines(path)
    index = next(
        i
        for i, line in enumerate(lines)
        if line["dir"] == "local"
        and line["msg"]["type"] == "edit"  # type: ignore[index]
        and line["msg"]["applied"] is not None  # type: ignore[index]
        and line["msg"]["applied"]["type"] == "set"  # type: ignore[index]
    )
    applied = lines[index]["msg"]["applied"]  # type: ignore[index]
    key = next(iter(applied["old"]))
    applied["old"][key] = "bogus" if isinstance(applied["old"][key], str) else 123
    _write(path, lines)
    report = check_client(read_numbered(path), sim.log)
    assert report.divergence is not None
    assert report.divergence.line == index + 1
    assert report.divergence.message.startswith("local edit applied as ")


def test_a_recording_of_another_session_is_an_error(sim: SimResult, tmp_path: Path) -> None:
    other = write_log(Log("elsewhere", sim.log.entries), tmp_path / "other.jsonl")
    code, out, err = run("check-client", str(sim.recordings["client0"]), str(other))
    assert (code, out) == (2, "")
    assert "the recording is of session 'sim', the log of session 'elsewhere'" in err


def test_a_broken_recording_line_is_an_error(sim: SimResult, tmp_path: Path) -> None:
    path = _copy(sim, "client0", tmp_path)
    text = path.read_text().splitlines()
    text[5] = text[5][:20]
    path.write_text("\n".join(text) + "\n")
    code, _, err = run("check-client", str(path), str(tmp_path / "nope.jsonl"))
    assert code == 2 and "cannot read" in err  # the log is opened first
    log = write_log(sim.log, tmp_path / "server.jsonl")
    code, _, err = run("check-client", str(path), str(log))
    assert code == 2
    assert f"bad recording: {path}:6: not JSON" in err
