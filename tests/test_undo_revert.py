"""Per-user undo computed against the current scene (optiverse.commands.undo.revert)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from optiverse.commands import Create, Delete, Op, Set, apply
from optiverse.commands.undo import revert
from optiverse.scene import Scene
from tests.strategies import ops, scenes


def _undo(scene: Scene, applied: Op) -> Op:
    op = revert(applied, scene)
    assert op is not None
    return apply(scene, op)


def test_undo_of_a_set_restores_my_old_value_even_after_others_changed_it() -> None:
    scene = Scene()
    apply(scene, Create("L", "lens", {"efl_mm": 100.0}))
    mine = apply(scene, Set("L", {"efl_mm": 50.0}))
    apply(scene, Set("L", {"efl_mm": 75.0}))  # someone else, later
    undone = _undo(scene, mine)
    assert scene.components["L"].efl_mm == 100.0
    _undo(scene, undone)  # redo puts back what was there when I pressed undo
    assert scene.components["L"].efl_mm == 75.0


def test_undo_of_a_create_keeps_the_current_state_for_redo() -> None:
    scene = Scene()
    mine = apply(scene, Create("M", "mirror"))
    apply(scene, Set("M", {"x_mm": 30.0}))  # someone else moved it
    undone = _undo(scene, mine)
    assert "M" not in scene
    _undo(scene, undone)
    assert scene.components["M"].x_mm == 30.0


def test_undo_of_a_delete_recreates_under_the_same_id() -> None:
    scene = Scene()
    apply(scene, Create("S", "source", {"n_rays": 21}))
    mine = apply(scene, Delete("S"))
    _undo(scene, mine)
    assert scene.components["S"].n_rays == 21


def test_entries_on_components_someone_deleted_are_obsolete() -> None:
    scene = Scene()
    apply(scene, Create("L", "lens"))
    mine = apply(scene, Set("L", {"x_mm": 1.0}))
    apply(scene, Delete("L"))  # someone else
    assert revert(mine, scene) is None


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_undo_n_then_redo_n_is_the_identity(data: st.DataObject) -> None:
    scene = data.draw(scenes())
    start = scene.copy()
    done = [
        apply(scene, data.draw(ops(scene, [f"n{i}"]))) for i in range(data.draw(st.integers(1, 8)))
    ]
    end = scene.copy()
    undone = []
    for op in reversed(done):
        undo = revert(op, scene)
        undone.append(apply(scene, undo) if undo is not None else None)
    assert scene == start
    for undo_applied in reversed(undone):
        if undo_applied is not None:
            redo = revert(undo_applied, scene)
            assert redo is not None
            apply(scene, redo)
    assert scene == end
