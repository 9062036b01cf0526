"""Fixtures that run a REAL ``python -m server`` subprocess on a free port.

Reusable by any test (client tests too)::

    def test_something(server_proc):
        srv = server_proc()                       # SQLite store in a temp dir
        ...connect to srv.url ("ws://127.0.0.1:PORT")...
        srv.kill()                                # kill -9
        srv.restart()                             # same port, same store
        assert srv.terminate() == 0               # SIGTERM, exit status

    def test_other(server):                       # one default server per test
        ...server.url...

    def test_many(shared_server):                 # one server for the whole test run;
        ...                                       # create your own session in it

``server_proc(store=None, *extra_args)`` takes a store URL (default: a fresh
``sqlite:////tmp/.../sessions.db``; ``"memory://"`` works too) and any extra
CLI flags, e.g. ``server_proc(None, "--max-message-bytes", "4096")``.
Every process a test started is killed at teardown.  ``srv.log()`` gives
its stderr, handy in assertion messages.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 15.0


class ServerProcess:
    """One ``python -m server`` subprocess; restartable on the same port and store."""

    def __init__(self, store: str, args: tuple[str, ...], workdir: Path) -> None:
        self.store = store
        self.args = args
        self.workdir = workdir
        self.log_path = workdir / "server.log"
        self.port = 0
        self.popen: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> ServerProcess:
        """Start the process (on the port it had before, if any) and wait until it listens."""
        assert not self.running, "already running"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        cmd = [
            sys.executable,
            "-m",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--store",
            self.store,
            *self.args,
        ]
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"--- start #{self.starts}: {' '.join(cmd)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                cmd, cwd=self.workdir, env=env, stdout=subprocess.PIPE, stderr=log
            )
        self.port = self._wait_listening()
        return self

    def _wait_listening(self) -> int:
        assert self.popen is not None and self.popen.stdout is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        line = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.popen.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    self.kill()
                    raise RuntimeError(f"server did not start in time:\n{self.log()}")
                chunk = os.read(self.popen.stdout.fileno(), 4096)
                if not chunk:
                    self.popen.wait()
                    raise RuntimeError(f"server exited with {self.popen.returncode}:\n{self.log()}")
                line += chunk
        text = line.decode().strip()
        prefix = "optiverse-server listening on ws://127.0.0.1:"
        assert text.startswith(prefix), text
        return int(text[len(prefix) :])

    def kill(self) -> None:
        """``kill -9`` and reap."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait()
        self._close_pipe()

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send ``sig`` (SIGTERM) and return the exit status once it exits."""
        assert self.popen is not None
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"server ignored signal {sig}:\n{self.log()}") from None
        self._close_pipe()
        return code

    def restart(self) -> ServerProcess:
        """Kill it if still running, then start it again on the same port and store."""
        self.kill()
        return self.start()

    def _close_pipe(self) -> None:
        if self.popen is not None and self.popen.stdout is not None:
            self.popen.stdout.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def http_get(self, path: str) -> tuple[int, str, str]:
        """(status, content type, body) of ``GET path``."""
        try:
            with urllib.request.urlopen(self.http_url + path, timeout=5) as resp:
                return resp.status, resp.headers["Content-Type"], resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers["Content-Type"], exc.read().decode()

    def health(self) -> dict[str, object]:
        status, _ctype, body = self.http_get("/health")
        assert status == 200, body
        result: dict[str, object] = json.loads(body)
        return result

    def metric(self, name: str) -> float:
        """The value of the unlabelled sample ``name`` (or the sum over its labels) in /metrics."""
        _status, _ctype, body = self.http_get("/metrics")
        total = 0.0
        for line in body.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total


ServerFactory = Callable[..., ServerProcess]


def _factory(base: Path) -> tuple[ServerFactory, list[ServerProcess]]:
    started: list[ServerProcess] = []

    def start(store: str | None = None, *args: str) -> ServerProcess:
        workdir = base / f"server{len(started)}"
        workdir.mkdir(parents=True, exist_ok=True)
        url = store if store is not None else f"sqlite:///{workdir / 'sessions.db'}"
        proc = ServerProcess(url, tuple(args), workdir)
        started.append(proc)
        return proc.start()

    return start, started


@pytest.fixture
def server_proc(tmp_path: Path) -> Iterator[ServerFactory]:
    """Factory: ``server_proc(store=None, *extra_args) -> ServerProcess`` (killed at teardown)."""
    start, started = _factory(tmp_path)
    yield start
    for proc in started:
        proc.kill()


@pytest.fixture
def server(server_proc: ServerFactory) -> ServerProcess:
    """A server with default limits and a fresh SQLite store, for one test."""
    return server_proc()


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the whole run: create a session of your own; do not stop it."""
    start, started = _factory(tmp_path_factory.mktemp("shared-server"))
    yield start()
    for proc in started:
        proc.kill()
