"""The asyncio adapter: a websockets connection loop, and a client for scripts on top of it.

Two layers, so the Qt client can reuse the first one alone:

* :class:`ConnectionLoop` knows nothing of the protocol.  It connects with
  ``websockets.asyncio.client.connect`` (permessage-deflate on), calls
  ``on_open(link)`` / ``on_text(text)`` / ``on_close(info)`` on the event
  loop's thread, and reconnects after a :func:`~optiverse.collab.backoff.backoff`
  delay until it is stopped or the server closes with a fatal code.
  :meth:`Link.send` and :meth:`ConnectionLoop.stop` are thread-safe, so the
  loop can run in a thread of its own while the GUI thread owns the engine.
* :class:`AsyncClient` drives a :class:`~optiverse.collab.engine.ClientEngine`
  over a ConnectionLoop: it feeds the engine (connect, receive,
  disconnected, resend, local edits), then drains and writes what the engine
  queued and dispatches its events.  It never transforms or orders anything
  itself; that is all in the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import attrs
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from optiverse.collab.backoff import backoff, should_reconnect
from optiverse.collab.engine import (
    Acked,
    ClientEngine,
    ConnState,
    Event,
    Refused,
    RemoteApplied,
    ServerError,
    Throttled,
    Welcomed,
)
from optiverse.collab.messages import (
    Origin,
    ProtocolError,
    Submit,
    User,
    decode_server,
    encode,
)
from optiverse.collab.recording import Recorder
from optiverse.commands import Op
from optiverse.errors import OptiverseError
from optiverse.scene import Scene

__all__ = [
    "AsyncClient",
    "ClientFailed",
    "ClientStats",
    "ConnectFailed",
    "ConnectionLoop",
    "JoinRefused",
    "Link",
    "LinkClosed",
    "new_client_id",
]

log = logging.getLogger(__name__)

Delays = Callable[[], Iterator[float]]
# Welcome snapshots of large scenes exceed websockets' 1 MiB default.
MAX_INCOMING_BYTES = 1 << 26


def new_client_id() -> str:
    """A fresh client id; it is also the prefix of the component ids a bot makes."""
    return "c" + secrets.token_hex(6)


# --- transport ----------------------------------------------------------------


@attrs.frozen
class LinkClosed:
    """Why a connection ended, or why one could not be opened (``opened`` is False)."""

    code: int | None  # the close code the server sent; None if none came
    reason: str
    opened: bool
    retry_in: float | None  # seconds until the next attempt; None: the loop is ending


class Link:
    """One open connection, as handed to ``on_open``.

    :meth:`send`, :meth:`close` and :meth:`abort` may be called from any
    thread.  Once this connection has ended they do nothing, so a frame
    meant for an old connection can never reach a newer one before its hello.
    """

    def __init__(self, ws: ClientConnection, loop: asyncio.AbstractEventLoop) -> None:
        self._ws = ws
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._outgoing: asyncio.Queue[str] = asyncio.Queue()
        self._open = True
        self._close_task: asyncio.Future[None] | None = None

    @property
    def is_open(self) -> bool:
        return self._open

    def send(self, text: str) -> None:
        """Queue a text frame; frames go out in the order they were queued."""
        self._call(self._outgoing.put_nowait, text)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start a closing handshake."""
        self._call(self._start_close, code, reason)

    def abort(self) -> None:
        """Drop the TCP connection with no closing handshake, as a network failure would."""
        self._call(self._abort)

    def _call(self, func: Callable[..., None], *args: object) -> None:
        if threading.get_ident() == self._loop_thread:
            if self._open:
                func(*args)
        else:
            self._loop.call_soon_threadsafe(self._if_open, func, *args)

    def _if_open(self, func: Callable[..., None], *args: object) -> None:
        if self._open:
            func(*args)

    def _start_close(self, code: int, reason: str) -> None:
        self._close_task = asyncio.ensure_future(self._ws.close(code, reason))

    def _abort(self) -> None:
        self._ws.transport.abort()

    async def _write_forever(self) -> None:
        try:
            while True:
                text = await self._outgoing.get()
                await self._ws.send(text)
        except ConnectionClosed:
            pass  # the reader sees the same closure and reports it


