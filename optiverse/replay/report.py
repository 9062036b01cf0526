"""Text the replay CLI prints: op summaries, the log table, diffs.

Times are UTC, so the same log prints the same on every machine.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Iterator, Mapping

from optiverse.collab.messages import OpMsg, User
from optiverse.commands import Batch, Create, Delete, Noop, Op
from optiverse.commands.ops import LeafOp
from optiverse.replay.replay import ComponentDiff, Touch, format_value
from optiverse.scene import PropValue

__all__ = [
    "format_diff",
    "format_time",
    "format_touches",
    "format_user",
    "log_table",
    "summarize_op",
]

_MAX_PROPS = 4
_MAX_BATCH = 3


def format_time(when: float) -> str:
    """``2026-11-26 12:00:01.123`` (UTC)."""
    moment = _dt.datetime.fromtimestamp(when, tz=_dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def format_user(user: User) -> str:
    return user.name if user.name == user.id else f"{user.name} ({user.id})"


def _props(props: Mapping[str, PropValue], old: Mapping[str, PropValue] | None = None) -> str:
    parts = []
    for key, value in list(props.items())[:_MAX_PROPS]:
        new = format_value(value)
        if old is not None and key in old:
            parts.append(f"{key} {format_value(old[key])}->{new}")
        else:
            parts.append(f"{key}={new}")
    if len(props) > _MAX_PROPS:
        parts.append(f"+{len(props) - _MAX_PROPS} more")
    return ", ".join(parts)


def _leaf(op: LeafOp) -> str:
    if isinstance(op, Noop):
        return "noop"
    if isinstance(op, Create):
        return f"create {op.kind} {op.id}"
    if isinstance(op, Delete):
        return f"delete {op.kind or 'component'} {op.id}"
    return f"set {op.id} {_props(op.props, op.old)}"


def summarize_op(op: Op) -> str:
    """One line describing ``op``: ``set L1 x_mm 0.0->12.5``, ``batch of 3: ...``."""
    if not isinstance(op, Batch):
        return _leaf(op)
    shown = "; ".join(_leaf(o) for o in op.ops[:_MAX_BATCH])
    more = f"; +{len(op.ops) - _MAX_BATCH} more" if len(op.ops) > _MAX_BATCH else ""
    return f"batch of {len(op.ops)}: {shown}{more}"


def log_table(entries: Iterable[OpMsg]) -> Iterator[str]:
    """The log as aligned rows under a header."""
    rows = [
        (
            str(e.version),
            format_time(e.time),
            format_user(e.user),
            e.origin,
            summarize_op(e.op),
        )
        for e in entries
    ]
    header = ("VERSION", "TIME (UTC)", "USER", "ORIGIN", "OPERATION")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        cells = [row[0].rjust(widths[0])] + [row[i].ljust(widths[i]) for i in range(1, 4)]
        yield "  ".join([*cells, row[4]])


def format_touches(touches: Iterable[Touch]) -> str:
    """``Ann v12, Bob v15 (undo)``."""
    return ", ".join(
        f"{format_user(t.user)} v{t.version}" + ("" if t.origin == "edit" else f" ({t.origin})")
        for t in touches
    )


def format_diff(diffs: Iterable[ComponentDiff], a: int, b: int) -> Iterator[str]:
    """The diff from version ``a`` to ``b``, one block per component."""
    count = 0
    for d in diffs:
        count += 1
        by = format_touches(d.by)
        if d.status == "added":
            yield f"+ {d.kind} {d.id}  added by {by or 'unknown'}"
        elif d.status == "removed":
            yield f"- {d.kind} {d.id}  removed by {by or 'unknown'}"
        else:
            yield f"~ {d.kind} {d.id}"
            for change in d.changes:
                yield (
                    f"    {change.prop}: {format_value(change.old)} -> {format_value(change.new)}"
                    f"  by {format_touches(change.by) or 'unknown'}"
                )
    if count == 0:
        yield f"no differences between version {a} and version {b}"
