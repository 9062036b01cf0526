"""The editor through its own actions, mouse and keyboard, against the real SceneDocument."""

from __future__ import annotations

from pathlib import Path

import pytest
from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtTest import QTest
from pytestqt.qtbot import QtBot

from optiverse.scene.fileformat import load_scene
from optiverse.ui.canvas import MAX_SCALE
from optiverse.ui.file_controller import SaveChoice
from optiverse.ui.interaction import WHEEL_MERGE_MS
from optiverse.ui.main_window import INSERT_ORDER, MainWindow
from tests.ui.conftest import WindowFactory, drag, settle, wheel

SHIFT = Qt.KeyboardModifier.ShiftModifier
CTRL = Qt.KeyboardModifier.ControlModifier


def only(window: MainWindow, kind: str) -> str:
    ids = [cid for cid, c in window.document.scene.components.items() if c.kind == kind]
    assert len(ids) == 1, ids
    return ids[0]


def at(window: MainWindow, cid: str) -> QPointF:
    comp = window.document.scene.components[cid]
    return window.scene_point(comp.x_mm, comp.y_mm)


def test_insert_each_kind_from_the_toolbar_and_menu(window: MainWindow) -> None:
    for kind in INSERT_ORDER:
        window.act_insert[kind].trigger()
    scene = window.document.scene
    assert sorted(c.kind for c in scene.components.values()) == sorted(INSERT_ORDER)
    assert set(window.bench.items_by_id) == set(scene.components)
    # Each lands where it is visible, none on top of another, and is selected.
    assert len({(c.x_mm, c.y_mm) for c in scene.components.values()}) == len(INSERT_ORDER)
    assert window.selected_ids() == [only(window, "block")]
    assert window.undo_stack.count() == len(INSERT_ORDER)
    menu_titles = [a.text() for a in window.menuBar().actions()]  # type: ignore[union-attr]
    assert "&Insert" in menu_titles
    window.act_undo.trigger()
    assert "block" not in {c.kind for c in scene.components.values()}
    assert window.selected_ids() == []


def test_drag_moves_in_one_undo_step(window: MainWindow) -> None:
    cid = window.insert_component("lens", {"x_mm": 0.0, "y_mm": 0.0})
    steps_before = window.undo_stack.count()
    start = at(window, cid)
    drag(window, start, start + QPointF(100, -40))  # 2 px per mm
    comp = window.document.scene.components[cid]
    assert (comp.x_mm, comp.y_mm) == pytest.approx((50.0, 20.0), abs=0.6)
    assert window.undo_stack.count() == steps_before + 1
    window.act_undo.trigger()
    comp = window.document.scene.components[cid]
    assert (comp.x_mm, comp.y_mm) == (0.0, 0.0)
    window.act_redo.trigger()
    assert window.document.scene.components[cid].x_mm == pytest.approx(50.0, abs=0.6)


def test_shift_drag_moves_along_one_axis(window: MainWindow) -> None:
    cid = window.insert_component("mirror", {"x_mm": 0.0, "y_mm": 0.0})
    start = at(window, cid)
    drag(window, start, start + QPointF(30, 80), modifiers=SHIFT)
    comp = window.document.scene.components[cid]
    assert comp.x_mm == 0.0
    assert comp.y_mm == pytest.approx(-40.0, abs=0.6)


def test_click_selects_and_rubber_band_selects_several(window: MainWindow) -> None:
    a = window.insert_component("lens", {"x_mm": -60.0, "y_mm": 0.0})
    b = window.insert_component("mirror", {"x_mm": 60.0, "y_mm": 0.0})
    window.insert_component("block", {"x_mm": 0.0, "y_mm": 150.0})
    QTest.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=at(window, a).toPoint())
    assert window.selected_ids() == [a]
    # A rubber band from empty space around the two lower components.
    drag(window, window.scene_point(-100, 60), window.scene_point(100, -60))
    assert sorted(window.selected_ids()) == sorted([a, b])
    # Dragging one of them moves both, as one undo step.
    steps = window.undo_stack.count()
    drag(window, at(window, b), at(window, b) + QPointF(0, 40))
    scene = window.document.scene.components
    assert scene[a].y_mm == pytest.approx(-20.0, abs=0.6)
    assert scene[b].y_mm == pytest.approx(-20.0, abs=0.6)
    assert window.undo_stack.count() == steps + 1


