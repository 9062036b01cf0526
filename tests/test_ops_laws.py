"""The OT laws of the scene operations, checked on random scenes and operations."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optiverse.commands import (
    Batch,
    Create,
    Delete,
    Noop,
    Op,
    Set,
    applied,
    apply,
    invert,
    transform,
)
from optiverse.errors import InvalidOperation, PropertyError, UnknownComponent
from optiverse.scene import Scene, component_props
from optiverse.wire import op_from_json, op_to_json
from tests.strategies import ops, scenes

LAWS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KINDS_OF_OP = ["create", "delete", "set", "batch", "noop"]


def kind_of(op: Op) -> str:
    return {Create: "create", Delete: "delete", Set: "set", Batch: "batch", Noop: "noop"}[type(op)]


def assert_valid(scene: Scene) -> None:
    for comp in scene.components.values():
        # Rebuilding runs every validator again.
        assert type(comp)(**component_props(comp)) == comp


@st.composite
def concurrent_pair(draw: st.DrawFn, kind_a: str, kind_b: str) -> tuple[Scene, Op, Op]:
    scene = draw(scenes().filter(lambda s: len(s) > 0))
    # Both sides may create the same id: two users undoing the same delete.
    fresh = ["n1"]
    a = draw(ops(scene, fresh, kind_a))
    b = draw(ops(scene, fresh if draw(st.booleans()) else ["m1"], kind_b))
    assert kind_of(a) == kind_a and kind_of(b) == kind_b
    return scene, a, b


@pytest.mark.parametrize("kind_a", KINDS_OF_OP)
@pytest.mark.parametrize("kind_b", KINDS_OF_OP)
@LAWS
@given(data=st.data())
def test_tp1_convergence(kind_a: str, kind_b: str, data: st.DataObject) -> None:
    scene, a, b = data.draw(concurrent_pair(kind_a, kind_b))
    a2, b2 = transform(a, b)
    left = applied(applied(scene, a), b2)
    right = applied(applied(scene, b), a2)
    assert left == right
    assert_valid(left)


@LAWS
@given(data=st.data())
def test_later_set_wins_and_keeps_an_exact_inverse(data: st.DataObject) -> None:
    scene = data.draw(scenes().filter(lambda s: len(s) > 0))
    cid = data.draw(st.sampled_from(sorted(scene.components)))
    a = apply(scene.copy(), Set(cid, {"x_mm": 1.0}))
    b = apply(scene.copy(), Set(cid, {"x_mm": 2.0, "y_mm": 3.0}))
    a2, b2 = transform(a, b)
    after_a = applied(scene, a)
    final = applied(after_a, b2)
    assert final.components[cid].x_mm == 2.0
    assert isinstance(a2, Noop) or "x_mm" not in a2.props  # type: ignore[union-attr]
    assert applied(final, invert(b2)) == after_a


@LAWS
@given(data=st.data())
def test_apply_then_invert_is_identity(data: st.DataObject) -> None:
    scene = data.draw(scenes())
    op = data.draw(ops(scene))
    work = scene.copy()
    effective = apply(work, op)
    apply(work, invert(effective))
    assert work == scene


@LAWS
@given(data=st.data())
def test_json_round_trip_is_lossless(data: st.DataObject) -> None:
    scene = data.draw(scenes())
    op = data.draw(ops(scene))
    assert op_from_json(op_to_json(op)) == op
    assert op_to_json(op_from_json(op_to_json(op))) == op_to_json(op)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_random_sequences_never_corrupt_a_scene(data: st.DataObject) -> None:
    scene = data.draw(scenes())
    history: list[tuple[Scene, Op]] = []
    for step in range(data.draw(st.integers(1, 25))):
        op = data.draw(ops(scene, [f"s{step}"]))
        before = scene.copy()
        effective = apply(scene, op)
        history.append((before, effective))
        assert_valid(scene)
    # Undoing everything in reverse order goes back through every state.
    for before, effective in reversed(history):
        apply(scene, invert(effective))
        assert scene == before


def test_invalid_operations_raise_and_leave_the_scene_unchanged() -> None:
    scene = Scene()
    apply(scene, Create("L1", "lens"))
    snapshot = scene.copy()
    with pytest.raises(UnknownComponent):
        apply(scene, Delete("nope"))
    with pytest.raises(InvalidOperation, match="already exists"):
        apply(scene, Create("L1", "mirror"))
    with pytest.raises(PropertyError, match=r"component 'L1': property 'efl_mm'.*non-zero"):
        apply(scene, Set("L1", {"efl_mm": 0}))
    with pytest.raises(PropertyError, match="unknown to a lens"):
        apply(scene, Set("L1", {"reflectivity": 0.5}))
    # A batch failing half-way rolls back what it had done.
    with pytest.raises(PropertyError):
        apply(
            scene,
            Batch.of(
                [Create("M1", "mirror"), Set("L1", {"x_mm": 5.0}), Set("M1", {"reflectivity": 2})]
            ),
        )
    assert scene == snapshot


def test_transform_rules_from_the_table() -> None:
    set_x1 = Set("A", {"x_mm": 1.0}, {"x_mm": 0.0})
    set_x2 = Set("A", {"x_mm": 2.0, "y_mm": 5.0}, {"x_mm": 0.0, "y_mm": 0.0})
    assert transform(set_x1, set_x2) == (Noop(), Set("A", set_x2.props, {"x_mm": 1.0, "y_mm": 0.0}))
    delete = Delete("A", "lens", {"x_mm": 0.0})
    assert transform(delete, set_x1) == (Delete("A", "lens", {"x_mm": 1.0}), Noop())
    assert transform(set_x1, delete) == (Noop(), Delete("A", "lens", {"x_mm": 1.0}))
    assert transform(delete, delete) == (Noop(), Noop())
    other = Set("B", {"x_mm": 1.0})
    assert transform(set_x1, other) == (set_x1, other)
