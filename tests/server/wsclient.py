"""A bare protocol-v1 test client over ``websockets.asyncio.client`` (raw JSON dicts).

It deliberately does not use the app's client engine: these tests pin the
wire protocol itself.  Tests are sync and call :func:`run`, which runs a
coroutine with a timeout (pytest-asyncio is not used).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

T = TypeVar("T")
Msg = dict[str, Any]
_ids = itertools.count(1)


def run(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """Run ``coro`` in a fresh event loop, failing after ``timeout`` seconds."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def lens(cid: str, **props: Any) -> Msg:
    return {"type": "create", "id": cid, "kind": "lens", "props": props}


def set_op(cid: str, **props: Any) -> Msg:
    return {"type": "set", "id": cid, "props": props}


class Client:
    """One connection that has joined a session (see :meth:`join`)."""

    def __init__(self, ws: ClientConnection, user: Msg, client_id: str) -> None:
        self.ws = ws
        self.user = user
        self.client_id = client_id
        self.welcome: Msg = {}
        self.session = ""
        self.version = 0
        self.seq = 0
        self.inbox: list[Msg] = []

    @classmethod
    async def open(
        cls, url: str, name: str | None = None, client_id: str | None = None, **connect_kwargs: Any
    ) -> Client:
        """Connect without sending hello."""
        n = next(_ids)
        ws = await connect(url, open_timeout=5, **connect_kwargs)
        user = {"id": f"user-{name or n}", "name": name or f"User {n}", "color": "#3366CC"}
        return cls(ws, user, client_id or f"client-{n}")

    @classmethod
    async def join(
        cls,
        url: str,
        session: str | None = None,
        *,
        password: str | None = None,
        since: int | None = None,
        name: str | None = None,
        client_id: str | None = None,
        **connect_kwargs: Any,
    ) -> Client:
        """Connect and hello: create a session when ``session`` is None; wait for welcome."""
        self = await cls.open(url, name, client_id, **connect_kwargs)
        await self.hello(session, password=password, since=since)
        welcome = await self.expect("welcome")
        self.welcome = welcome
        self.session = welcome["session"]
        self.version = welcome["version"]
        return self

    async def hello(
        self, session: str | None, *, password: str | None = None, since: int | None = None
    ) -> None:
        msg: Msg = {"type": "hello", "protocol": 1, "user": self.user, "client": self.client_id}
        if session is None:
            msg["create"] = True
        else:
            msg["session"] = session
        if password is not None:
            msg["password"] = password
        if since is not None:
            msg["since"] = since
        await self.send(msg)

    async def send(self, msg: Msg | str | bytes) -> None:
        await self.ws.send(msg if isinstance(msg, str | bytes) else json.dumps(msg))

    async def recv(self, timeout: float = 5.0) -> Msg:
        if self.inbox:
            return self.inbox.pop(0)
        msg: Msg = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        return msg

    async def expect(self, kind: str, timeout: float = 5.0, **fields: Any) -> Msg:
        """The next message of type ``kind`` (others are kept in ``inbox`` for later)."""
        for i, kept in enumerate(self.inbox):
            if kept["type"] == kind and all(kept.get(k) == v for k, v in fields.items()):
                return self.inbox.pop(i)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            msg: Msg = json.loads(await asyncio.wait_for(self.ws.recv(), deadline - loop.time()))
            if msg["type"] == kind and all(msg.get(k) == v for k, v in fields.items()):
                return msg
            self.inbox.append(msg)

    async def nothing(self, within: float = 0.3) -> None:
        """Assert that no message arrives within ``within`` seconds."""
        assert not self.inbox, f"unexpected messages {self.inbox}"
        try:
            text = await asyncio.wait_for(self.ws.recv(), within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {text!r}")

    async def drain(self, within: float = 0.3) -> list[Msg]:
        """Every message that arrives within ``within`` seconds (and the inbox)."""
        out, self.inbox = self.inbox, []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        try:
            while True:
                out.append(
                    json.loads(await asyncio.wait_for(self.ws.recv(), deadline - loop.time()))
                )
        except TimeoutError:
            return out

    async def submit(self, op: Msg, *, base: int | None = None, seq: int | None = None) -> int:
        """Send a submit; returns its seq.  ``base`` defaults to the last known version."""
        if seq is None:
            self.seq += 1
            seq = self.seq
        await self.send(
            {"type": "submit", "seq": seq, "base": self.version if base is None else base, "op": op}
        )
        return seq

    async def commit(self, op: Msg, **kwargs: Any) -> int:
        """Submit and wait for the ack; returns the version (and remembers it)."""
        seq = await self.submit(op, **kwargs)
        ack = await self.expect("ack", seq=seq)
        self.version = max(self.version, ack["version"])
        return int(ack["version"])

    async def closed(self, timeout: float = 5.0) -> tuple[int | None, str]:
        """Wait until the server closes the connection; (code, reason) it sent."""
        try:
            while True:
                self.inbox.append(json.loads(await asyncio.wait_for(self.ws.recv(), timeout)))
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            return (rcvd.code, rcvd.reason) if rcvd is not None else (None, "")

    async def close(self) -> None:
        # Unread messages pause reading (websockets' max_queue), and then the
        # server's close frame is never seen: keep reading while closing.
        async def discard() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for _ in self.ws:
                    pass

        reader = asyncio.create_task(discard())
        await self.ws.close()
        await reader
