"""The operations behind the editor's gestures, built against a scene.  Pure.

Each function reads the scene as it is now and returns the operation that
makes the edit (``Noop`` when there is nothing to do); the Qt commands in
:mod:`optiverse.commands.qt` hold these and the document pushes them.
Locked components are never moved or rotated.  Coordinates are clamped to
the scene's range so a drag past the edge stops there instead of failing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

from optiverse.commands.ops import Batch, Delete, LeafOp, Noop, Op, Props, Set
from optiverse.scene.components import MAX_COORD_MM, Component
from optiverse.scene.scene import Scene
from optiverse.scene.zorder import is_valid_key, key_after, key_between

__all__ = [
    "ReorderWhere",
    "as_op",
    "compose_sets",
    "delete_op",
    "move_op",
    "normalize_angle",
    "reorder_op",
    "rotate_op",
]

ReorderWhere = Literal["front", "back", "forward", "backward"]


def as_op(ops: Iterable[LeafOp]) -> Op:
    """One operation for ``ops``: Noop if none, the op itself if one, else a Batch."""
    items = [op for op in ops if not isinstance(op, Noop)]
    if not items:
        return Noop()
    if len(items) == 1:
        return items[0]
    return Batch(tuple(items))


def _clamp(value: float) -> float:
    return max(-MAX_COORD_MM, min(MAX_COORD_MM, value))


def normalize_angle(deg: float) -> float:
    """``deg`` folded into [-180, 180), so repeated rotation stays inside the allowed range."""
    folded = math.fmod(deg + 180.0, 360.0)
    if folded < 0:
        folded += 360.0
    return folded - 180.0


def _movable(scene: Scene, ids: Iterable[str]) -> list[tuple[str, Component]]:
    out: list[tuple[str, Component]] = []
    seen: set[str] = set()
    for cid in ids:
        comp = scene.get(cid)
        if comp is not None and not comp.locked and cid not in seen:
            seen.add(cid)
            out.append((cid, comp))
    return out


def move_op(scene: Scene, ids: Iterable[str], dx_mm: float, dy_mm: float) -> Op:
    """Move the unlocked components of ``ids`` by (dx, dy) mm."""
    sets: list[LeafOp] = []
    for cid, comp in _movable(scene, ids):
        x, y = _clamp(comp.x_mm + dx_mm), _clamp(comp.y_mm + dy_mm)
        changed: Props = {k: v for k, v in (("x_mm", x), ("y_mm", y)) if getattr(comp, k) != v}
        if changed:
            sets.append(Set(cid, changed))
    return as_op(sets)


def rotate_op(scene: Scene, ids: Iterable[str], ddeg: float) -> Op:
    """Rotate the unlocked components of ``ids`` by ``ddeg`` counter-clockwise.

    One component turns in place; several turn together about their centroid,
    as a rigid group.
    """
    comps = _movable(scene, ids)
    if not comps or ddeg == 0:
        return Noop()
    cx = sum(c.x_mm for _, c in comps) / len(comps)
    cy = sum(c.y_mm for _, c in comps) / len(comps)
    cos, sin = math.cos(math.radians(ddeg)), math.sin(math.radians(ddeg))
    sets: list[LeafOp] = []
    for cid, comp in comps:
        props: Props = {"angle_deg": normalize_angle(comp.angle_deg + ddeg)}
        if len(comps) > 1:
            rx, ry = comp.x_mm - cx, comp.y_mm - cy
            props["x_mm"] = _clamp(cx + rx * cos - ry * sin)
            props["y_mm"] = _clamp(cy + rx * sin + ry * cos)
        changed = {k: v for k, v in props.items() if getattr(comp, k) != v}
        if changed:
            sets.append(Set(cid, changed))
    return as_op(sets)


def delete_op(scene: Scene, ids: Iterable[str]) -> Op:
    """Delete the components of ``ids`` that exist (each carries its state for undo)."""
    seen: set[str] = set()
    deletes: list[LeafOp] = []
    for cid in ids:
        if cid in scene and cid not in seen:
            seen.add(cid)
            deletes.append(Delete(cid))
    return as_op(deletes)


def reorder_op(scene: Scene, ids: Iterable[str], where: ReorderWhere) -> Op:
    """Change the z keys of ``ids`` to bring them to the front/back or one step.

    Only the selected components get new keys (unless equal keys leave no room
    between two neighbours; then the whole scene is re-keyed), so a reorder
    never conflicts with another user's reorder of other components.
    """
    order = [cid for cid, _ in scene.in_draw_order()]
    selected = set(ids) & set(order)
    if not selected:
        return Noop()
    new = _reordered(order, selected, where)
    if new == order:
        return Noop()
    keys = _keys_for_moved(scene, new, selected) or _rekey_all(new)
    sets: list[LeafOp] = []
    for cid in new:
        comp = scene.components[cid]
        if keys.get(cid, comp.z) != comp.z:
            sets.append(Set(cid, {"z": keys[cid]}))
    return as_op(sets)


def _reordered(order: list[str], selected: set[str], where: ReorderWhere) -> list[str]:
    if where == "front":
        return [c for c in order if c not in selected] + [c for c in order if c in selected]
    if where == "back":
        return [c for c in order if c in selected] + [c for c in order if c not in selected]
    new = list(order)
    if where == "forward":
        # Top down, so a run of selected components moves up together.
        for i in range(len(new) - 2, -1, -1):
            if new[i] in selected and new[i + 1] not in selected:
                new[i], new[i + 1] = new[i + 1], new[i]
    elif where == "backward":
        for i in range(1, len(new)):
            if new[i] in selected and new[i - 1] not in selected:
                new[i], new[i - 1] = new[i - 1], new[i]
    else:
        raise ValueError(f"reorder where must be front, back, forward or backward, not {where!r}")
    return new


def _keys_for_moved(scene: Scene, new: Sequence[str], selected: set[str]) -> dict[str, str] | None:
    """Keys for the selected components only, or None if some run has no room."""
    keys: dict[str, str] = {}
    i = 0
    while i < len(new):
        if new[i] not in selected:
            i += 1
            continue
        j = i
        while j < len(new) and new[j] in selected:
            j += 1
        lo = scene.components[new[i - 1]].z if i > 0 else None
        hi = scene.components[new[j]].z if j < len(new) else None
        if lo is not None and hi is not None and not lo < hi:
            return None
        prev = lo
        for cid in new[i:j]:
            key = key_between(prev, hi)
            if not is_valid_key(key):
                return None
            keys[cid] = prev = key
        i = j
    return keys


def _rekey_all(new: Sequence[str]) -> dict[str, str]:
    keys: dict[str, str] = {}
    prev: str | None = None
    for cid in new:
        keys[cid] = prev = key_after(prev)
    return keys


def compose_sets(first: Op, second: Op) -> Op:
    """One op with the effect of ``first`` then ``second``, both made only of Sets.

    Per component and property it keeps the first ``old`` and the last new
    value (dropping properties that end where they started): what merging the
    steps of a drag into one undo entry needs.
    """
    props: dict[str, Props] = {}
    old: dict[str, Props] = {}
    for op in (first, second):
        for item in op.ops if isinstance(op, Batch) else (op,):
            if isinstance(item, Noop):
                continue
            if not isinstance(item, Set):
                raise ValueError(f"compose_sets composes Sets, not {item!r}")
            props.setdefault(item.id, {}).update(item.props)
            target = old.setdefault(item.id, {})
            for key, value in item.old.items():
                target.setdefault(key, value)
    sets: list[LeafOp] = []
    for cid, new in props.items():
        # A property dragged back to where it started is no change at all.
        changed = {k: v for k, v in new.items() if k not in old[cid] or old[cid][k] != v}
        if changed:
            sets.append(Set(cid, changed, {k: v for k, v in old[cid].items() if k in changed}))
    return as_op(sets)
