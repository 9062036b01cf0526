"""SceneDocument without a server, and in a simulated session: the API the UI builds on."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from optiverse.collab.messages import User
from optiverse.errors import PropertyError, UnknownComponent
from optiverse.scene import Scene
from optiverse.scene.fileformat import read_scene
from optiverse.scene.zorder import FIRST_KEY, key_after, key_before
from optiverse.ui.document import PASTE_OFFSET_MM, SceneDocument, SessionActive
from tests.qt.simnet import SESSION, SimServer


@pytest.fixture
def doc(qtbot: QtBot) -> SceneDocument:
    return SceneDocument(User("u1", "Ann"))


def order(doc: SceneDocument) -> list[str]:
    return [cid for cid, _ in doc.scene.in_draw_order()]


def test_new_components_get_unique_ids_and_go_on_top(doc: SceneDocument) -> None:
    first = doc.add_component("lens")
    more = doc.add_components([("mirror", {}), ("source", {"z": key_before(FIRST_KEY)})])
    assert len({first, *more}) == 3
    assert all(cid.startswith(doc.client_id + "-") for cid in (first, *more))
    assert order(doc) == [more[1], first, more[0]]  # the given z is kept
    assert doc.undo_stack.count() == 2
    assert doc.undo_stack.undoText() == "Add 2 components"


def test_invalid_props_raise_and_push_nothing(doc: SceneDocument) -> None:
    lens = doc.add_component("lens")
    with pytest.raises(PropertyError, match="efl_mm"):
        doc.add_component("lens", {"efl_mm": 0.0})
    with pytest.raises(PropertyError, match="wavelength_nm"):
        doc.set_properties(lens, {"wavelength_nm": 500.0})
    with pytest.raises(UnknownComponent):
        doc.set_properties("nope", {"name": "x"})
    doc.set_properties(lens, {"efl_mm": 100.0})  # unchanged: nothing to undo
    assert doc.undo_stack.count() == 1 and len(doc.scene) == 1


def test_paste_offsets_and_keeps_stacking_order(doc: SceneDocument) -> None:
    doc.add_component("block")
    high, low = key_after(FIRST_KEY), key_before(FIRST_KEY)
    ids = doc.paste([("lens", {"x_mm": 5.0, "z": high}), ("mirror", {"x_mm": 1.0, "z": low})])
    lens, mirror = (doc.scene.components[i] for i in ids)
    assert lens.x_mm == 5.0 + PASTE_OFFSET_MM and lens.y_mm == PASTE_OFFSET_MM
    assert mirror.x_mm == 1.0 + PASTE_OFFSET_MM
    assert order(doc)[1:] == [ids[1], ids[0]]
    assert doc.undo_stack.undoText() == "Paste 2 components"
    assert doc.undo()
    assert len(doc.scene) == 1


def test_locked_components_do_not_move_or_turn(doc: SceneDocument) -> None:
    fixed = doc.add_component("lens", {"locked": True})
    doc.move_components([fixed], 10.0, 0.0)
    doc.rotate_components([fixed], 45.0)
    assert doc.undo_stack.count() == 1
    assert doc.scene.components[fixed].x_mm == 0.0


def test_drag_steps_merge_and_a_drag_back_to_the_start_leaves_no_entry(
    doc: SceneDocument,
) -> None:
    lens = doc.add_component("lens")
    for _ in range(5):
        doc.move_components([lens], 1.0, 0.0, final=False)
    doc.move_components([lens], 0.0, 0.0, final=True)
    assert doc.undo_stack.count() == 2
    for _ in range(5):
        doc.move_components([lens], 2.0, 0.0, final=False)
    doc.move_components([lens], -10.0, 0.0, final=True)
    assert doc.undo_stack.count() == 2
    assert doc.scene.components[lens].x_mm == 5.0
    # A different selection, or another kind of edit, starts a new entry.
    other = doc.add_component("mirror")
    doc.move_components([lens], 1.0, 0.0, final=False)
    doc.move_components([lens, other], 1.0, 0.0, final=False)
    doc.rotate_components([lens, other], 5.0, final=False)
    assert doc.undo_stack.count() == 6
    assert doc.undo()  # the rotation: undo also ends the drag
    doc.rotate_components([lens, other], 5.0, final=False)
    assert doc.undo_stack.count() == 6


def test_macro_is_one_entry_nested_macros_join_and_a_failing_one_does_nothing(
    doc: SceneDocument,
) -> None:
    changed: list[set[str]] = []
    doc.componentsChanged.connect(changed.append)
    with doc.macro("Outer"):
        a = doc.add_component("lens")
        with doc.macro("Inner"):
            doc.set_properties(a, {"name": "A"})
        assert a not in doc.scene  # applied when the macro ends
    assert doc.scene.components[a].name == "A"
    assert doc.undo_stack.count() == 1 and doc.undo_stack.undoText() == "Outer"
    assert changed == [{a}]
    with pytest.raises(PropertyError), doc.macro("Broken"):
        doc.add_component("mirror")
        doc.set_properties(a, {"efl_mm": 0.0})
    assert len(doc.scene) == 1 and doc.undo_stack.count() == 1
    with pytest.raises(RuntimeError), doc.macro("No undo inside"):
        doc.undo()


def test_components_changed_for_edits_undo_and_redo(doc: SceneDocument) -> None:
    changed: list[set[str]] = []
    doc.componentsChanged.connect(changed.append)
    lens = doc.add_component("lens")
    doc.undo()
    doc.redo()
    assert changed == [{lens}, {lens}, {lens}]


def test_modified_state_follows_the_clean_index(doc: SceneDocument) -> None:
    seen: list[bool] = []
    doc.modifiedChanged.connect(seen.append)
    assert not doc.is_modified
    doc.add_component("lens")
    assert doc.is_modified
    doc.mark_saved()
    assert not doc.is_modified
    doc.undo()
    assert doc.is_modified
    assert seen == [True, False, True]


def test_load_and_new_scene_replace_a_local_document(doc: SceneDocument) -> None:
    resets: list[None] = []
    doc.sceneReset.connect(lambda: resets.append(None))
    scene_object = doc.scene
    doc.add_component("lens")
    loaded = read_scene('{"format": "optiverse-scene", "version": 1, "components": []}')
    doc.load_scene(loaded)
    assert doc.scene is scene_object and len(doc.scene) == 0
    assert doc.undo_stack.count() == 0 and not doc.is_modified
    doc.new_scene()
    assert len(resets) == 2


def test_undo_actions_track_the_stack(doc: SceneDocument) -> None:
    undo, redo = doc.create_undo_action(), doc.create_redo_action()
    assert not undo.isEnabled() and not redo.isEnabled()
    doc.add_component("lens")
    assert undo.isEnabled() and undo.text() == "Undo Add lens"
    undo.trigger()
    assert len(doc.scene) == 0 and redo.isEnabled() and not undo.isEnabled()


def test_in_a_session_open_and_new_are_refused_and_remote_edits_mark_modified(
    qtbot: QtBot,
) -> None:
    net = SimServer()
    ann = SceneDocument(User("u1", "Ann"), sync_factory=net.sync_factory)
    bob = SceneDocument(User("u2", "Bob"), sync_factory=net.sync_factory)
    lens = ann.add_component("lens")
    ann.share("sim://", create=True, name="Ann")
    net.drain()
    bob.share("sim://", create=False, session=SESSION)
    net.drain()
    assert ann.undo_stack.count() == 1  # creating keeps my history
    assert bob.scene == ann.scene and lens in bob.scene
    with pytest.raises(SessionActive):
        bob.load_scene(Scene())
    with pytest.raises(SessionActive):
        bob.new_scene()
    ann.mark_saved()
    bob.move_components([lens], 1.0, 1.0)
    net.drain()
    assert ann.is_modified and ann.undo_stack.isClean()
    assert [u.name for u in ann.peers] == ["Bob"]
    ann.leave()
    assert ann.connection_state == "offline" and ann.session_id is None
    ann.add_component("mirror")  # a local document again
    assert ann.undo()
    assert ann.undo()  # my add from before sharing is still undoable
    assert lens not in ann.scene


def test_drag_entries_name_their_verb_and_count(doc: SceneDocument) -> None:
    a, b = doc.add_components([("lens", {}), ("mirror", {})])
    doc.move_components([a], 1.0, 0.0, final=True)
    assert doc.undo_stack.undoText() == "Move component"
    doc.rotate_components([a, b], 5.0, final=True)
    assert doc.undo_stack.undoText() == "Rotate 2 components"
