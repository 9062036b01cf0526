"""Benchmark of the collaboration server; prints the figures docs/server.md quotes.

    .venv/bin/python bench/bench_server.py            # everything, about 2 minutes
    .venv/bin/python bench/bench_server.py throughput latency   # some of it

Each scenario starts a fresh ``python -m server`` (SQLite store in a temp
dir, default flags unless noted) and runs the load generator,
``bench/bench_server_load.py``, as a separate process.  On a machine with
``taskset`` the server is pinned to CPU 0 and the generator to CPU 1, so the
two do not fight for one core.  Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
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


class Server:
    def __init__(self, workdir: Path, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        cmd = [sys.executable, "-m", "server", "--port", "0", "--store"]
        cmd += [f"sqlite:///{workdir / 'bench.db'}", "--log-level", "WARNING", *args]
        if PIN:
            cmd = ["taskset", "-c", "0", *cmd]
        self.log = open(workdir / "server.log", "ab")  # noqa: SIM115
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
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

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


def bench_latency(tmp: Path, seconds: float) -> None:
    print("\n== fan-out latency, submit -> receipt at the other clients")
    for clients, rate in ((10, 30.0), (50, 2.0)):
        srv = Server(tmp)
        before = srv.metrics()
        r = load(
            "latency",
            srv.url,
            "--clients",
            str(clients),
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
        )
        after = srv.metrics()
        srv.stop()
        p50 = _quantile_from_buckets(before, after, 0.5)
        p99 = _quantile_from_buckets(before, after, 0.99)
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
        print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
