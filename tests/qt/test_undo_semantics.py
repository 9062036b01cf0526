"""Each row of the undo table (docs/undo.md), with real clients on a real server.

Two documents share a session; Ann's undo stack is the one under test and
Bob plays "someone else".  Every test ends with all replicas and the
server's own snapshot equal.
"""

from __future__ import annotations

import json

from pytestqt.qtbot import QtBot

from optiverse.ui.document import SceneDocument
from tests.qt.conftest import DocFactory, ServerProcess, server_snapshot, share_all, wait_converged


def _pair(
    qtbot: QtBot, server: ServerProcess, make_doc: DocFactory
) -> tuple[SceneDocument, SceneDocument]:
    ann, bob = make_doc("ann"), make_doc("bob")
    share_all(qtbot, server.url, [ann, bob])
    return ann, bob


def _settle(qtbot: QtBot, server: ServerProcess, docs: list[SceneDocument]) -> None:
    wait_converged(qtbot, docs)
    session = docs[0].session_id
    assert session is not None
    version, scene = server_snapshot(server.url, session)
    assert version == docs[0].engine.version
    assert scene == docs[0].scene


def _origins(ann: SceneDocument) -> list[str]:
    """Origins of the submits Ann writes from now on."""
    seen: list[str] = []
    assert ann.sync is not None

    def record(text: str) -> None:
        data = json.loads(text)
        if data["type"] == "submit":
            seen.append(data["origin"])

    ann.sync.messageSent.connect(record)
    return seen


def test_undo_of_a_property_edit_restores_my_old_value_over_a_later_remote_edit(
    qtbot: QtBot, shared_server: ServerProcess, make_doc: DocFactory
) -> None:
    ann, bob = _pair(qtbot, shared_server, make_doc)
    lens = ann.add_component("lens", {"efl_mm": 100.0})
    wait_converged(qtbot, [ann, bob])
    ann.set_properties(lens, {"efl_mm": 50.0})
    wait_converged(qtbot, [ann, bob])
    bob.set_properties(lens, {"efl_mm": 75.0})
    wait_converged(qtbot, [ann, bob])
    origins = _origins(ann)

    assert ann.undo()
    _settle(qtbot, shared_server, [ann, bob])
    assert bob.scene.components[lens].efl_mm == 100.0  # mine, over Bob's 75

    assert ann.redo()
    _settle(qtbot, shared_server, [ann, bob])
    assert bob.scene.components[lens].efl_mm == 75.0  # what was there when I pressed undo
    assert origins == ["undo", "redo"]


def test_undo_n_then_redo_n_restores_the_scene_exactly(
    qtbot: QtBot, shared_server: ServerProcess, make_doc: DocFactory
) -> None:
    ann, bob = _pair(qtbot, shared_server, make_doc)
    lens = ann.add_component("lens")
    mirror = ann.add_component("mirror", {"x_mm": 40.0})
    ann.move_components([lens, mirror], 5.0, -3.0)
    ann.set_properties(mirror, {"reflectivity": 0.5, "name": "M1"})
    ann.reorder([lens], "front")
    ann.rotate_components([lens, mirror], 30.0)
    ann.remove_components([lens])
    wait_converged(qtbot, [ann, bob])
    before = ann.scene.copy()

    undone = sum(ann.undo() for _ in range(6))
    assert undone == 6
    assert ann.scene != before
    assert all(ann.redo() for _ in range(6))
    assert ann.scene == before
    _settle(qtbot, shared_server, [ann, bob])
    assert bob.scene == before