def test_rotate_with_the_handle_and_snap(window: MainWindow) -> None:
    cid = window.insert_component("lens", {"x_mm": 0.0, "y_mm": 0.0, "angle_deg": 0.0})
    item = window.bench.items_by_id[cid]
    assert item.handle.isVisible()
    handle = window.view.mapFromScene(item.handle.scenePos()).toPointF()
    centre = at(window, cid)
    radius = handle.x() - centre.x()
    # Drag the knob a quarter turn: to straight above the centre (y up on screen).
    drag(window, handle, centre + QPointF(0, -radius), steps=12)
    assert window.document.scene.components[cid].angle_deg == pytest.approx(90.0, abs=1.0)
    # With Shift the angle snaps to 15 degrees.
    handle = window.view.mapFromScene(item.handle.scenePos()).toPointF()
    drag(window, handle, centre + QPointF(radius * 0.8, -radius * 0.5), modifiers=SHIFT)
    angle = window.document.scene.components[cid].angle_deg
    assert angle % 15 == pytest.approx(0.0, abs=1e-9)
    assert angle == 30.0


def test_ctrl_wheel_rotates_and_shift_snaps(window: MainWindow, qtbot: QtBot) -> None:
    cid = window.insert_component("mirror", {"x_mm": 0.0, "y_mm": 0.0, "angle_deg": 0.0})
    steps = window.undo_stack.count()
    pos = at(window, cid)
    for _ in range(3):
        wheel(window, pos, 1, CTRL)
    assert window.document.scene.components[cid].angle_deg == pytest.approx(6.0)
    wheel(window, pos, 1, CTRL | SHIFT)
    assert window.document.scene.components[cid].angle_deg == pytest.approx(15.0)
    wheel(window, pos, -1, CTRL | SHIFT)
    assert window.document.scene.components[cid].angle_deg == pytest.approx(0.0)
    wheel(window, pos, -1, CTRL)
    qtbot.wait(WHEEL_MERGE_MS + 100)
    # A run of notches is one undo step.
    assert window.undo_stack.count() == steps + 1
    wheel(window, pos, 2, CTRL)
    window.gestures.finish_wheel_rotation()
    assert window.undo_stack.count() == steps + 2
    window.act_undo.trigger()
    window.act_undo.trigger()
    assert window.document.scene.components[cid].angle_deg == 0.0


def test_wheel_zooms_and_middle_button_pans(window: MainWindow) -> None:
    view = window.view
    centre = QPointF(view.viewport().width() / 2, view.viewport().height() / 2)  # type: ignore[union-attr]
    wheel(window, centre, 3)
    assert view.scale_px_per_mm == pytest.approx(2.0 * 1.15**3)
    for _ in range(100):
        wheel(window, centre, 5)
    assert view.scale_px_per_mm == pytest.approx(MAX_SCALE)
    view.set_scale(2.0)
    before = view.mapToScene(centre.toPoint())
    drag(window, centre, centre + QPointF(80, 0), button=Qt.MouseButton.MiddleButton)
    after = view.mapToScene(centre.toPoint())
    assert before.x() - after.x() == pytest.approx(40.0, abs=1.0)
    # Space + left drag pans too (and selects nothing).
    QTest.keyPress(view, Qt.Key.Key_Space)
    drag(window, centre, centre + QPointF(0, 60))
    QTest.keyRelease(view, Qt.Key.Key_Space)
    again = view.mapToScene(centre.toPoint())
    assert after.y() - again.y() == pytest.approx(30.0, abs=1.0)
    assert window.document.scene.components == {}


