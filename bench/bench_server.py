"""Benchmark of the collaboration server; prints the figures docs/server.md quotes.

    .venv/bin/python bench/bench_server.py            # everything, about 2 minutes
    .venv/bin/python bench/bench_server.py throughput latency   # some of it
    .venv/bin/python bench/bench_server.py instances   # not by default: needs redis-server

Each scenario starts a fresh ``python -m server`` (SQLite store in a temp
dir, default flags unless noted) and runs the load generator,
``bench/bench_server_load.py``, as a separate process.  On a machine with
``taskset`` the server is pinned to CPU 0 and the generator to CPU 1, so the
two do not fight for one core.  Figures are printed, never asserted.

``instances`` compares one server on SQLite, one on Redis and two sharing one
Redis (a ``redis-server`` of its own, pinned with the servers to CPU 0): the
cost of the shared store and of the instances' compare-and-set race, not a
scale-out (the servers share one core).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LOAD = REPO / "bench" / "bench_server_load.py"
PIN = (
    shutil.which("taskset") is not None
    and (os.cpu_count() or 1) >= 2
    and os.environ.get("BENCH_NO_PIN") != "1"
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(
        self, workdir: Path, *args: str, store: str | None = None, log: str = "server.log"
    ) -> None:
        """``store`` defaults to ``bench.db`` (SQLite) in ``workdir``."""
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        store = store if store is not None else f"sqlite:///{workdir / 'bench.db'}"
        cmd = [sys.executable, "-m", "server", "--port", "0", "--store", store]
        cmd += ["--log-level", "WARNING", *args]
        if PIN:
            cmd = ["taskset", "-c", "0", *cmd]
        self.log = open(workdir / log, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=self.log
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if "listening on" not in line:
            raise RuntimeError(f"server did not start: {line!r}; see {workdir / 'server.log'}")
        self.url = line.split("listening on ", 1)[1].strip()
        self.http = self.url.replace("ws://", "http://")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(self.http + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)  # the server dumps its stacks
            time.sleep(1)
            self.proc.kill()
            self.log.close()
            tail = Path(self.log.name).read_text(errors="replace").splitlines()[-80:]
            print("  !! server ignored SIGTERM for 30 s; its stacks:\n" + "\n".join(tail))
        self.log.close()


def load(*args: str) -> dict[str, Any]:
    """Run the load generator; its JSON result plus its CPU time (``cpu_seconds``)."""
    cmd = [sys.executable, str(LOAD), *args]
    if PIN:
        cmd = ["taskset", "-c", "1", *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["cpu_seconds"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return result


def load_async(*args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(LOAD), *args]
    if PIN:
        cmd = ["taskset", "-c", "1", *cmd]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def bench_throughput(tmp: Path, seconds: float, windows: list[int], repeat: int) -> None:
    print("\n== sustained throughput: one session, 10 clients (sequenced + persisted + broadcast)")
    print("   (window = submits each client keeps in flight, each with its own seq and base)")
    rates: dict[int, list[int]] = {w: [] for w in windows}
    for run in range(repeat):
        for window in windows:
            load_before = os.getloadavg()[0]
            srv = Server(tmp, "--max-ops-per-second", "1000000")
            before = srv.metrics()
            cpu0 = srv.cpu_seconds()
            r = load(
                "throughput",
                srv.url,
                "--clients",
                "10",
                "--seconds",
                str(seconds),
                "--window",
                str(window),
            )
            after = srv.metrics()
            cpu = srv.cpu_seconds() - cpu0
            srv.stop()
            commits = (
                after["optiverse_commit_seconds_count"] - before["optiverse_commit_seconds_count"]
            )
            ops = after["optiverse_ops_sequenced_total"] - before["optiverse_ops_sequenced_total"]
            rates[window].append(r["ops_per_second"])
            print(
                f"  [{run + 1}] window {window:>2}: {r['ops_per_second']:>5} ops/s acked "
                f"(mean in flight {r['mean_in_flight_per_client']}/client), "
                f"{r['deliveries_per_second']:>6} deliveries/s, ack p50 {r['ack_p50_ms']} ms "
                f"p99 {r['ack_p99_ms']} ms, {ops / max(commits, 1):.1f} ops/commit, "
                f"server CPU {cpu / r['seconds'] * 100:.0f}% of a core (generator "
                f"{r['cpu_seconds'] / r['seconds'] * 100:.0f}% incl. setup), errors {r['errors']}, "
                f"load {load_before:.2f} -> {os.getloadavg()[0]:.2f}"
            )
    if repeat > 1:
        print(
            "  median ops/s: "
            + ", ".join(f"window {w}: {statistics.median(v):.0f}" for w, v in rates.items())
        )


def _quantile_from_buckets(before: dict[str, float], after: dict[str, float], q: float) -> float:
    """The q-quantile (ms, bucket upper bound) of the server's latency histogram over a run."""
    name = "optiverse_sequencing_latency_seconds"
    bounds = sorted(
        (float(k.split('le="')[1].rstrip('"}')), after[k] - before.get(k, 0.0))
        for k in after
        if k.startswith(name + "_bucket") and "+Inf" not in k
    )
    total = after[name + "_count"] - before.get(name + "_count", 0.0)
    for bound, count in bounds:
        if count >= q * total:
            return bound * 1000
    return float("inf")