def test_undo_of_a_create_deletes_it_and_redo_brings_back_others_edits(
    qtbot: QtBot, shared_server: ServerProcess, make_doc: DocFactory
) -> None:
    ann, bob = _pair(qtbot, shared_server, make_doc)
    lens = ann.add_component("lens", {"x_mm": 10.0})
    wait_converged(qtbot, [ann, bob])
    bob.move_components([lens], 25.0, 5.0)
    bob.set_properties(lens, {"name": "L1"})
    wait_converged(qtbot, [ann, bob])
    moved = bob.scene.components[lens]

    assert ann.undo()
    _settle(qtbot, shared_server, [ann, bob])
    assert lens not in bob.scene

    assert ann.redo()
    _settle(qtbot, shared_server, [ann, bob])
    assert bob.scene.components[lens] == moved  # Bob's move and name came back with it


def test_undo_of_a_delete_recreates_it_under_the_same_id_with_its_last_state(
    qtbot: QtBot, shared_server: ServerProcess, make_doc: DocFactory
) -> None:
    ann, bob = _pair(qtbot, shared_server, make_doc)
    mirror = bob.add_component("mirror")
    wait_converged(qtbot, [ann, bob])
    bob.set_properties(mirror, {"reflectivity": 0.25, "x_mm": -12.0})
    wait_converged(qtbot, [ann, bob])
    last = ann.scene.components[mirror]
    ann.remove_components([mirror])
    wait_converged(qtbot, [ann, bob])
    assert mirror not in bob.scene

    assert ann.undo()
    _settle(qtbot, shared_server, [ann, bob])
    assert bob.scene.components[mirror] == last


def test_an_entry_whose_component_someone_deleted_is_skipped(
    qtbot: QtBot, shared_server: ServerProcess, make_doc: DocFactory
) -> None:
    ann, bob = _pair(qtbot, shared_server, make_doc)
    lens = ann.add_component("lens")
    block = ann.add_component("block")
    ann.set_properties(lens, {"name": "doomed"})
    wait_converged(qtbot, [ann, bob])
    bob.remove_components([lens])
    wait_converged(qtbot, [ann, bob])
    assert ann.undo_stack.count() == 3

    # The property edit on the deleted lens does nothing any more: it is
    # dropped and the undo goes on to "add block".
    assert ann.undo()
    _settle(qtbot, shared_server, [ann, bob])
    assert block not in bob.scene
    assert ann.undo_stack.count() == 2
    # "add lens" is obsolete too (the lens is gone): nothing left to undo.
    assert not ann.undo()
    assert ann.undo_stack.count() == 1  # only "add block", now redoable
    assert ann.redo()
    _settle(qtbot, shared_server, [ann, bob])
    assert block in bob.scene and lens not in bob.scene


def test_undo_and_redo_while_my_earlier_edits_are_in_flight(
    qtbot: QtBot, shared_server: ServerProcess, make_doc: DocFactory
) -> None:
    ann, bob = _pair(qtbot, shared_server, make_doc)
    # No event processing between these calls: the first submit is in flight,
    # the rest are buffered when undo and redo compute their operations.
    lens = ann.add_component("lens")
    ann.set_properties(lens, {"efl_mm": 42.0})
    ann.move_components([lens], 7.0, 0.0)
    assert ann.engine.pending
    assert ann.undo() and ann.undo()
    assert ann.redo()
    expected = ann.scene.copy()
    assert expected.components[lens].efl_mm == 42.0
    assert expected.components[lens].x_mm == 0.0
    _settle(qtbot, shared_server, [ann, bob])
    assert bob.scene == expected


def test_remote_edits_are_never_on_my_stack(
    qtbot: QtBot, shared_server: ServerProcess, make_doc: DocFactory
) -> None:
    ann, bob = _pair(qtbot, shared_server, make_doc)
    mine = ann.add_component("source")
    wait_converged(qtbot, [ann, bob])
    theirs = bob.add_component("lens")
    bob.move_components([mine], 3.0, 3.0)
    wait_converged(qtbot, [ann, bob])
    assert ann.undo_stack.count() == 1

    assert ann.undo()  # my add, not Bob's lens nor his move
    _settle(qtbot, shared_server, [ann, bob])
    assert mine not in bob.scene and theirs in bob.scene
    assert not ann.undo()
    assert theirs in ann.scene
