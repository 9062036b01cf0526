"""Protocol v1: every wire message, as attrs classes on the one converter.

Messages are JSON text frames tagged by ``"type"``.  ``docs/protocol.md``
documents each message, field, error code and close code; this module is the
schema they are checked against.  It is the only collab module that knows
JSON: :func:`decode_client` / :func:`decode_server` turn text into a message
or raise :class:`ProtocolError` with an error code and a clear message.
"""

from __future__ import annotations

import enum
import functools
import json
import math
from collections import OrderedDict
from typing import Any, Literal, NamedTuple, cast

import attrs
from cattrs.strategies import configure_tagged_union

from optiverse.commands.ops import Op, Set
from optiverse.wire import WireError, converter, dumps, structure

__all__ = [
    "PROTOCOL_VERSION",
    "Ack",
    "ClientMessage",
    "CloseCode",
    "EntryText",
    "ErrorCode",
    "ErrorMsg",
    "Hello",
    "Joined",
    "Left",
    "OpMsg",
    "Origin",
    "Presence",
    "PresenceMsg",
    "ProtocolError",
    "ServerMessage",
    "Submit",
    "User",
    "Welcome",
    "decode_client",
    "decode_server",
    "encode",
    "encode_entry",
    "forget_entry",
    "remember_entry",
]

PROTOCOL_VERSION = 1
Origin = Literal["edit", "undo", "redo"]
MAX_NAME = 64


class ErrorCode(enum.StrEnum):
    """Stable codes of ``error`` messages (docs/protocol.md explains each)."""

    MALFORMED = "malformed"  # not JSON, or not a message object
    UNKNOWN_TYPE = "unknown_type"  # the "type" tag names no client message
    INVALID_MESSAGE = "invalid_message"  # a field missing, extra, or of the wrong type
    INVALID_OP = "invalid_op"  # the operation does not apply to the scene
    BASE_AHEAD = "base_ahead"  # submit.base is newer than the server's version
    STALE_SEQ = "stale_seq"  # submit.seq is older than the last one acknowledged
    PROTOCOL_VERSION = "protocol_version"  # hello.protocol is not supported
    BAD_PASSWORD = "bad_password"
    UNKNOWN_SESSION = "unknown_session"
    NOT_JOINED = "not_joined"  # anything but hello before welcome
    ALREADY_JOINED = "already_joined"  # a second hello on one connection
    RATE_LIMITED = "rate_limited"
    SESSION_FULL = "session_full"  # clients per session
    SCENE_FULL = "scene_full"  # components per scene
    INTERNAL = "internal"


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server uses."""

    NORMAL = 1000
    GOING_AWAY = 1001  # server shutting down; reconnect
    PROTOCOL = 1002
    POLICY = 1008
    TOO_BIG = 1009  # message larger than the limit
    INTERNAL = 1011
    BAD_PASSWORD = 4003
    UNKNOWN_SESSION = 4004
    PROTOCOL_VERSION = 4005
    SESSION_FULL = 4006
    RATE_LIMITED = 4029


class ProtocolError(Exception):
    """A message that cannot be accepted, with the code to report it under."""

    def __init__(self, code: ErrorCode, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.seq = seq


def _short_text(_inst: object, attr: attrs.Attribute[Any], value: str) -> None:
    if not 0 < len(value) <= MAX_NAME:
        raise ValueError(f"{attr.name} must be 1-{MAX_NAME} characters")


def _non_negative(_inst: object, attr: attrs.Attribute[Any], value: int) -> None:
    if value < 0:
        raise ValueError(f"{attr.name} must be >= 0")


@attrs.frozen
class User:
    """Who is editing: a stable id, a display name and a colour '#RRGGBB'."""

    id: str = attrs.field(validator=_short_text)
    name: str = attrs.field(validator=_short_text)
    color: str | None = None


# --- client to server -------------------------------------------------------


@attrs.frozen
class Hello:
    """First message on a connection: join ``session`` or ``create`` one."""

    protocol: int
    user: User
    client: str = attrs.field(validator=_short_text)
    session: str | None = None
    create: bool = False
    password: str | None = None
    since: int | None = attrs.field(default=None)

    def __attrs_post_init__(self) -> None:
        if self.create == (self.session is not None):
            raise ValueError("hello needs exactly one of 'session' and 'create': true")
        if self.since is not None and self.since < 0:
            raise ValueError("since must be >= 0")


@attrs.frozen
class Submit:
    """An operation made on the client's scene at version ``base``."""

    seq: int = attrs.field(validator=_non_negative)
    base: int = attrs.field(validator=_non_negative)
    op: Op
    origin: Origin = "edit"