class ConnectionLoop:
    """Connect, read, reconnect with backoff; see the module docstring.

    Callbacks run on the event loop's thread, never concurrently, and always
    in the order ``on_open``, ``on_text``..., ``on_close`` per connection (a
    failed attempt gives only ``on_close`` with ``opened=False``).  The last
    ``on_close`` before :meth:`run` returns has ``retry_in=None``.  An
    exception raised by a callback closes the connection and ends :meth:`run`
    with it.
    """

    def __init__(
        self,
        url: str,
        *,
        on_open: Callable[[Link], None],
        on_text: Callable[[str], None],
        on_close: Callable[[LinkClosed], None],
        delays: Delays = backoff,
        compression: str | None = "deflate",
        open_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
    ) -> None:
        self.url = url
        self._on_open = on_open
        self._on_text = on_text
        self._on_close = on_close
        self._delays = delays
        self._connect_options: dict[str, Any] = {
            "compression": compression,
            "open_timeout": open_timeout,
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "max_size": MAX_INCOMING_BYTES,
        }
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._stopping: asyncio.Event | None = None
        self._stop_requested = False
        self.link: Link | None = None

    async def run(self) -> None:
        """Run until :meth:`stop` or a fatal close code; see the class docstring."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._stopping = asyncio.Event()
        if self._stop_requested:
            self._on_close(LinkClosed(None, "stopped", False, None))
            return
        delays = self._delays()
        while not self._stopping.is_set():
            try:
                ws = await self._connect()
            except InvalidURI:
                raise
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                delay = next(delays)
                self._on_close(LinkClosed(None, _describe(exc), False, delay))
                await self._sleep(delay)
                continue
            if ws is None:
                break  # stopped while connecting
            delays = self._delays()
            code, reason = await self._serve(ws)
            if self._stopping.is_set() or not should_reconnect(code):
                self._on_close(LinkClosed(code, reason, True, None))
                return
            delay = next(delays)
            self._on_close(LinkClosed(code, reason, True, delay))
            await self._sleep(delay)
        self._on_close(LinkClosed(None, "stopped", False, None))

    def stop(self) -> None:
        """End :meth:`run`: close the connection normally, skip any pending retry.  Thread-safe."""
        self._stop_requested = True
        if self._loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._stop_now()
        else:
            self._loop.call_soon_threadsafe(self._stop_now)

    def _stop_now(self) -> None:
        assert self._stopping is not None
        self._stopping.set()
        if self.link is not None:
            self.link.close(1000, "client closing")

    async def _connect(self) -> ClientConnection | None:
        """A new connection, or None if stop() came first (a dead host can take open_timeout)."""
        assert self._stopping is not None
        attempt = asyncio.ensure_future(connect(self.url, **self._connect_options))
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({attempt, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if attempt.done():
            ws: ClientConnection = attempt.result()
            if self._stopping.is_set():
                await ws.close()
                return None
            return ws
        attempt.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError, InvalidHandshake, TimeoutError):
            await attempt
        return None

    async def _serve(self, ws: ClientConnection) -> tuple[int | None, str]:
        assert self._loop is not None
        link = Link(ws, self._loop)
        self.link = link
        writer = asyncio.create_task(link._write_forever())
        try:
            self._on_open(link)
            if self._stop_requested:
                link.close(1000, "client closing")
            async for message in ws:
                self._on_text(message if isinstance(message, str) else message.decode())
        except ConnectionClosed:
            pass
        finally:
            link._open = False
            self.link = None
            writer.cancel()
            await ws.close()
        received = ws.protocol.close_rcvd
        if received is None:
            return None, "connection lost"
        return received.code, received.reason

    async def _sleep(self, delay: float) -> None:
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused ({text})"
    return text


# --- client -----------------------------------------------------------------


class ClientFailed(Exception):
    """Raised when the client stopped for good: a fatal close, or an engine error."""


class ConnectFailed(ClientFailed, ConnectionError):
    """Raised by :meth:`AsyncClient.start` when the first connection cannot be made."""


class JoinRefused(ClientFailed):
    """Raised when the server refused the hello (bad password, unknown session, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message


@attrs.define
class ClientStats:
    """Counters a script or the bot reports."""

    edits: int = 0  # local edits queued (changed my scene)
    edits_acked: int = 0  # of those, acknowledged by the server
    submits: int = 0  # submit messages written (resends included)
    refused: int = 0  # Refused events
    throttled: int = 0  # Throttled events
    remote_ops: int = 0  # others' ops applied
    connections: int = 0  # connections opened
    disconnects: int = 0  # connections lost after opening


class AsyncClient:
    """One engine, one session, over websockets; see the module docstring.

    Use from a running event loop::

        client = AsyncClient(User("u1", "Ann"))
        await client.start("ws://127.0.0.1:8765", create=True)
        client.edit(Create("ann-1", "lens"))
        await client.wait_synced(5)
        await client.close()
    """

    def __init__(
        self,
        user: User,
        *,
        client_id: str | None = None,
        scene: Scene | None = None,
        recorder: Recorder | None = None,
        on_event: Callable[[Event], None] | None = None,
        delays: Delays = backoff,
        throttle_delays: Delays | None = None,
        compression: str | None = "deflate",
    ) -> None:
        self.engine = ClientEngine(client_id or new_client_id(), user, scene)
        self.stats = ClientStats()
        self._recorder = recorder
        self._on_event = on_event
        self._delays = delays
        self._throttle_delays_factory: Delays = throttle_delays or (
            lambda: backoff(initial=0.05, max_delay=2.0)
        )
        self._throttle_delays = self._throttle_delays_factory()
        self._compression = compression
        self._subscribers: list[asyncio.Queue[Event]] = []
        self._connection: ConnectionLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._link: Link | None = None
        self._join: tuple[str | None, bool, str | None] = (None, False, None)
        self._welcomed: asyncio.Future[None] | None = None
        self._join_error: ServerError | None = None
        self._changed = asyncio.Event()
        self._failure: ClientFailed | None = None
        self._closing = False
        self._resend_timer: asyncio.TimerHandle | None = None
        self._unacked: deque[int] = deque()
        self._submitted_seq: int | None = None
        if recorder is not None:
            recorder.start(self.engine.client_id, user, self.engine.scene)

    # --- state ----------------------------------------------------------------

    @property
    def client_id(self) -> str:
        return self.engine.client_id

    @property
    def scene(self) -> Scene:
        """My view: the server's scene plus my pending edits.  Read it; change it with edit()."""
        return self.engine.scene

    @property
    def session(self) -> str | None:
        return self.engine.session

    @property
    def version(self) -> int:
        """The server version my ``engine.confirmed`` scene is at."""
        return self.engine.version

    @property
    def state(self) -> ConnState:
        return self.engine.state

    @property
    def synced(self) -> bool:
        return self.engine.synced

    @property
    def failure(self) -> ClientFailed | None:
        """Why the client stopped for good, or None."""
        return self._failure

    # --- inputs ---------------------------------------------------------------

    async def start(
        self,
        url: str,
        *,
        session: str | None = None,
        create: bool = False,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        """Connect and join ``session`` (or ``create`` one); return once welcomed.

        Raises :class:`JoinRefused` if the server refuses the hello,
        :class:`ConnectFailed` if the first connection fails or no welcome
        comes within ``timeout``.  After that the connection is kept up
        automatically, reconnecting with backoff, until :meth:`close`.
        """
        if self._connection is not None:
            raise RuntimeError("start() was already called on this client")
        if create == (session is not None):
            raise ValueError("start() needs exactly one of session=... and create=True")
        self._join = (session, create, password)
        self._welcomed = asyncio.get_running_loop().create_future()
        self._connection = ConnectionLoop(
            url,
            on_open=self._on_open,
            on_text=self._on_text,
            on_close=self._on_close,
            delays=self._delays,
            compression=self._compression,
            open_timeout=timeout,
        )
        self._task = asyncio.create_task(self._run_connection())
        try:
            await asyncio.wait_for(asyncio.shield(self._welcomed), timeout)
        except TimeoutError:
            await self.close()
            raise ConnectFailed(f"no welcome from {url} within {timeout:g} s") from None
        except ClientFailed:
            await self.close()
            raise

    def edit(self, op: Op, origin: Origin = "edit") -> Op:
        """Apply my edit to :attr:`scene` now and send it when it may go; returns it as applied.

        Raises the apply error (scene unchanged) if ``op`` is invalid here.
        Works while disconnected: the edit goes out after the next welcome.
        """
        before = self._last_pending_seq()
        try:
            applied = self.engine.local(op, origin)
        except OptiverseError as exc:
            if self._recorder is not None:
                self._recorder.edit(op, origin, error=str(exc))
            raise
        seq = self._last_pending_seq()
        queued = seq is not None and seq != before
        if self._recorder is not None:
            self._recorder.edit(op, origin, applied=applied, seq=seq if queued else None)
        if queued:
            assert seq is not None
            self.stats.edits += 1
            self._unacked.append(seq)
        self._pump()
        return applied

    def presence(
        self, cursor: tuple[float, float] | None, selection: tuple[str, ...] | None = None
    ) -> None:
        """Tell the others where my cursor is and what I selected (dropped while offline)."""
        if self._recorder is not None:
            self._recorder.presence(cursor, selection)
        self.engine.presence(cursor, selection)
        self._pump()

    def subscribe(self) -> asyncio.Queue[Event]:
        """A queue that receives every engine event from now on (unbounded: keep reading it)."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    async def wait_synced(self, timeout: float | None = None) -> None:
        """Wait until live with nothing pending; TimeoutError, or ClientFailed if it never can."""
        async with asyncio.timeout(timeout):
            while not self.engine.synced:
                if self._failure is not None:
                    raise self._failure
                if self._closing:
                    raise ClientFailed("the client is closed")
                self._changed.clear()
                await self._changed.wait()

    def drop_connection(self) -> None:
        """Drop the socket abruptly, as a network failure would; the client reconnects."""
        if self._link is not None:
            self._link.abort()

    async def close(self) -> None:
        """Close the connection and stop reconnecting.  Unsent edits are discarded."""
        self._closing = True
        if self._resend_timer is not None:
            self._resend_timer.cancel()
        if self._connection is not None:
            self._connection.stop()
        if self._task is not None:
            await self._task
        self._notify()

    # --- connection callbacks -------------------------------------------------

    async def _run_connection(self) -> None:
        assert self._connection is not None
        try:
            await self._connection.run()
        except InvalidURI as exc:
            self._fail(ConnectFailed(str(exc)))
        except Exception as exc:
            log.exception("client %s: connection loop failed", self.client_id)
            self._fail(exc if isinstance(exc, ClientFailed) else ClientFailed(str(exc)))

    def _on_open(self, link: Link) -> None:
        self._link = link
        self.stats.connections += 1
        self._join_error = None
        session, create, password = self._join
        if self.engine.session is not None:
            session, create = self.engine.session, False
        if self._recorder is not None:
            self._recorder.connect(session, create, password is not None)
        self.engine.connect(session, create=create, password=password)
        self._pump()

    def _on_text(self, text: str) -> None:
        if self._recorder is not None:
            self._recorder.received(text)
        try:
            message = decode_server(text)
        except ProtocolError as exc:
            # A server we cannot understand: drop this connection and try again.
            log.warning("client %s: bad message from the server: %s", self.client_id, exc)
            if self._link is not None:
                self._link.abort()
            return
        self.engine.receive(message)
        self._pump()

    def _on_close(self, info: LinkClosed) -> None:
        self._link = None
        if self.engine.state is not ConnState.OFFLINE:
            self.engine.disconnected()
            self.stats.disconnects += 1
            if self._recorder is not None:
                self._recorder.disconnected(info.code, info.reason)
        welcomed = self._welcomed
        if self._closing:
            pass
        elif self._join_error is not None and (
            info.retry_in is None or welcomed is None or not welcomed.done()
        ):
            self._fail(JoinRefused(self._join_error.code, self._join_error.message))
        elif welcomed is not None and not welcomed.done():
            what = "connection closed" if info.opened else "cannot connect"
            self._fail(ConnectFailed(f"{what}: {info.reason or info.code}"))
        elif info.retry_in is None:
            self._fail(ClientFailed(f"the server closed the connection: {info.code} {info.reason}"))
        else:
            log.info(
                "client %s: disconnected (%s %s); retrying in %.2f s",
                self.client_id,
                info.code,
                info.reason,
                info.retry_in,
            )
        self._notify()

    # --- engine plumbing ------------------------------------------------------

    def _pump(self) -> None:
        """Write what the engine queued, then dispatch its events."""
        for message in self.engine.messages_to_send():
            if self._link is None:
                continue  # the engine re-queues what matters after the next welcome
            text = encode(message)
            if self._recorder is not None:
                self._recorder.sent(text)
            if isinstance(message, Submit):
                self.stats.submits += 1
                self._submitted_seq = message.seq
            self._link.send(text)
        for event in self.engine.events_received():
            self._dispatch(event)
        self._notify()

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, Welcomed):
            if self._welcomed is not None and not self._welcomed.done():
                self._welcomed.set_result(None)
        elif isinstance(event, Acked):
            self._throttle_delays = self._throttle_delays_factory()
            while self._unacked and self._unacked[0] <= event.seq:
                self._unacked.popleft()
                self.stats.edits_acked += 1
        elif isinstance(event, Refused):
            self.stats.refused += 1
            # Forget the refused seqs so a later ack does not count them.  The
            # submit in flight covers every unresolved edit up to its seq; a
            # buffered edit is just itself.
            if event.seq == self._submitted_seq:
                while self._unacked and self._unacked[0] <= event.seq:
                    self._unacked.popleft()
            elif event.seq in self._unacked:
                self._unacked.remove(event.seq)
        elif isinstance(event, Throttled):
            self.stats.throttled += 1
            self._schedule_resend()
        elif isinstance(event, ServerError):
            if self.engine.state is ConnState.JOINING:
                self._join_error = event  # raised as JoinRefused when the close follows
            else:
                log.warning(
                    "client %s: server error %s: %s", self.client_id, event.code, event.message
                )
        elif isinstance(event, RemoteApplied):
            self.stats.remote_ops += 1
        if self._on_event is not None:
            self._on_event(event)
        for queue in self._subscribers:
            queue.put_nowait(event)

    def _schedule_resend(self) -> None:
        if self._resend_timer is not None:
            self._resend_timer.cancel()
        delay = next(self._throttle_delays)
        self._resend_timer = asyncio.get_running_loop().call_later(delay, self._resend)

    def _resend(self) -> None:
        self._resend_timer = None
        if self._closing:
            return
        if self._recorder is not None:
            self._recorder.resend()
        self.engine.resend()
        self._pump()

    def _last_pending_seq(self) -> int | None:
        pending = self.engine.pending
        return pending[-1].seq if pending else None

    def _fail(self, failure: ClientFailed) -> None:
        if self._failure is None:
            self._failure = failure
        if self._welcomed is not None and not self._welcomed.done():
            self._welcomed.set_exception(failure)
            # start() may already have given up waiting; do not warn about it.
            self._welcomed.exception()
        if self._connection is not None:
            self._connection.stop()
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
