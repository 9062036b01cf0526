"""The one cattrs converter that defines the JSON wire and log format.

Operations are a tagged union on ``"type"``; wire messages register on the
same converter (``optiverse.collab.messages``).  Decoding is strict: an
unknown tag, a missing or extra key, or a value of the wrong type is a
:class:`WireError` with a message that says where, never a traceback.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar, cast

import cattrs
from cattrs.preconf.json import make_converter
from cattrs.strategies import configure_tagged_union

from optiverse.commands.ops import Batch, Create, Delete, Noop, Op, Set
from optiverse.errors import OptiverseError

__all__ = [
    "OP_TAGS",
    "WireError",
    "converter",
    "dumps",
    "loads",
    "op_from_json",
    "op_to_json",
    "structure",
    "unstructure",
]

T = TypeVar("T")

OP_TAGS: dict[type, str] = {
    Create: "create",
    Delete: "delete",
    Set: "set",
    Batch: "batch",
    Noop: "noop",
}


class WireError(OptiverseError, ValueError):
    """Raised when JSON text or data does not decode to the expected type."""


converter = make_converter(forbid_extra_keys=True)


def _strict(kind: type) -> None:
    # cattrs would coerce (str(5) == "5"); on the wire a wrong type is an error.
    def check(value: Any, _type: Any) -> Any:
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        return value

    converter.register_structure_hook(kind, check)


for _kind in (str, int, float, bool):
    _strict(_kind)

_LEAF_OPS = Create | Delete | Set | Noop
configure_tagged_union(_LEAF_OPS, converter, tag_name="type", tag_generator=OP_TAGS.__getitem__)
configure_tagged_union(Op, converter, tag_name="type", tag_generator=OP_TAGS.__getitem__)


def unstructure(obj: Any, cls: Any = None) -> Any:
    """``obj`` as JSON-ready data (pass the union type, e.g. ``Op``, to get its tag)."""
    return converter.unstructure(obj, cls) if cls is not None else converter.unstructure(obj)


def structure(data: Any, cls: type[T] | Any, what: str | None = None) -> T:
    """``data`` as an instance of ``cls``, or WireError saying what is wrong and where.

    ``what`` names the thing in the error message (default: the class name).
    """
    try:
        result: T = converter.structure(data, cls)
    except cattrs.BaseValidationError as exc:
        detail = "; ".join(cattrs.transform_error(exc, format_exception=_describe))
        raise WireError(f"invalid {what or _name(cls)}: {detail}") from None
    except KeyError as exc:
        # configure_tagged_union raises a bare KeyError for a missing or unknown tag.
        raise WireError(
            f"invalid {what or _name(cls)}: unknown or missing type tag {exc}"
        ) from None
    except (TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise WireError(f"invalid {what or _name(cls)}: {exc}") from None
    return result


def dumps(obj: Any, cls: Any = None) -> str:
    """Compact JSON text of ``obj``."""
    return json.dumps(unstructure(obj, cls), separators=(",", ":"), allow_nan=False)


def loads(text: str | bytes, cls: type[T] | Any) -> T:
    """Parse and structure JSON text; WireError on anything malformed."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"malformed JSON: {exc}") from None
    result: T = structure(data, cls)
    return result


def op_from_json(text: str | bytes) -> Op:
    """An operation from its JSON text."""
    return cast(Op, loads(text, Op))


def op_to_json(op: Op) -> str:
    """The JSON text of an operation, with its type tag."""
    return dumps(op, Op)


def _describe(exc: BaseException, _type: Any) -> str:
    if isinstance(exc, OptiverseError | TypeError | ValueError):
        return str(exc)
    if isinstance(exc, KeyError):
        return f"unknown or missing type tag {exc}"
    return cattrs.v.format_exception(exc, _type)


def _name(cls: Any) -> str:
    if cls is Op:
        return "operation"
    return getattr(cls, "__name__", None) or str(cls)
