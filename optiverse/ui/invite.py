"""Session invites: ``optiverse://host:port/SESSION``, parsed and formatted (no Qt).

An invite is what one person copies and another pastes to join.  Parsing is
lenient about what people paste (surrounding blanks, a missing scheme, a
``ws://`` URL, a missing port) and strict about what it returns.
"""

from __future__ import annotations

import re

import attrs

__all__ = ["DEFAULT_PORT", "SCHEME", "Invite", "InviteError", "format_invite", "parse_invite"]

SCHEME = "optiverse"
DEFAULT_PORT = 8765
_SESSION_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
_HOST_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]{1,253})$")
_INVITE_RE = re.compile(
    r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://)?"
    r"(?P<host>\[[^\]]*\]|[^:/\[\]]+)"
    r"(?::(?P<port>[^/]*))?"
    r"(?:/(?P<session>.*))?$"
)


class InviteError(ValueError):
    """Raised when text is not an invite; the message says what is wrong with it."""


@attrs.frozen
class Invite:
    """Where a session lives and which one it is."""

    host: str
    port: int
    session: str

    @property
    def server_url(self) -> str:
        """The WebSocket URL of the server (the session id is sent in the hello)."""
        return f"ws://{self.host}:{self.port}"

    def __str__(self) -> str:
        return format_invite(self.host, self.port, self.session)


def format_invite(host: str, port: int, session: str) -> str:
    """``optiverse://host:port/SESSION``; an IPv6 host is bracketed."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{SCHEME}://{host}:{port}/{session}"


def parse_invite(text: str, *, require_session: bool = True) -> Invite:
    """The invite in ``text``, or InviteError.

    ``require_session=False`` accepts a bare server (``host:port``) and returns
    an empty session, for the "server + id" form of the join dialog.
    """
    raw = text.strip()
    match = _INVITE_RE.match(raw)
    if not raw or match is None:
        raise InviteError(f"{raw!r} is not an invite; expected {SCHEME}://host:port/SESSION")
    scheme = (match["scheme"] or SCHEME).lower()
    if scheme not in (SCHEME, "ws"):
        raise InviteError(f"unsupported scheme {scheme!r}; expected {SCHEME}://host:port/SESSION")
    host = match["host"]
    if not _HOST_RE.match(host):
        raise InviteError(f"invalid host {host!r}")
    port = _parse_port(match["port"])
    session = (match["session"] or "").strip("/")
    if session or require_session:
        if not session:
            raise InviteError(
                f"the invite has no session id; expected {SCHEME}://host:port/SESSION"
            )
        if not _SESSION_RE.match(session):
            raise InviteError(f"invalid session id {session!r}")
    return Invite(host.strip("[]") if host.startswith("[") else host, port, session)


def _parse_port(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_PORT
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InviteError(f"invalid port {text!r}; expected a number 1-65535")
    return int(text)
