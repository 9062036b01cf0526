"""A real server with real headless clients, replayed from its SQLite store.

Three ``optiverse-bot`` processes edit one session on a ``python -m server``
subprocess, each recording what it sent and received.  The replay tools
must then find the server's log consistent with every snapshot it stored,
re-run each bot's recording to the same scenes the server had, and export,
import and export the session unchanged.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from optiverse.replay.log import StoreSource, read_log
from tests.replay.test_cli import REPO, run
from tests.server.conftest import ServerFactory, server_proc

__all__ = ["server_proc"]  # the fixture, imported so pytest finds it here

pytestmark = pytest.mark.slow


def _bot(url: str, tmp: Path, name: str, seed: int, *which: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "optiverse.collab.bot",
            "--url",
            url,
            *which,
            "--name",
            name,
            "--rate",
            "25",
            "--duration",
            "3",
            "--seed",
            str(seed),
            "--record",
            str(tmp / f"{name}.jsonl"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_a_real_multi_client_session_replays_exactly(
    server_proc: ServerFactory, tmp_path: Path
) -> None:
    srv = server_proc(None, "--snapshot-every", "7")
    creator = _bot(srv.url, tmp_path, "Ann", 1, "--create")
    assert creator.stdout is not None
    first = creator.stdout.readline().split()
    assert first[:1] == ["session"], (first, srv.log())
    session = first[1]
    others = [_bot(srv.url, tmp_path, name, seed, "--session", session)
              for name, seed in (("Bob", 2), ("Cyd", 3))]  # fmt: skip
    for bot in [creator, *others]:
        out, err = bot.communicate(timeout=120)
        assert bot.returncode == 0, (out, err, srv.log())

    # While the server still runs (readers beside the writer), then after it stopped.
    code, out, _ = run("check", srv.store, "--session", session)
    assert code == 0, out
    assert srv.terminate() == 0
    code, out, _ = run("check", srv.store, "--session", session)
    assert code == 0, out
    log = read_log(StoreSource(srv.store, session))
    assert log.head > 100, "too few ops to be a real test"
    assert len(log.snapshots) >= 10
    assert {e.user.name for e in log.entries} == {"Ann", "Bob", "Cyd"}
    assert out == (
        f"OK: session {session}: {log.head} versions replayed, "
        f"{len(log.snapshots)} snapshot(s) equal the replay\n"
    )

    for name in ("Ann", "Bob", "Cyd"):
        code, out, _ = run("check-client", str(tmp_path / f"{name}.jsonl"), srv.store,
                           "--session", session)  # fmt: skip
        assert code == 0, out
        assert out.startswith("OK: client ")

    exported = tmp_path / "session.jsonl"
    assert run("export", srv.store, "--session", session, "-o", str(exported))[0] == 0
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    assert run("import", str(exported), "--store", copy)[0] == 0
    code, again, _ = run("export", copy, "--session", session)
    assert code == 0 and again == exported.read_text()
