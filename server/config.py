"""Server configuration and limits, with the defaults docs/server.md documents.

Everything here is plain data: the CLI (``server.__main__``) builds a
:class:`ServerConfig` from its flags, the tests and the benchmark build one
directly, and the welcome message tells each client its :class:`Limits`.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

__all__ = ["DEFAULT_STORE", "Limits", "LogFormat", "ServerConfig"]

DEFAULT_STORE = "sqlite:///optiverse-sessions.db"
LogFormat = Literal["text", "json"]


def _positive(_inst: object, attr: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attr.name} must be > 0, not {value!r}")


@attrs.frozen
class Limits:
    """Per-message, per-connection, per-session and per-scene limits."""

    # A larger message closes the connection with 1009 (websockets' max_size).
    max_message_bytes: int = attrs.field(default=1 << 20, validator=_positive)
    # Token bucket per connection for submits: sustained rate and burst.
    ops_per_second: float = attrs.field(default=200.0, validator=_positive)
    ops_burst: int = attrs.field(default=400, validator=_positive)
    # A connection refused this many submits in a row (each with an error
    # rate_limited) is closed with 4029: a client that ignores the errors.
    rate_limit_strikes: int = attrs.field(default=2000, validator=_positive)
    # Presence is coalesced: at most this many relays per second per connection.
    presence_per_second: float = attrs.field(default=30.0, validator=_positive)
    clients_per_session: int = attrs.field(default=100, validator=_positive)
    max_components: int = attrs.field(default=10_000, validator=_positive)

    def for_client(self) -> dict[str, int]:
        """What ``welcome.limits`` tells the client (integers only, by protocol)."""
        return {
            "max_message_bytes": self.max_message_bytes,
            "ops_per_second": int(self.ops_per_second),
            "ops_burst": self.ops_burst,
            "presence_per_second": int(self.presence_per_second),
            "clients_per_session": self.clients_per_session,
            "max_components": self.max_components,
        }


@attrs.frozen
class ServerConfig:
    """Everything ``optiverse-server`` can be told on its command line."""

    host: str = "127.0.0.1"
    port: int = 8765
    store: str = DEFAULT_STORE
    limits: Limits = attrs.field(factory=Limits)
    # A snapshot is written (in the same transaction as the ops) once this
    # many operations were logged since the last one.
    snapshot_every: int = attrs.field(default=100, validator=_positive)
    # Sequenced entries kept in memory per session (for stale bases, `since`
    # and resubmits); older ones are read back from the store.
    tail_size: int = attrs.field(default=512, validator=_positive)
    # A session with no client stays loaded this long, so reconnects are cheap.
    idle_unload_seconds: float = attrs.field(default=300.0, validator=_positive)
    # A connection that sends no hello within this time is closed.
    hello_timeout: float = attrs.field(default=10.0, validator=_positive)
    # Servers sharing a store (Redis) re-announce their members this often, and
    # forget another server's members after three periods without news (that
    # server died without saying they left).
    roster_seconds: float = attrs.field(default=5.0, validator=_positive)
    compression: bool = True
    log_level: str = "INFO"
    log_format: LogFormat = "text"