def _summed(metrics: list[dict[str, float]]) -> dict[str, float]:
    """The metrics of several servers added up, name by name."""
    out: dict[str, float] = {}
    for m in metrics:
        for name, value in m.items():
            out[name] = out.get(name, 0.0) + value
    return out


def _latency_run(
    servers: list[Server], clients: int, rate: float, seconds: float
) -> tuple[dict[str, Any], float, float, list[dict[str, float]], list[dict[str, float]]]:
    """The ``latency`` generator against ``servers`` (clients round-robin); stops them.

    Returns its result, the p50 and p99 (ms) of the servers' summed sequencing
    histogram, and each server's metrics before and after.
    """
    before = [s.metrics() for s in servers]
    r = load(
        "latency",
        ",".join(s.url for s in servers),
        "--clients",
        str(clients),
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
    )
    after = [s.metrics() for s in servers]
    for s in servers:
        s.stop()
    p50 = _quantile_from_buckets(_summed(before), _summed(after), 0.5)
    p99 = _quantile_from_buckets(_summed(before), _summed(after), 0.99)
    return r, p50, p99, before, after


def bench_latency(tmp: Path, seconds: float) -> None:
    print("\n== fan-out latency, submit -> receipt at the other clients")
    for clients, rate in ((10, 30.0), (50, 2.0)):
        r, p50, p99, _, _ = _latency_run([Server(tmp)], clients, rate, seconds)
        print(
            f"  {clients} clients x {rate:g} ops/s: fan-out p50 {r['fanout_p50_ms']} ms, "
            f"p99 {r['fanout_p99_ms']} ms, max {r['fanout_max_ms']} ms "
            f"({r['deliveries']}/{r['expected_deliveries']} deliveries); "
            f"ack p50 {r['ack_p50_ms']} ms, p99 {r['ack_p99_ms']} ms; "
            f"in the server (receive to ack, histogram bucket) p50 <= {p50:g} ms, "
            f"p99 <= {p99:g} ms"
        )


def bench_memory(tmp: Path, sessions: int) -> None:
    print(f"\n== server RSS with {sessions} idle sessions of 50 components")
    srv = Server(tmp)
    base = srv.rss_mb()
    ids = tmp / "sessions.json"
    r = load(
        "populate",
        srv.url,
        "--sessions",
        str(sessions),
        "--components",
        "50",
        "--sessions-file",
        str(ids),
    )
    time.sleep(1.0)
    loaded = srv.rss_mb()
    health = json.loads(urllib.request.urlopen(srv.http + "/health").read())
    print(f"  empty server: {base:.1f} MB")
    print(
        f"  {health['sessions']} sessions loaded, no client connected "
        f"(kept for --idle-unload-seconds): {loaded:.1f} MB "
        f"(populated in {r['seconds']} s)"
    )
    srv.stop()
    # After a restart: every session loaded again by one idle client each.
    srv = Server(tmp)
    ready = tmp / "idle.ready"
    ready.unlink(missing_ok=True)
    gen = load_async(
        "idle", srv.url, "--sessions-file", str(ids), "--hold", "8", "--ready-file", str(ready)
    )
    while not ready.exists():
        if gen.poll() is not None:
            raise RuntimeError(gen.stderr.read() if gen.stderr else "idle generator failed")
        time.sleep(0.2)
    time.sleep(1.0)
    health = json.loads(urllib.request.urlopen(srv.http + "/health").read())
    connected = srv.rss_mb()
    gen.wait()
    print(
        f"  after a restart, {health['sessions']} sessions each with one idle client "
        f"({health['clients']} WebSocket connections, compression on): {connected:.1f} MB"
    )
    srv.stop()