def test_fit_shows_every_component(window: MainWindow) -> None:
    far = [
        window.insert_component("lens", {"x_mm": 2000.0, "y_mm": 900.0}),
        window.insert_component("lens", {"x_mm": -1500.0, "y_mm": -400.0}),
    ]
    window.act_fit.trigger()
    visible = window.view.visible_rect_mm()
    for cid in far:
        assert visible.contains(window.bench.items_by_id[cid].sceneBoundingRect())


def test_delete_key_and_undo(window: MainWindow, qtbot: QtBot) -> None:
    cid = window.insert_component("block")
    window.activateWindow()
    window.view.setFocus()
    qtbot.waitUntil(window.isActiveWindow)
    QTest.keyClick(window.view, Qt.Key.Key_Delete)
    assert cid not in window.document.scene
    assert cid not in window.bench.items_by_id
    QTest.keyClick(window.view, Qt.Key.Key_Z, CTRL)
    assert cid in window.document.scene
    QTest.keyClick(window.view, Qt.Key.Key_Z, CTRL | SHIFT)
    assert cid not in window.document.scene
    QTest.keyClick(window.view, Qt.Key.Key_Z, CTRL)
    QTest.keyClick(window.view, Qt.Key.Key_Y, CTRL)
    assert cid not in window.document.scene


def test_copy_paste_and_z_order(window: MainWindow, qtbot: QtBot) -> None:
    a = window.insert_component("lens", {"x_mm": 0.0, "y_mm": 0.0})
    b = window.insert_component("mirror", {"x_mm": 5.0, "y_mm": 0.0})
    window.bench.select_ids([a])
    window.act_copy.trigger()
    window.act_paste.trigger()
    copies = [c for c in window.selected_ids() if c not in (a, b)]
    assert len(copies) == 1
    copy = window.document.scene.components[copies[0]]
    assert (copy.kind, copy.x_mm, copy.y_mm) == ("lens", 10.0, 10.0)
    order = [cid for cid, _ in window.document.scene.in_draw_order()]
    assert order == [a, b, copies[0]]
    window.bench.select_ids([copies[0]])
    window.act_back.trigger()
    assert next(cid for cid, _ in window.document.scene.in_draw_order()) == copies[0]
    items = window.bench.items_by_id
    assert items[copies[0]].zValue() < items[a].zValue() < items[b].zValue()
    window.bench.select_ids([a])
    window.act_front.trigger()
    assert items[a].zValue() > items[b].zValue()


def test_locked_components_do_not_move_or_turn(window: MainWindow) -> None:
    cid = window.insert_component("mirror", {"x_mm": 0.0, "y_mm": 0.0})
    window.act_lock.trigger()
    comp = window.document.scene.components[cid]
    assert comp.locked
    assert not window.bench.items_by_id[cid].handle.isVisible()
    assert not window.properties.editors["x_mm"].isEnabled()
    drag(window, at(window, cid), at(window, cid) + QPointF(60, 60))
    wheel(window, at(window, cid), 3, CTRL)
    window.gestures.finish_wheel_rotation()
    assert window.document.scene.components[cid] == comp
    window.act_lock.trigger()
    assert not window.document.scene.components[cid].locked


def test_property_panel_edits_are_checked_and_undoable(window: MainWindow) -> None:
    cid = window.insert_component("lens")
    panel = window.properties
    assert panel.component_id == cid
    efl = panel.editors["efl_mm"]
    assert efl.text() == "100"  # type: ignore[union-attr]
    steps = window.undo_stack.count()

    def type_into(name: str, text: str) -> None:
        editor = panel.editors[name]
        editor.setFocus()
        editor.selectAll()  # type: ignore[union-attr]
        QTest.keyClicks(editor, text)
        QTest.keyClick(editor, Qt.Key.Key_Return)

    type_into("efl_mm", "50")
    assert window.document.scene.components[cid].efl_mm == 50.0  # type: ignore[union-attr]
    assert window.undo_stack.count() == steps + 1
    assert not panel.error.isVisible()

    for bad, complaint in (("0", "non-zero"), ("abc", "not a number"), ("-2e7", ">= -1e+06")):
        type_into("efl_mm", bad)
        assert complaint in panel.error.text()
        assert window.document.scene.components[cid].efl_mm == 50.0  # type: ignore[union-attr]
        assert window.undo_stack.count() == steps + 1
        assert efl.text() == "50"  # type: ignore[union-attr]

    type_into("length_mm", "40")
    assert not panel.error.isVisible()
    window.act_undo.trigger()
    window.act_undo.trigger()
    assert window.document.scene.components[cid].efl_mm == 100.0  # type: ignore[union-attr]
    assert efl.text() == "100"  # type: ignore[union-attr]
    # Every property but the internal z key is shown, each with its unit.
    assert set(panel.editors) == {
        "x_mm",
        "y_mm",
        "angle_deg",
        "name",
        "locked",
        "length_mm",
        "efl_mm",
    }