@attrs.frozen
class Presence:
    """Where my cursor is (scene mm, or null) and what I have selected; not logged."""

    cursor: tuple[float, float] | None = None
    selection: tuple[str, ...] | None = None

    def __attrs_post_init__(self) -> None:
        if self.cursor is not None and not all(math.isfinite(v) for v in self.cursor):
            raise ValueError("cursor must be finite")
        if self.selection is not None and len(self.selection) > 10_000:
            raise ValueError("selection is too long")


ClientMessage = Hello | Submit | Presence

# --- server to client -------------------------------------------------------


@attrs.frozen
class OpMsg:
    """A sequenced operation, as broadcast and as logged."""

    version: int
    client: str
    seq: int
    user: User
    op: Op
    origin: Origin = "edit"
    time: float = 0.0


@attrs.frozen
class Welcome:
    """Answer to hello: the session at ``version``, as a snapshot or the ops since ``since``."""

    session: str
    version: int
    users: tuple[User, ...]
    snapshot: dict[str, Any] | None = None
    ops: tuple[OpMsg, ...] | None = None
    limits: dict[str, int] | None = None


@attrs.frozen
class Ack:
    """Your submit ``seq`` is durable at ``version``."""

    seq: int
    version: int


@attrs.frozen
class PresenceMsg:
    """Another user's presence, relayed."""

    user: User
    client: str
    cursor: tuple[float, float] | None = None
    selection: tuple[str, ...] | None = None


@attrs.frozen
class Joined:
    user: User
    client: str


@attrs.frozen
class Left:
    user: User
    client: str


@attrs.frozen
class ErrorMsg:
    """A refused message; the connection stays open unless a close follows."""

    code: str
    message: str
    seq: int | None = None


ServerMessage = Welcome | Ack | OpMsg | PresenceMsg | Joined | Left | ErrorMsg

_CLIENT_TAGS: dict[type, str] = {Hello: "hello", Submit: "submit", Presence: "presence"}
_SERVER_TAGS: dict[type, str] = {
    Welcome: "welcome",
    Ack: "ack",
    OpMsg: "op",
    PresenceMsg: "presence",
    Joined: "joined",
    Left: "left",
    ErrorMsg: "error",
}
configure_tagged_union(
    ClientMessage, converter, tag_name="type", tag_generator=_CLIENT_TAGS.__getitem__
)
configure_tagged_union(
    ServerMessage, converter, tag_name="type", tag_generator=_SERVER_TAGS.__getitem__
)


def encode(message: ClientMessage | ServerMessage) -> str:
    """JSON text of a message, tagged with its type."""
    kind = type(message)
    if kind is OpMsg:
        return encode_entry(cast(OpMsg, message)).text
    if kind is Ack:
        ack = cast(Ack, message)
        if type(ack.seq) is int and type(ack.version) is int:
            return f'{{"seq":{ack.seq},"version":{ack.version},"type":"ack"}}'
    union = ClientMessage if kind in _CLIENT_TAGS else ServerMessage
    return dumps(message, union)


# --- the hot path: one op entry encoded once ------------------------------------
#
# The server encodes every sequenced entry twice over: as the ``op`` message it
# broadcasts and as the row it logs (the user's and the operation's JSON).  The
# generic route (cattrs unstructure, then json.dumps) costs tens of
# microseconds per entry; an entry holding a Set, the common case by far, is
# written out directly here, with exactly the same text, and the result is kept
# for the store's writer thread.  tests/server/test_fast_paths.py checks both agree.

_compact = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_quote = json.encoder.encode_basestring_ascii  # what json.dumps writes for a str


class EntryText(NamedTuple):
    """An entry's ``op`` message text and the JSON of its user and of its operation."""

    text: str
    user_json: str
    op_json: str


@functools.lru_cache(maxsize=256)
def _user_json(user: User) -> str:
    return _compact({"id": user.id, "name": user.name, "color": user.color})


def _number(value: float) -> str:
    # json.dumps writes a finite float as its repr; _compact refuses NaN and infinities.
    return repr(value) if value - value == 0.0 else _compact(value)


def _op_json(op: Op) -> str:
    if type(op) is Set:
        return _compact({"id": op.id, "props": op.props, "old": op.old, "type": "set"})
    return dumps(op, Op)


# id(entry) -> (entry, its text), from sequencing until the entry is delivered;
# holding the entry keeps its id from being reused.  Only remember_entry and
# forget_entry (the event loop) change it; other threads only read it.
_ENCODED: OrderedDict[int, tuple[OpMsg, EntryText]] = OrderedDict()
_ENCODED_MAX = 4096  # a bound in case entries are never forgotten (a failed session)


