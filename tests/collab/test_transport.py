"""Reconnect policy, the ConnectionLoop run in a thread (as the Qt client does), start() errors."""

from __future__ import annotations

import asyncio
import queue
import random
import socket
import threading
from collections.abc import Iterator

import pytest

from optiverse.collab.aio import (
    AsyncClient,
    ConnectFailed,
    ConnectionLoop,
    JoinRefused,
    Link,
    LinkClosed,
)
from optiverse.collab.backoff import backoff, should_reconnect
from optiverse.collab.messages import (
    PROTOCOL_VERSION,
    CloseCode,
    Hello,
    User,
    Welcome,
    decode_server,
    encode,
)
from tests.collab.conftest import ServerProcess
from tests.collab.helpers import run


def take(delays: Iterator[float], n: int) -> list[float]:
    return [next(delays) for _ in range(n)]


def test_backoff_grows_exponentially_to_the_cap_with_bounded_jitter() -> None:
    assert take(backoff(0.5, 2.0, 5.0, jitter=0.0), 6) == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    bare = take(backoff(0.5, 2.0, 5.0, jitter=0.0), 50)
    jittered = take(backoff(0.5, 2.0, 5.0, jitter=0.5, rng=random.Random(1)), 50)
    assert all(b / 2 <= j <= b for b, j in zip(bare, jittered, strict=True))
    assert len(set(jittered)) == 50  # the jitter spreads clients that dropped together
    again = take(backoff(0.5, 2.0, 5.0, jitter=0.5, rng=random.Random(1)), 50)
    assert again == jittered


@pytest.mark.parametrize(
    "kwargs", [{"initial": 0}, {"max_delay": 0.1}, {"factor": 0.5}, {"jitter": 1.5}]
)
def test_backoff_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        next(backoff(**kwargs))


def test_only_closes_that_the_same_hello_would_hit_again_stop_reconnecting() -> None:
    for code in (None, 1000, CloseCode.GOING_AWAY, CloseCode.INTERNAL, CloseCode.RATE_LIMITED):
        assert should_reconnect(code), code
    for code in (
        CloseCode.BAD_PASSWORD,
        CloseCode.UNKNOWN_SESSION,
        CloseCode.PROTOCOL_VERSION,
        CloseCode.PROTOCOL,
        CloseCode.SESSION_FULL,
    ):
        assert not should_reconnect(code), code


def hello_text(session: str | None = None) -> str:
    user = User("thread-user", "Thread")
    return encode(
        Hello(
            PROTOCOL_VERSION, user, client="thread-client", session=session, create=session is None
        )
    )


class ThreadedLoop:
    """A ConnectionLoop run in its own thread, as the Qt client does; events come out on a queue."""

    def __init__(self, url: str) -> None:
        self.events: queue.Queue[tuple[str, object]] = queue.Queue()
        self.loop = ConnectionLoop(
            url,
            on_open=lambda link: self.events.put(("open", link)),
            on_text=lambda text: self.events.put(("text", text)),
            on_close=lambda info: self.events.put(("close", info)),
            delays=lambda: backoff(0.05, max_delay=0.2),
        )
        self.thread = threading.Thread(target=lambda: asyncio.run(self.loop.run()), daemon=True)
        self.thread.start()

    def next(self, kind: str, timeout: float = 10.0) -> object:
        while True:
            got, value = self.events.get(timeout=timeout)
            if got == kind:
                return value


def test_connection_loop_in_a_thread_sends_reconnects_and_stops(
    shared_server: ServerProcess,
) -> None:
    threaded = ThreadedLoop(shared_server.url)
    first = threaded.next("open")
    assert isinstance(first, Link)
    first.send(hello_text())  # from this thread, not the loop's
    welcome = decode_server(str(threaded.next("text")))
    assert isinstance(welcome, Welcome)

    first.abort()
    closed = threaded.next("close")
    assert isinstance(closed, LinkClosed)
    assert closed.opened and closed.code is None and closed.retry_in is not None
    second = threaded.next("open")
    assert isinstance(second, Link) and second is not first
    assert not first.is_open
    first.send(hello_text(welcome.session))  # meant for the old connection: dropped
    second.send(hello_text(welcome.session))
    rejoined = decode_server(str(threaded.next("text")))
    assert isinstance(rejoined, Welcome) and rejoined.session == welcome.session
    # Had the stale hello gone out, the server would answer already_joined.
    with pytest.raises(queue.Empty):
        threaded.next("text", timeout=0.3)

    threaded.loop.stop()
    final = threaded.next("close")
    assert isinstance(final, LinkClosed) and final.retry_in is None
    threaded.thread.join(5)
    assert not threaded.thread.is_alive()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_connection_loop_retries_a_dead_server_until_stopped() -> None:
    threaded = ThreadedLoop(f"ws://127.0.0.1:{free_port()}")
    for _ in range(3):
        failed = threaded.next("close")
        assert isinstance(failed, LinkClosed)
        assert not failed.opened and failed.retry_in is not None
        assert "refused" in failed.reason
    threaded.loop.stop()
    threaded.thread.join(2)
    assert not threaded.thread.is_alive()


def test_start_reports_refused_hellos_and_dead_servers(shared_server: ServerProcess) -> None:
    async def scenario() -> None:
        owner = AsyncClient(User("owner", "Owner"))
        await owner.start(shared_server.url, create=True, password="secret")
        assert owner.session is not None
        try:
            with pytest.raises(JoinRefused) as wrong:
                await AsyncClient(User("x", "X")).start(
                    shared_server.url, session=owner.session, password="guess"
                )
            assert wrong.value.code == "bad_password"
            with pytest.raises(JoinRefused) as unknown:
                await AsyncClient(User("x", "X")).start(shared_server.url, session="no-such")
            assert unknown.value.code == "unknown_session"
            with pytest.raises(ConnectFailed, match="refused"):
                await AsyncClient(User("x", "X")).start(
                    f"ws://127.0.0.1:{free_port()}", create=True
                )
            joined = AsyncClient(User("y", "Y"))
            await joined.start(shared_server.url, session=owner.session, password="secret")
            await joined.close()
        finally:
            await owner.close()

    run(scenario(), timeout=30)