def test_history_panel_lists_my_steps_and_goes_back(window: MainWindow) -> None:
    window.act_insert["source"].trigger()
    window.act_insert["lens"].trigger()
    model = window.history.model()
    assert model is not None
    texts = [model.index(i, 0).data() for i in range(model.rowCount())]
    assert texts == ["<opened>", "Add source", "Add lens"]
    rect = window.history.visualRect(model.index(0, 0))
    QTest.mouseClick(window.history.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert len(window.document.scene) == 0
    assert window.bench.items_by_id == {}


def test_ctrl_rubber_band_adds_to_the_selection(window: MainWindow) -> None:
    a = window.insert_component("lens", {"x_mm": -60.0, "y_mm": 0.0})
    b = window.insert_component("mirror", {"x_mm": 60.0, "y_mm": 0.0})
    assert window.selected_ids() == [b]
    drag(window, window.scene_point(-90, 30), window.scene_point(-30, -30), modifiers=CTRL)
    assert window.selected_ids() == [a, b]
    drag(window, window.scene_point(-90, 30), window.scene_point(-30, -30))
    assert window.selected_ids() == [a]


def test_save_open_and_unsaved_prompt(make_window: WindowFactory, tmp_path: Path) -> None:
    window = make_window()
    files = window.files
    window.insert_component("source", {"x_mm": -50.0})
    assert window.isWindowModified()
    target = tmp_path / "bench"
    files.ask_save_path = lambda: target
    window.act_save.trigger()
    saved = tmp_path / "bench.json"
    assert load_scene(saved) == window.document.scene
    assert not window.isWindowModified()
    assert "bench.json" in window.windowTitle()

    window.insert_component("lens")
    asked: list[bool] = []

    def cancel() -> SaveChoice:
        asked.append(True)
        return SaveChoice.CANCEL

    files.ask_save_changes = cancel
    window.act_new.trigger()
    assert asked and len(window.document.scene) == 2
    files.ask_save_changes = lambda: SaveChoice.DISCARD
    window.act_new.trigger()
    assert len(window.document.scene) == 0
    assert window.bench.items_by_id == {}

    files.ask_open_path = lambda: saved
    window.act_open.trigger()
    assert load_scene(saved) == window.document.scene
    assert set(window.bench.items_by_id) == set(window.document.scene.components)

    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "optiverse-scene", "version": 1}')
    warnings: list[str] = []
    files.warn = lambda title, text: warnings.append(text)
    files.ask_open_path = lambda: broken
    window.act_open.trigger()
    assert "components" in warnings[0]
    assert load_scene(saved) == window.document.scene


def test_rays_are_retraced_once_per_frame(window: MainWindow, qtbot: QtBot) -> None:
    window.insert_component("source", {"x_mm": -100.0, "color": "#00AA00"})
    lens = window.insert_component("lens", {"x_mm": 0.0})
    settle(window)
    assert window.bench.rays.colors() == {"#00AA00"}
    traces = window.retracer.trace_count
    for i in range(30):
        window.document.move_components([lens], 0.0, 0.1, final=i == 29)
    qtbot.waitUntil(lambda: not window.retracer.pending)
    assert window.retracer.trace_count - traces <= 2