def encode_entry(entry: OpMsg) -> EntryText:
    """The ``op`` message of ``entry`` (``encode(entry)``) and its parts; safe from any thread."""
    hit = _ENCODED.get(id(entry))
    if hit is not None and hit[0] is entry:
        return hit[1]
    if (
        type(entry.version) is not int
        or type(entry.seq) is not int
        or type(entry.time) is not float
        or entry.origin not in ("edit", "undo", "redo")
        or type(entry.user) is not User
        or type(entry.client) is not str
    ):
        text = dumps(entry, ServerMessage)
        return EntryText(text, dumps(entry.user), dumps(entry.op, Op))
    user_json = _user_json(entry.user)
    op_json = _op_json(entry.op)
    text = (
        f'{{"version":{entry.version},"client":{_quote(entry.client)},"seq":{entry.seq},'
        f'"user":{user_json},"op":{op_json},"origin":"{entry.origin}",'
        f'"time":{_number(entry.time)},"type":"op"}}'
    )
    return EntryText(text, user_json, op_json)


def remember_entry(entry: OpMsg) -> EntryText:
    """Encode ``entry`` now and keep the result for later ``encode_entry`` calls (any thread)."""
    out = encode_entry(entry)
    _ENCODED[id(entry)] = (entry, out)
    while len(_ENCODED) > _ENCODED_MAX:
        _ENCODED.popitem(last=False)
    return out


def forget_entry(entry: OpMsg) -> None:
    """Drop what :func:`remember_entry` kept for ``entry``."""
    _ENCODED.pop(id(entry), None)


def _decode(text: str | bytes, union: Any, tags: dict[type, str]) -> Any:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(ErrorCode.MALFORMED, f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.MALFORMED, "a message must be a JSON object")
    tag = data.get("type")
    if tag not in tags.values():
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE,
            f"unknown message type {tag!r}; expected one of {', '.join(sorted(tags.values()))}",
        )
    if tag == "submit" and union is ClientMessage:
        fast = _fast_submit(data)
        if fast is not None:
            return fast
    seq = data.get("seq") if isinstance(data.get("seq"), int) else None
    try:
        return structure(data, union, f"{tag} message")
    except WireError as exc:
        code = ErrorCode.INVALID_OP if "@ $.op" in str(exc) else ErrorCode.INVALID_MESSAGE
        raise ProtocolError(code, str(exc), seq) from None


_SUBMIT_KEYS = frozenset(("type", "seq", "base", "op", "origin"))
_SET_KEYS = frozenset(("type", "id", "props", "old"))
_ORIGINS = frozenset(("edit", "undo", "redo"))
_PROP_CLASSES = frozenset((str, int, float, bool, type(None)))


def _props(value: object) -> dict[str, Any] | None:
    if type(value) is not dict:
        return None
    for key, item in value.items():
        if type(key) is not str or item.__class__ not in _PROP_CLASSES:
            return None
    return value


def _fast_submit(data: dict[str, Any]) -> Submit | None:
    """A ``submit`` of a Set decoded without the generic converter, or None.

    None means "not this simple case or not valid": the converter then decodes
    it (and words any error).  Whatever this accepts, the converter decodes to
    an equal Submit (tests/server/test_fast_paths.py checks that).
    """
    if not data.keys() <= _SUBMIT_KEYS:
        return None
    seq, base, op = data.get("seq"), data.get("base"), data.get("op")
    origin = data.get("origin", "edit")
    if (
        type(seq) is not int
        or type(base) is not int
        or seq < 0
        or base < 0
        or type(origin) is not str
        or origin not in _ORIGINS
        or type(op) is not dict
        or op.get("type") != "set"
        or not op.keys() <= _SET_KEYS
        or type(op.get("id")) is not str
    ):
        return None
    props = _props(op.get("props"))
    old = _props(op.get("old", {}))
    if props is None or old is None:
        return None
    try:
        return Submit(seq, base, Set(op["id"], props, old), cast(Origin, origin))
    except (ValueError, TypeError):  # InvalidOperation is a ValueError
        return None


def decode_client(text: str | bytes) -> ClientMessage:
    """A client message from JSON text, or ProtocolError."""
    return cast(ClientMessage, _decode(text, ClientMessage, _CLIENT_TAGS))


def decode_server(text: str | bytes) -> ServerMessage:
    """A server message from JSON text, or ProtocolError."""
    return cast(ServerMessage, _decode(text, ServerMessage, _SERVER_TAGS))