def bench_drag(tmp: Path, seconds: float) -> None:
    print("\n== bytes on the wire while dragging at 30 updates/s (default compression)")
    for presence in (False, True):
        srv = Server(tmp)
        args = ["drag", srv.url, "--rate", "30", "--seconds", str(seconds)]
        r = load(*args, *(["--presence"] if presence else []))
        srv.stop()
        what = "set op + cursor presence" if presence else "set op only"
        d, w = r["dragger"], r["watcher"]
        print(
            f"  {what}: dragging user {d['total_bytes_per_second']} B/s "
            f"(sent {d['sent_bytes_per_second']}, received {d['received_bytes_per_second']}); "
            f"each watcher receives {w['received_bytes_per_second']} B/s "
            f"[{r['updates']} updates, {r['compression']}]"
        )


class Redis:
    """A ``redis-server`` of the bench's own on a free port: nothing saved, pinned as the server."""

    def __init__(self, workdir: Path, binary: str) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        cmd = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        cmd += ["--appendonly", "no", "--dir", str(workdir)]
        if PIN:
            cmd = ["taskset", "-c", "0", *cmd]
        self.log = open(workdir / "redis.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not self._pong():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start; see {workdir / 'redis.log'}")
            time.sleep(0.05)

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def url(self, prefix: str) -> str:
        return f"redis://127.0.0.1:{self.port}/0?prefix={prefix}"

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _instances_row(
    tmp: Path, redis: Redis | None, instances: int, seconds: float, window: int, run: str
) -> dict[str, Any]:
    """One setup of ``instances``: a throughput run, then a latency run, fresh servers each."""

    def start(what: str, *args: str) -> list[Server]:
        # One key prefix per run: each starts on an empty store, as a fresh SQLite run does.
        store = redis.url(f"bench-{run}-{what}") if redis is not None else None
        return [
            Server(tmp, *args, store=store, log=f"server-{run}-{what}-{i}.log")
            for i in range(instances)
        ]

    row: dict[str, Any] = {"load": os.getloadavg()[0]}
    servers = start("throughput", "--max-ops-per-second", "1000000")
    before = [s.metrics() for s in servers]
    cpu0 = [s.cpu_seconds() for s in servers]
    redis_cpu0 = redis.cpu_seconds() if redis is not None else 0.0
    r = load(
        "throughput",
        ",".join(s.url for s in servers),
        "--clients",
        "10",
        "--seconds",
        str(seconds),
        "--window",
        str(window),
    )
    after = [s.metrics() for s in servers]
    cpu = sum(s.cpu_seconds() for s in servers) - sum(cpu0)
    redis_cpu = redis.cpu_seconds() - redis_cpu0 if redis is not None else None
    for s in servers:
        s.stop()
    b, a = _summed(before), _summed(after)
    commits = a["optiverse_commit_seconds_count"] - b["optiverse_commit_seconds_count"]
    ops = a["optiverse_ops_sequenced_total"] - b["optiverse_ops_sequenced_total"]
    row["throughput"] = r
    row["ops_per_commit"] = ops / max(commits, 1)
    row["server_cpu"] = cpu / r["seconds"] * 100
    row["redis_cpu"] = None if redis_cpu is None else redis_cpu / r["seconds"] * 100
    row["race"] = {"throughput": _race(before, after)}
    lat, _, _, before, after = _latency_run(start("latency"), 10, 30.0, seconds)
    row["latency"] = lat
    row["race"]["latency"] = _race(before, after)
    return row


def _race(before: list[dict[str, float]], after: list[dict[str, float]]) -> list[tuple[int, int]]:
    """Each server's (appends lost, ops adopted) over a run."""

    def delta(i: int, name: str) -> int:
        return round(after[i].get(name, 0.0) - before[i].get(name, 0.0))

    return [
        (delta(i, "optiverse_appends_lost_total"), delta(i, "optiverse_ops_adopted_total"))
        for i in range(len(after))
    ]


