"""Process-level behaviour: HTTP endpoints, graceful shutdown, restart, kill -9 durability."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys

import pytest
from websockets.exceptions import ConnectionClosed

from tests.server.conftest import REPO, ServerFactory, ServerProcess
from tests.server.wsclient import Client, lens, run, set_op


def test_health_metrics_and_404(shared_server: ServerProcess) -> None:
    async def go() -> None:
        a = await Client.join(shared_server.url)
        await a.commit(lens("L1"))
        health = shared_server.health()
        assert health["status"] == "ok"
        assert isinstance(health["sessions"], int) and health["sessions"] >= 1
        assert isinstance(health["clients"], int) and health["clients"] >= 1
        assert isinstance(health["uptime_seconds"], float)

        status, ctype, body = shared_server.http_get("/metrics")
        assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
        for name in (
            "optiverse_ops_sequenced_total",
            "optiverse_ops_rejected_total",
            "optiverse_connected_clients",
            "optiverse_sessions",
            "optiverse_sequencing_latency_seconds_bucket",
            "optiverse_sequencing_latency_seconds_count",
        ):
            assert f"\n{name}" in body, name
        assert '_bucket{le="+Inf"}' in body
        assert shared_server.metric("optiverse_ops_sequenced_total") >= 1

        for path in ("/", "/nope", "/health/x"):
            status, _ctype, _body = shared_server.http_get(path)
            assert status == 404, path
        await a.close()

    run(go())


def test_help_documents_every_flag() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "server", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for flag in (
        "--host",
        "--port",
        "--store",
        "--log-level",
        "--log-format",
        "--snapshot-every",
        "--max-message-bytes",
        "--max-ops-per-second",
        "--max-clients-per-session",
        "--max-components",
    ):
        assert flag in out, flag
    assert "127.0.0.1" in out and "8765" in out and "sqlite:///optiverse-sessions.db" in out


def test_sigint_exits_0_and_a_bad_store_is_a_clear_error(server_proc: ServerFactory) -> None:
    srv = server_proc("memory://")
    assert srv.terminate(signal.SIGINT) == 0
    out = subprocess.run(
        [sys.executable, "-m", "server", "--port", "0", "--store", "postgres://db/x"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1
    assert "unsupported store 'postgres://db/x'" in out.stderr
    assert "Traceback" not in out.stderr
    # A Redis nobody listens on is refused before the server listens.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    out = subprocess.run(
        [sys.executable, "-m", "server", "--port", "0", "--store", f"redis://127.0.0.1:{dead}/0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1
    assert f"cannot reach Redis at redis://127.0.0.1:{dead}/0" in out.stderr
    assert "listening" not in out.stdout and "Traceback" not in out.stderr


def test_sigterm_closes_1001_exits_0_and_restart_restores(server_proc: ServerFactory) -> None:
    srv = server_proc(None, "--snapshot-every", "7", "--log-format", "json")

    async def before() -> tuple[str, str, list[dict[str, object]]]:
        a = await Client.join(srv.url, password="pw")
        b = await Client.join(srv.url, a.session, password="pw")
        for i in range(20):
            await a.commit(lens(f"L{i}", x_mm=i))
        await a.commit(set_op("L3", y_mm=7))
        plain = await Client.join(srv.url)
        await plain.commit(lens("P"))
        snapshot = (await Client.join(srv.url, a.session, password="pw")).welcome["snapshot"]
        # Pipelined submits still in flight when the signal comes are acked before the close.
        seqs = [await a.submit(set_op("L0", x_mm=100 + i), base=0) for i in range(10)]
        srv.popen.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        for s in seqs:
            await a.expect("ack", seq=s)
        for c in (a, b, plain):
            code, reason = await c.closed()
            assert code == 1001, (code, reason)
        return a.session, plain.session, snapshot["components"]

    session, plain_session, components = run(before())
    assert srv.terminate() == 0
    assert '"level": "INFO"' in srv.log()
    srv.start()

    async def after() -> None:
        c = await Client.join(srv.url, session, password="pw")
        assert c.welcome["version"] == 31
        got = {x["id"]: x for x in c.welcome["snapshot"]["components"]}
        want = {x["id"]: x for x in components}
        want["L0"]["props"]["x_mm"] = 109.0  # type: ignore[index]
        assert got == want
        bad = await Client.open(srv.url)
        await bad.hello(session, password="nope")
        assert (await bad.closed())[0] == 4003
        p = await Client.join(srv.url, plain_session)
        assert [x["id"] for x in p.welcome["snapshot"]["components"]] == ["P"]
        # The log is kept whole (for replay), not just the snapshot.
        d = await Client.join(srv.url, session, password="pw", since=0)
        assert [e["version"] for e in d.welcome["ops"]] == list(range(1, 32))
        for x in (c, p, d):
            await x.close()

    run(after())
    # The password is stored as a salted hash, never in clear.
    db = srv.store.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        hashes = [h for (h,) in conn.execute("SELECT password_hash FROM sessions") if h]
    assert len(hashes) == 1 and "pw" not in hashes[0].split("$")
    assert hashes[0].startswith("scrypt$")


def test_resubmits_after_a_restart_are_acked_with_their_versions(
    server_proc: ServerFactory,
) -> None:
    srv = server_proc()

    async def before() -> str:
        a = await Client.join(srv.url, client_id="piper")
        other = await Client.join(srv.url, a.session)
        await other.commit(lens("X"), base=0)
        seqs = [await a.submit(lens(f"L{i}"), base=0) for i in range(5)]
        versions = [(await a.expect("ack", seq=s))["version"] for s in seqs]
        assert versions == [2, 3, 4, 5, 6]
        return a.session

    session = run(before())
    srv.kill()
    srv.start()

    async def after() -> None:
        a = await Client.join(srv.url, session, client_id="piper")
        for seq, version in ((2, 3), (5, 6), (1, 2)):
            await a.submit(lens(f"L{seq - 1}"), seq=seq, base=0)
            assert (await a.expect("ack", seq=seq))["version"] == version
        assert await a.commit(lens("new"), seq=6) == 7
        await a.close()

    run(after())


@pytest.mark.slow
def test_kill_9_during_a_burst_keeps_every_acked_op(server_proc: ServerFactory) -> None:
    srv = server_proc(None, "--max-ops-per-second", "100000")
    acked: dict[tuple[str, int], int] = {}
    errors: list[dict[str, object]] = []

    async def pump(c: Client) -> None:
        inflight = 0

        async def reader() -> None:
            nonlocal inflight
            with contextlib.suppress(ConnectionClosed):
                async for text in c.ws:
                    msg = json.loads(text)
                    if msg["type"] in ("ack", "error"):
                        inflight -= 1
                    if msg["type"] in ("ack", "op"):
                        c.version = max(c.version, msg["version"])
                    if msg["type"] == "ack":
                        acked[(c.client_id, msg["seq"])] = msg["version"]
                    elif msg["type"] == "error":
                        errors.append(msg)

        task = asyncio.create_task(reader())
        with contextlib.suppress(ConnectionClosed, OSError):
            i = 0
            while not task.done():
                if inflight >= 20:
                    await asyncio.sleep(0.001)
                    continue
                i += 1
                inflight += 1
                await c.submit(lens(f"{c.client_id}-{i}"))
        await task

    async def burst() -> str:
        first = await Client.join(srv.url)
        clients = [first] + [await Client.join(srv.url, first.session) for _ in range(3)]

        async def killer() -> None:
            while len(acked) < 500:
                await asyncio.sleep(0.005)
            os.kill(srv.pid, signal.SIGKILL)

        await asyncio.gather(killer(), *(pump(c) for c in clients))
        return first.session

    session = run(burst(), timeout=30)
    srv.popen.wait()  # type: ignore[union-attr]
    assert errors == []
    assert len(acked) >= 500
    srv.start()

    async def check() -> None:
        c = await Client.join(srv.url, session, since=0)
        log = {e["version"]: e for e in c.welcome["ops"]}
        assert list(log) == list(range(1, len(log) + 1))
        for (client, seq), version in acked.items():
            entry = log[version]
            assert (entry["client"], entry["seq"]) == (client, seq)
        await c.close()

    run(check())
