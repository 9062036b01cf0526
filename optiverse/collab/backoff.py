"""Reconnect policy, with no I/O: how long to wait, and whether to try at all.

:func:`backoff` yields the delays before successive reconnection attempts:
exponential growth capped at ``max_delay``, each delay jittered so that the
clients a server restart disconnected all at once do not all come back in
the same instant.  The caller sleeps; a fresh generator starts over after a
connection succeeds.  :func:`should_reconnect` reads a close code.  The
asyncio client and the Qt client share both.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from optiverse.collab.messages import CloseCode

__all__ = ["FATAL_CLOSE_CODES", "backoff", "should_reconnect"]

# The server closed for a reason that the same hello would hit again.
FATAL_CLOSE_CODES = frozenset(
    {
        CloseCode.PROTOCOL,
        CloseCode.POLICY,
        CloseCode.TOO_BIG,
        CloseCode.BAD_PASSWORD,
        CloseCode.UNKNOWN_SESSION,
        CloseCode.PROTOCOL_VERSION,
        CloseCode.SESSION_FULL,
    }
)


def backoff(
    initial: float = 0.2,
    factor: float = 2.0,
    max_delay: float = 30.0,
    jitter: float = 0.5,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Endless reconnect delays in seconds: ``initial * factor**n`` capped at ``max_delay``.

    Each delay is drawn uniformly from ``[(1 - jitter) * d, d]`` ("equal
    jitter"): ``jitter=0`` gives the bare exponential sequence, ``jitter=1``
    full jitter.  Pass ``rng`` for a reproducible sequence.
    """
    if initial <= 0 or max_delay < initial or factor < 1 or not 0 <= jitter <= 1:
        raise ValueError(
            "backoff needs initial > 0, max_delay >= initial, factor >= 1 and 0 <= jitter <= 1"
        )
    draw = (rng or random.Random()).random
    delay = initial
    while True:
        yield delay * (1.0 - jitter * draw())
        delay = min(max_delay, delay * factor)


def should_reconnect(code: int | None) -> bool:
    """False when the server's close ``code`` means retrying the same hello is pointless.

    ``None`` (no close frame: the socket dropped, or the connection never
    opened) and every other code, including a normal close, shutdown
    (1001), internal error (1011) and rate limiting (4029), are retried.
    """
    return code not in FATAL_CLOSE_CODES
