"""Hypothesis strategies: scenes, and operations valid on them (law and fuzz tests)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from optiverse.commands import Batch, Create, Delete, Noop, Op, Set, apply
from optiverse.scene import KINDS, PropSpec, Scene, make_component, prop_specs
from optiverse.scene.zorder import DIGITS, is_valid_key

IDS = [f"c{i}" for i in range(8)]


def value_for(spec: PropSpec) -> st.SearchStrategy[Any]:
    if spec.type == "float":
        lo = spec.lo if spec.lo is not None else -1e6
        hi = spec.hi if spec.hi is not None else 1e6
        lo, hi = max(lo, -1000.0), min(hi, 1000.0)
        values = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
        if spec.lo_open:
            values = values.filter(lambda v: v > lo)
        if spec.nonzero:
            values = values.filter(lambda v: v != 0)
        return values
    if spec.type == "int":
        return st.integers(int(spec.lo or 0), int(spec.hi or 100))
    if spec.type == "bool":
        return st.booleans()
    if spec.type == "color":
        return st.sampled_from(["#DC143C", "#00FF00", "#0000ff", "#123456"])
    if spec.type == "zkey":
        return z_keys()
    return st.text(max_size=12)


def z_keys() -> st.SearchStrategy[str]:
    """Valid z keys: an integer part ('a0'..'az', 'b00'..) and a short fraction."""
    integers = st.builds(lambda d: "a" + d, st.sampled_from(DIGITS)) | st.builds(
        lambda d: "b" + d, st.text(DIGITS, min_size=2, max_size=2)
    )
    fractions = st.text(DIGITS, max_size=3).map(lambda f: f.rstrip("0"))
    return st.builds(str.__add__, integers, fractions).filter(is_valid_key)


@st.composite
def props_for(draw: st.DrawFn, kind: str, min_size: int = 0) -> dict[str, Any]:
    specs = prop_specs(kind)
    names = draw(
        st.lists(st.sampled_from(sorted(specs)), min_size=min_size, max_size=4, unique=True)
    )
    return {name: draw(value_for(specs[name])) for name in names}


@st.composite
def scenes(draw: st.DrawFn, max_size: int = 5) -> Scene:
    scene = Scene()
    for cid in draw(st.lists(st.sampled_from(IDS), max_size=max_size, unique=True)):
        kind = draw(st.sampled_from(sorted(KINDS)))
        scene.components[cid] = make_component(kind, draw(props_for(kind)))
    return scene


@st.composite
def leaf_ops(draw: st.DrawFn, scene: Scene, fresh: list[str], kind: str | None = None) -> Op:
    """One Create, Delete, Set or Noop valid on ``scene``; Creates take ids from ``fresh``."""
    choices = ["noop"]
    if fresh:
        choices.append("create")
    if scene.components:
        choices += ["set", "set", "set", "delete"]
    choice = kind if kind in choices else draw(st.sampled_from(choices))
    if choice == "create":
        kind = draw(st.sampled_from(sorted(KINDS)))
        return Create(draw(st.sampled_from(fresh)), kind, draw(props_for(kind)))
    if choice == "noop":
        return Noop()
    cid = draw(st.sampled_from(sorted(scene.components)))
    comp = scene.components[cid]
    if choice == "delete":
        return Delete(cid)
    props = draw(props_for(comp.kind, min_size=1))
    return Set(cid, props, {k: getattr(comp, k) for k in props})


@st.composite
def ops(
    draw: st.DrawFn, scene: Scene, fresh: list[str] | None = None, kind: str | None = None
) -> Op:
    """An operation valid on ``scene``, as ``apply`` returns it.

    ``kind`` asks for one type ("create", "delete", "set", "noop", "batch")
    where the scene allows it; otherwise the type is drawn at random.
    """
    if fresh is None:
        fresh = [f"n{draw(st.integers(0, 10**6))}"]
    work = scene.copy()
    if kind == "batch" or (kind is None and draw(st.integers(0, 3)) == 0):
        items: list[Op] = []
        for _ in range(draw(st.integers(1, 3))):
            available = [f for f in fresh if f not in work.components]
            items.append(apply(work, draw(leaf_ops(work, available))))
        return Batch.of(items)
    available = [f for f in fresh if f not in work.components]
    return apply(work, draw(leaf_ops(work, available, kind)))
