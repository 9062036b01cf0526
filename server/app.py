"""The WebSocket front end: connections, sessions by id, limits, shutdown.

Each connection is one handler coroutine.  It reads frames in order, decodes
them with :func:`~optiverse.collab.messages.decode_client` and hands them to
its :class:`~server.session.Session`.  Anything refused becomes an ``error``
message for that connection only; whether the connection is closed after it
is decided in one table, :data:`CLOSE_AFTER`.  An unexpected exception is
logged with its traceback and reported to the client as ``internal``; it
never reaches other clients or the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

from optiverse.collab.messages import (
    MAX_NAME,
    PROTOCOL_VERSION,
    ClientMessage,
    CloseCode,
    ErrorCode,
    ErrorMsg,
    Hello,
    Presence,
    ProtocolError,
    Submit,
    decode_client,
    encode,
)
from server.config import ServerConfig
from server.http import make_process_request
from server.metrics import ServerMetrics
from server.passwords import hash_password, verify_password
from server.session import Member, Session, send_text
from server.store import SessionMeta, Store

__all__ = ["CLOSE_AFTER", "OptiverseServer", "new_session_id"]

log = logging.getLogger(__name__)

# Errors after which the connection cannot go on, and the close code for each.
CLOSE_AFTER: dict[ErrorCode, CloseCode] = {
    ErrorCode.BAD_PASSWORD: CloseCode.BAD_PASSWORD,
    ErrorCode.UNKNOWN_SESSION: CloseCode.UNKNOWN_SESSION,
    ErrorCode.PROTOCOL_VERSION: CloseCode.PROTOCOL_VERSION,
    ErrorCode.SESSION_FULL: CloseCode.SESSION_FULL,
}


def new_session_id() -> str:
    """A fresh unguessable, URL-safe session id (16 characters, about 95 random bits).

    Never starting with ``-``: command lines (``optiverse-bot --session ID``,
    ``optiverse-replay ... --session ID``) would read such an id as an option.
    """
    while True:
        sid = secrets.token_urlsafe(12)
        if not sid.startswith("-"):
            return sid


async def _close(ws: ServerConnection, code: int, reason: str) -> None:
    """Close with ``code``, discarding what the client still sends meanwhile.

    Unread frames would fill the receive queue and pause reading, and then
    the client's closing frame is never seen (a 10 s close timeout).
    """
    closer = asyncio.get_running_loop().create_task(ws.close(code, reason))
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            pass
    await closer


def _deflate() -> ServerPerMessageDeflateFactory:
    # Smaller than websockets' defaults (window 2**12, memLevel 5): about 18 KB less
    # per connection, and our messages are small, so a 2 KiB window still finds
    # the repeated keys and ids of the previous few messages.
    return ServerPerMessageDeflateFactory(
        server_max_window_bits=11,
        client_max_window_bits=11,
        compress_settings={"memLevel": 4},
    )


class _Stopping(Exception):
    """Raised inside a handshake when the server is shutting down."""


class OptiverseServer:
    """The server of one process: ``await start()``, serve, ``await stop()``."""

    def __init__(self, config: ServerConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.sessions: dict[str, Session] = {}
        self._loading: dict[str, asyncio.Task[Session | None]] = {}
        self._idle_since: dict[str, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.clients = 0
        self.started = time.monotonic()
        self.stopping = False
        self.metrics = ServerMetrics(lambda: self.clients, lambda: len(self.sessions))
        self._ws_server: Server | None = None

    # --- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Listen on the configured host and port (port 0: any free port)."""
        self._ws_server = await serve(
            self.handler,
            self.config.host,
            self.config.port,
            process_request=make_process_request(self.health, self.metrics.registry.render),
            max_size=self.config.limits.max_message_bytes,
            compression=None,
            extensions=[_deflate()] if self.config.compression else None,
            ping_interval=20,
            ping_timeout=20,
        )
        self.started = time.monotonic()

    @property
    def port(self) -> int:
        assert self._ws_server is not None, "start() first"
        port: int = self._ws_server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        """Graceful shutdown: stop accepting, commit and ack what is sequenced, close with 1001."""
        if self.stopping:
            return
        self.stopping = True
        log.info("shutting down: %d sessions, %d clients", len(self.sessions), self.clients)
        assert self._ws_server is not None
        self._ws_server.server.close()  # no new connections
        for session in list(self.sessions.values()):
            await session.flush()
            session.stopping = True
        self._ws_server.close(code=CloseCode.GOING_AWAY, reason="server shutting down")
        await self._ws_server.wait_closed()
        # Handlers have returned: whatever they sequenced meanwhile is committed here.
        for session in list(self.sessions.values()):
            await session.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.store.close()
        log.info("stopped")

    def health(self) -> dict[str, Any]:
        return {
            "status": "stopping" if self.stopping else "ok",
            "sessions": len(self.sessions),
            "clients": self.clients,
            "uptime_seconds": round(time.monotonic() - self.started, 3),
        }

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- sessions --------------------------------------------------------------

    def _register(self, session: Session) -> None:
        session.on_idle = self._session_idle
        session.on_broken = self._session_broken
        self.sessions[session.id] = session

    async def _open_session(self, session_id: str) -> Session | None:
        """The loaded session ``session_id``, loading it once however many ask; marked joining."""
        session = self.sessions.get(session_id)
        if session is None:
            task = self._loading.get(session_id)
            if task is None:
                task = asyncio.get_running_loop().create_task(
                    Session.load(session_id, self.store, self.config, self.metrics)
                )
                self._loading[session_id] = task
                task.add_done_callback(lambda _t: self._loading.pop(session_id, None))
            loaded = await asyncio.shield(task)
            if loaded is None:
                return None
            session = self.sessions.setdefault(session_id, loaded)
            if session is loaded:
                self._register(session)
        session.joining += 1
        return session

    def _session_idle(self, session: Session) -> None:
        now = time.monotonic()
        self._idle_since[session.id] = now
        asyncio.get_running_loop().call_later(
            self.config.idle_unload_seconds, self._maybe_unload, session, now
        )

    def _maybe_unload(self, session: Session, since: float) -> None:
        if (
            self.stopping
            or self.sessions.get(session.id) is not session
            or self._idle_since.get(session.id) != since
            or not session.idle
        ):
            return
        del self.sessions[session.id]
        del self._idle_since[session.id]
        log.info("session %s unloaded (idle)", session.id)
        self._spawn(session.close())

    def _session_broken(self, session: Session) -> None:
        if self.sessions.get(session.id) is session:
            del self.sessions[session.id]
        self._spawn(session.close())

    # --- connections -----------------------------------------------------------

    async def handler(self, ws: ServerConnection) -> None:
        self.metrics.connections.inc()
        joined: tuple[Session, Member] | None = None
        try:
            joined = await self._handshake(ws)
            if joined is None:
                return
            session, member = joined
            async for text in ws:
                await self._on_message(session, member, text)
        except ConnectionClosed:
            pass
        finally:
            if joined is not None:
                self.clients -= 1
                joined[0].leave(joined[1])

    def _decode(self, text: str | bytes) -> ClientMessage:
        if isinstance(text, bytes):
            raise ProtocolError(ErrorCode.MALFORMED, "messages are JSON text frames, not binary")
        return decode_client(text)

    def _refuse(self, ws: ServerConnection, exc: ProtocolError) -> CloseCode | None:
        """Send ``error`` for ``exc``; the close code to follow with, if any."""
        self.metrics.errors.inc(code=exc.code.value)
        send_text(ws, encode(ErrorMsg(exc.code.value, exc.message, exc.seq)))
        return CLOSE_AFTER.get(exc.code)

    async def _handshake(self, ws: ServerConnection) -> tuple[Session, Member] | None:
        """Read until a hello joins a session; None when the connection was closed instead."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.hello_timeout
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    text = await ws.recv()
            except TimeoutError:
                await _close(ws, CloseCode.POLICY, "no hello received")
                return None
            try:
                msg = self._decode(text)
                if not isinstance(msg, Hello):
                    raise ProtocolError(
                        ErrorCode.NOT_JOINED,
                        "send hello first",
                        msg.seq if isinstance(msg, Submit) else None,
                    )
                return await self._join(ws, msg)
            except ProtocolError as exc:
                close = self._refuse(ws, exc)
                if close is not None:
                    await _close(ws, close, exc.code.value)
                    return None
            except _Stopping:
                await _close(ws, CloseCode.GOING_AWAY, "server shutting down")
                return None
            except Exception:
                log.exception("internal error in the handshake of %s", ws.remote_address)
                self._refuse(ws, ProtocolError(ErrorCode.INTERNAL, "internal server error"))

    async def _join(self, ws: ServerConnection, hello: Hello) -> tuple[Session, Member]:
        if hello.protocol != PROTOCOL_VERSION:
            raise ProtocolError(
                ErrorCode.PROTOCOL_VERSION,
                f"protocol {hello.protocol} is not supported; "
                f"this server speaks {PROTOCOL_VERSION}",
            )
        if self.stopping:
            raise _Stopping
        if hello.create:
            password = (
                await asyncio.to_thread(hash_password, hello.password)
                if hello.password is not None
                else None
            )
            if self.stopping:
                raise _Stopping
            session = await Session.create(
                SessionMeta(new_session_id(), password), self.store, self.config, self.metrics
            )
            self._register(session)
            session.joining += 1
            log.info("session %s created", session.id)
        else:
            assert hello.session is not None
            found = (
                await self._open_session(hello.session) if len(hello.session) <= MAX_NAME else None
            )
            if found is None:
                raise ProtocolError(
                    ErrorCode.UNKNOWN_SESSION, f"there is no session {hello.session!r}"
                )
            session = found
        try:
            stored = session.meta.password_hash
            if not hello.create and stored is not None:
                ok = hello.password is not None and await asyncio.to_thread(
                    verify_password, hello.password, stored
                )
                if not ok:
                    raise ProtocolError(ErrorCode.BAD_PASSWORD, "wrong password for this session")
            if self.stopping:
                raise _Stopping
            member = Member(ws, hello.user, hello.client, self.config)
            await session.join(member, hello.since)
        finally:
            session.joining -= 1
        self.clients += 1
        return session, member

    async def _on_message(self, session: Session, member: Member, text: str | bytes) -> None:
        received = time.monotonic()
        seq: int | None = None
        try:
            msg = self._decode(text)
            if isinstance(msg, Submit):
                seq = msg.seq
                if not member.ops_bucket.take(received):
                    member.strikes += 1
                    self.metrics.ops_rejected.inc(code=ErrorCode.RATE_LIMITED.value)
                    if member.strikes > self.config.limits.rate_limit_strikes:
                        self._refuse(
                            member.ws,
                            ProtocolError(
                                ErrorCode.RATE_LIMITED, "too many refused submits", msg.seq
                            ),
                        )
                        await _close(member.ws, CloseCode.RATE_LIMITED, "rate limit ignored")
                        return
                    raise ProtocolError(
                        ErrorCode.RATE_LIMITED,
                        f"more than {self.config.limits.ops_per_second:g} operations a second; "
                        "resend it later",
                        msg.seq,
                    )
                member.strikes = 0
                await session.submit(member, msg, received)
            elif isinstance(msg, Presence):
                session.presence(member, msg)
            else:
                raise ProtocolError(
                    ErrorCode.ALREADY_JOINED, "this connection has already joined a session"
                )
        except ProtocolError as exc:
            if exc.code is ErrorCode.INVALID_OP:
                self.metrics.ops_rejected.inc(code=exc.code.value)
            close = self._refuse(member.ws, exc)
            if close is not None:
                await _close(member.ws, close, exc.code.value)
        except Exception:
            log.exception("internal error on a message from %r", member)
            self._refuse(member.ws, ProtocolError(ErrorCode.INTERNAL, "internal server error", seq))