def bench_instances(tmp: Path, seconds: float, window: int) -> None:
    print(
        f"\n== instances: one session, 10 clients; throughput at window {window}, "
        "fan-out latency at 10 clients x 30 ops/s"
    )
    binary = shutil.which("redis-server")
    if binary is None:
        print("  skipped: redis-server is not installed (the Redis setups need one)")
        return
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    version_line = version.stdout.split(" sha=")[0].strip()
    where = "servers and redis-server on CPU 0, the generator on CPU 1" if PIN else "not pinned"
    print(f"  {version_line}; {where}")
    redis = Redis(tmp, binary)
    try:
        rows = {
            "1 server, SQLite": _instances_row(tmp, None, 1, seconds, window, "sqlite"),
            "1 server, Redis": _instances_row(tmp, redis, 1, seconds, window, "redis1"),
            "2 servers, Redis, 5+5": _instances_row(tmp, redis, 2, seconds, window, "redis2"),
        }
    finally:
        redis.stop()
    print(
        f"  {'setup':<22} {'ops/s':>6} {'deliv/s':>8} {'ack p50/p99 ms':>16} {'ops/commit':>10} "
        f"{'servers CPU':>11} {'redis CPU':>9} {'fan-out p50/p99 ms':>18} {'errors':>6} "
        f"{'load':>5}"
    )
    for name, row in rows.items():
        t, lat = row["throughput"], row["latency"]
        ack = f"{t['ack_p50_ms']:.1f} / {t['ack_p99_ms']:.1f}"
        fanout = f"{lat['fanout_p50_ms']:.1f} / {lat['fanout_p99_ms']:.1f}"
        fanout += "" if lat["deliveries"] == lat["expected_deliveries"] else "*"
        redis_cpu = "-" if row["redis_cpu"] is None else f"{row['redis_cpu']:.0f}%"
        print(
            f"  {name:<22} {t['ops_per_second']:>6} {t['deliveries_per_second']:>8} {ack:>16} "
            f"{row['ops_per_commit']:>10.1f} {row['server_cpu']:>10.0f}% {redis_cpu:>9} "
            f"{fanout:>18} {t['errors']:>6} {row['load']:>5.2f}"
        )
    for name, row in rows.items():
        if row["latency"]["deliveries"] != row["latency"]["expected_deliveries"]:
            lat = row["latency"]
            print(f"  * {name}: {lat['deliveries']}/{lat['expected_deliveries']} deliveries")
    print("  appends lost / ops adopted, per server (A has client 0, who created the session):")
    for name, row in rows.items():
        if name.startswith("1 server, SQLite"):
            continue
        parts: list[str] = []
        for run, race in row["race"].items():
            per = ", ".join(f"{'AB'[i]} {lost}/{adopted}" for i, (lost, adopted) in enumerate(race))
            parts.append(f"{run} run {per}")
        print(f"    {name}: " + "; ".join(parts))


def fsync_latency(tmp: Path) -> str:
    """p50/p99 of one small SQLite commit (WAL, synchronous=FULL) here: the floor of an ack."""
    conn = sqlite3.connect(tmp / "fsync.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)")
    times = []
    for i in range(200):
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (b) VALUES (?)", (str(i),))
        conn.execute("COMMIT")
        times.append(time.perf_counter() - started)
    conn.close()
    times.sort()
    return f"p50 {times[100] * 1000:.2f} ms, p99 {times[198] * 1000:.2f} ms"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("which", nargs="*", default=["throughput", "latency", "memory", "drag"])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--sessions", type=int, default=1000)
    p.add_argument(
        "--windows",
        default="1,4,8",
        help="throughput: comma-separated submits in flight per client (default 1,4,8)",
    )
    p.add_argument("--repeat", type=int, default=1, help="throughput: runs of each window")
    p.add_argument(
        "--instances-window",
        type=int,
        default=8,
        help="instances: submits in flight per client (default 8)",
    )
    a = p.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, pinned: {PIN}")
    with tempfile.TemporaryDirectory(prefix="bench-server-") as d:
        tmp = Path(d)
        print(f"load average {os.getloadavg()[0]:.2f}; SQLite commit {fsync_latency(tmp)}")
        for name in a.which:
            work = tmp / name
            work.mkdir()
            if name == "throughput":
                windows = [int(w) for w in a.windows.split(",")]
                bench_throughput(work, a.seconds, windows, a.repeat)
            elif name == "latency":
                bench_latency(work, a.seconds)
            elif name == "memory":
                bench_memory(work, a.sessions)
            elif name == "drag":
                bench_drag(work, a.seconds)
            elif name == "instances":
                bench_instances(work, a.seconds, a.instances_window)
        print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
