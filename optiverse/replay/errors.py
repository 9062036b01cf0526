"""Errors of the replay tools; each one's message is a complete, single line for the CLI."""

from __future__ import annotations

from optiverse.errors import OptiverseError

__all__ = [
    "CorruptLog",
    "ExpressionError",
    "ReplayError",
    "SourceError",
    "VersionOutOfRange",
]


class ReplayError(OptiverseError):
    """Base class of the errors the replay tools report to the user."""


class SourceError(ReplayError, OSError):
    """Raised when a log source cannot be opened: no such file or store, unknown session."""


class CorruptLog(ReplayError, ValueError):
    """Raised when a log line or stored row does not decode, or versions are out of sequence.

    ``version`` is the version the bad item holds or should have held: the
    first version that cannot be trusted.
    """

    def __init__(self, message: str, version: int, line: int | None = None) -> None:
        self.version = version
        self.line = line
        self.reason = message
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}version {version}: {message}")


class VersionOutOfRange(ReplayError, IndexError):
    """Raised when a version asked for is not in the log (versions run 0..head)."""

    def __init__(self, version: int, head: int, session: str) -> None:
        self.version = version
        self.head = head
        super().__init__(
            f"version {version} is out of range: session {session!r} has versions 0..{head}"
        )


class ExpressionError(ReplayError, ValueError):
    """Raised when a ``bisect --check`` expression does not compile or fails to evaluate."""
