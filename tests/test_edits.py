"""The pure op builders behind the editor's gestures (optiverse/commands/edits.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optiverse.commands import Batch, Create, Noop, Set, apply
from optiverse.commands.edits import (
    compose_sets,
    delete_op,
    move_op,
    normalize_angle,
    reorder_op,
    rotate_op,
)
from optiverse.scene import Scene
from optiverse.scene.components import MAX_COORD_MM


def scene_of(*specs: tuple[str, str, dict[str, object]]) -> Scene:
    scene = Scene()
    for cid, kind, props in specs:
        apply(scene, Create(cid, kind, dict(props)))  # type: ignore[arg-type]
    return scene


def draw_order(scene: Scene) -> list[str]:
    return [cid for cid, _ in scene.in_draw_order()]


def test_move_skips_locked_and_missing_components_and_clamps() -> None:
    scene = scene_of(
        ("a", "lens", {"x_mm": 1.0}),
        ("b", "lens", {"locked": True}),
        ("c", "mirror", {"x_mm": MAX_COORD_MM - 1}),
    )
    op = move_op(scene, ["a", "b", "c", "gone", "a"], 5.0, 0.0)
    assert op == Batch((Set("a", {"x_mm": 6.0}), Set("c", {"x_mm": MAX_COORD_MM})))
    assert move_op(scene, ["b"], 5.0, 5.0) == Noop()


def test_rotate_one_in_place_several_about_their_centroid() -> None:
    scene = scene_of(("a", "lens", {"x_mm": -10.0}), ("b", "lens", {"x_mm": 10.0}))
    assert rotate_op(scene, ["a"], 90.0) == Set("a", {"angle_deg": 90.0})
    apply(scene, rotate_op(scene, ["a", "b"], 90.0))
    a, b = scene.components["a"], scene.components["b"]
    assert (round(a.x_mm, 9), round(a.y_mm, 9)) == (0.0, -10.0)
    assert (round(b.x_mm, 9), round(b.y_mm, 9)) == (0.0, 10.0)
    assert a.angle_deg == b.angle_deg == 90.0


@given(st.floats(-1e6, 1e6, allow_nan=False))
def test_normalize_angle_stays_in_range(deg: float) -> None:
    folded = normalize_angle(deg)
    assert -180.0 <= folded < 180.0


def test_delete_op_names_existing_components_once() -> None:
    scene = scene_of(("a", "lens", {}), ("b", "block", {}))
    op = delete_op(scene, ["b", "x", "b", "a"])
    assert isinstance(op, Batch) and [o.id for o in op.ops] == ["b", "a"]  # type: ignore[union-attr]
    assert delete_op(scene, ["x"]) == Noop()


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("front", ["a", "c", "e", "b", "d"]),
        ("back", ["b", "d", "a", "c", "e"]),
        ("forward", ["a", "c", "b", "e", "d"]),
        ("backward", ["b", "a", "d", "c", "e"]),
    ],
)
def test_reorder(where: str, expected: list[str]) -> None:
    scene = scene_of(
        *[
            (cid, "lens", {"z": z})
            for cid, z in zip("abcde", ["a1", "a3", "a5", "a7", "a9"], strict=True)
        ]
    )
    op = reorder_op(scene, ["b", "d"], where)  # type: ignore[arg-type]
    assert {o.id for o in (op.ops if isinstance(op, Batch) else [op])} <= {"b", "d"}  # type: ignore[union-attr]
    apply(scene, op)
    assert draw_order(scene) == expected


def test_reorder_with_equal_keys_rekeys_the_scene() -> None:
    scene = scene_of(
        ("a", "lens", {"z": "a0"}), ("b", "lens", {"z": "a0"}), ("c", "lens", {"z": "a0"})
    )
    apply(scene, reorder_op(scene, ["a"], "forward"))
    assert draw_order(scene) == ["b", "a", "c"]
    assert reorder_op(scene, ["c"], "front") == Noop()


@given(
    st.lists(
        st.tuples(
            st.sampled_from("abcdef"), st.sampled_from(["front", "back", "forward", "backward"])
        ),
        max_size=30,
    )
)
def test_reorder_sequences_keep_keys_valid_and_distinct_order(
    steps: list[tuple[str, str]],
) -> None:
    scene = scene_of(*[(cid, "mirror", {}) for cid in "abcdef"])  # all share the default key
    for cid, where in steps:
        before = draw_order(scene)
        apply(scene, reorder_op(scene, [cid], where))  # type: ignore[arg-type]
        after = draw_order(scene)
        assert sorted(after) == sorted(before)
        if where == "front":
            assert after[-1] == cid
        if where == "back":
            assert after[0] == cid


def test_compose_sets_keeps_first_old_and_last_new() -> None:
    first = Batch((Set("a", {"x_mm": 1.0}, {"x_mm": 0.0}), Set("b", {"y_mm": 1.0}, {"y_mm": 0.0})))
    second = Set("a", {"x_mm": 2.0, "y_mm": 5.0}, {"x_mm": 1.0, "y_mm": 4.0})
    assert compose_sets(first, second) == Batch(
        (
            Set("a", {"x_mm": 2.0, "y_mm": 5.0}, {"x_mm": 0.0, "y_mm": 4.0}),
            Set("b", {"y_mm": 1.0}, {"y_mm": 0.0}),
        )
    )
    with pytest.raises(ValueError, match="composes Sets"):
        compose_sets(first, Create("z", "lens"))


def test_compose_sets_drops_what_ends_where_it_started() -> None:
    there = Set("a", {"x_mm": 3.0, "y_mm": 1.0}, {"x_mm": 0.0, "y_mm": 0.0})
    back = Set("a", {"x_mm": 0.0}, {"x_mm": 3.0})
    assert compose_sets(there, back) == Set("a", {"y_mm": 1.0}, {"y_mm": 0.0})
    assert compose_sets(back, Set("a", {"x_mm": 3.0}, {"x_mm": 0.0})) == Noop()
