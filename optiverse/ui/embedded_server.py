"""The collaboration server, run inside the app on a background thread.

When someone creates a session and no server is configured, the app hosts
one itself: ``server.app.OptiverseServer`` on its own asyncio loop in a
daemon thread, with an in-memory store (the session lives as long as the
app).  Bound to 0.0.0.0 it is reachable from the LAN, and the invite names
this machine's LAN address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading

from optiverse.ui.invite import DEFAULT_PORT

__all__ = ["EmbeddedServer", "EmbeddedServerError", "lan_address"]

log = logging.getLogger(__name__)
START_TIMEOUT = 10.0


class EmbeddedServerError(RuntimeError):
    """Raised when the in-process server cannot start (e.g. no free port)."""


def lan_address() -> str:
    """This machine's address on the LAN, or 127.0.0.1 when there is none."""
    # Connecting a UDP socket sends nothing; it only asks the OS which local
    # address would route towards a non-local destination.
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("10.254.254.254", 1))
        address: str = sock.getsockname()[0]
        if address and not address.startswith("0."):
            return address
    return "127.0.0.1"


class EmbeddedServer:
    """``start()`` listens (default port first, else any free one); ``stop()`` shuts down."""

    def __init__(self, host: str = "0.0.0.0", port: int | None = None) -> None:
        self.host = host
        self.wanted_port = port
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def local_url(self) -> str:
        """The URL this process uses to reach the server."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def public_host(self) -> str:
        """The host others should connect to."""
        return lan_address() if self.host in ("0.0.0.0", "") else self.host

    def start(self) -> int:
        """Start serving; returns the port.  Raises EmbeddedServerError."""
        if self.running:
            return self.port
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="optiverse-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise EmbeddedServerError("the collaboration server did not start in time")
        if self._error is not None:
            raise EmbeddedServerError(f"cannot start the collaboration server: {self._error}")
        return self.port

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down gracefully and wait for the thread."""
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is None or stop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start() via _error
            self._error = exc
            log.exception("embedded server failed")
        finally:
            self._ready.set()
            loop.close()

    async def _serve(self) -> None:
        # Imported here: the server package is only needed once someone hosts.
        from server.app import OptiverseServer
        from server.config import ServerConfig
        from server.store import MemoryStore

        ports = [self.wanted_port] if self.wanted_port is not None else [DEFAULT_PORT, 0]
        server: OptiverseServer | None = None
        last_error: OSError | None = None
        for port in ports:
            candidate = OptiverseServer(ServerConfig(host=self.host, port=port), MemoryStore())
            try:
                await candidate.start()
            except OSError as exc:
                last_error = exc
                continue
            server = candidate
            break
        if server is None:
            raise EmbeddedServerError(str(last_error))
        self.port = server.port
        self._stop = asyncio.Event()
        self._ready.set()
        log.info("embedded server listening on %s:%d", self.host, self.port)
        try:
            await self._stop.wait()
        finally:
            await server.stop()
