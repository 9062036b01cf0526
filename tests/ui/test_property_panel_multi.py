"""The property panel on a multiple selection, through its own widgets."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtTest import QTest
from PyQt6.QtWidgets import QCheckBox, QLineEdit

from optiverse.ui.main_window import MainWindow


def type_into(window: MainWindow, name: str, text: str) -> None:
    editor = window.properties.editors[name]
    assert isinstance(editor, QLineEdit)
    editor.setFocus()
    editor.selectAll()
    QTest.keyClicks(editor, text)
    QTest.keyClick(editor, Qt.Key.Key_Return)


def line(window: MainWindow, name: str) -> QLineEdit:
    editor = window.properties.editors[name]
    assert isinstance(editor, QLineEdit)
    return editor


def test_shows_the_common_properties_and_marks_mixed_values(window: MainWindow) -> None:
    lens = window.insert_component("lens", {"x_mm": 0.0, "y_mm": 5.0, "length_mm": 30.0})
    mirror = window.insert_component("mirror", {"x_mm": 40.0, "y_mm": 5.0, "length_mm": 30.0})
    window.bench.select_ids([lens, mirror])
    panel = window.properties
    assert panel.component_id is None and panel.ids == [lens, mirror]
    assert "2 components selected" in panel.title.text()
    # What both kinds have; not the lens's focal length nor the mirror's reflectivity.
    assert set(panel.editors) == {"x_mm", "y_mm", "angle_deg", "name", "locked", "length_mm"}
    assert line(window, "x_mm").text() == ""
    assert line(window, "x_mm").placeholderText() == "mixed"
    assert line(window, "y_mm").text() == "5"
    assert line(window, "length_mm").text() == "30"

    # A third kind narrows the set further: a source has no length.
    source = window.insert_component("source", {"x_mm": -50.0})
    window.bench.select_ids([lens, mirror, source])
    assert "length_mm" not in panel.editors and "x_mm" in panel.editors
    assert "Source" in panel.title.text()


def test_an_edit_sets_every_selected_component_as_one_undo_step(window: MainWindow) -> None:
    a = window.insert_component("lens", {"x_mm": 0.0, "angle_deg": 0.0})
    b = window.insert_component("mirror", {"x_mm": 40.0, "angle_deg": 30.0})
    c = window.insert_component("block", {"x_mm": 80.0, "angle_deg": 45.0})
    window.bench.select_ids([a, b])
    steps = window.undo_stack.count()

    type_into(window, "angle_deg", "90")
    scene = window.document.scene.components
    assert scene[a].angle_deg == scene[b].angle_deg == 90.0
    assert scene[c].angle_deg == 45.0  # not selected
    assert window.undo_stack.count() == steps + 1
    assert window.undo_stack.undoText() == "Edit 2 components"
    assert line(window, "angle_deg").text() == "90"
    assert line(window, "angle_deg").placeholderText() == ""

    window.act_undo.trigger()
    scene = window.document.scene.components
    assert (scene[a].angle_deg, scene[b].angle_deg) == (0.0, 30.0)
    assert line(window, "angle_deg").placeholderText() == "mixed"
    window.act_redo.trigger()
    assert window.document.scene.components[b].angle_deg == 90.0


def test_a_refused_value_changes_none_of_them(window: MainWindow) -> None:
    a = window.insert_component("lens", {"length_mm": 20.0})
    b = window.insert_component("lens", {"x_mm": 40.0, "length_mm": 30.0})
    window.bench.select_ids([a, b])
    before = dict(window.document.scene.components)
    steps = window.undo_stack.count()
    for bad, complaint in (("-5", "(> 0, <= 10000)"), ("wide", "not a number")):
        type_into(window, "length_mm", bad)
        assert complaint in window.properties.error.text()
        assert window.document.scene.components == before
        assert window.undo_stack.count() == steps
        assert line(window, "length_mm").text() == ""  # still mixed, not the bad text
    # The message names the component that refused.
    type_into(window, "length_mm", "-5")
    assert window.properties.error.text().startswith("Length (Lens ")
    # Both lenses share the focal length field; a zero focal length is refused for both.
    type_into(window, "efl_mm", "0")
    assert "non-zero" in window.properties.error.text()
    assert window.document.scene.components == before


def test_lock_check_box_part_checked_and_geometry_disabled_when_one_is_locked(
    window: MainWindow,
) -> None:
    a = window.insert_component("mirror", {"x_mm": 0.0})
    b = window.insert_component("mirror", {"x_mm": 40.0})
    window.bench.select_ids([a])
    window.act_lock.trigger()
    window.bench.select_ids([a, b])
    box = window.properties.editors["locked"]
    assert isinstance(box, QCheckBox)
    assert box.checkState() == Qt.CheckState.PartiallyChecked
    assert not line(window, "x_mm").isEnabled()
    assert line(window, "reflectivity").isEnabled()

    box.click()  # part-checked -> checked: lock both
    scene = window.document.scene.components
    assert scene[a].locked and scene[b].locked
    assert box.checkState() == Qt.CheckState.Checked and not box.isTristate()
    box.click()
    scene = window.document.scene.components
    assert not scene[a].locked and not scene[b].locked
    assert line(window, "x_mm").isEnabled()


def test_a_change_elsewhere_updates_the_mixed_marking(window: MainWindow) -> None:
    a = window.insert_component("block", {"y_mm": 0.0})
    b = window.insert_component("block", {"x_mm": 40.0, "y_mm": 10.0})
    window.bench.select_ids([a, b])
    assert line(window, "y_mm").placeholderText() == "mixed"
    # Any edit that reaches the document (a remote op takes the same path) is shown.
    window.document.set_properties(a, {"y_mm": 10.0})
    assert line(window, "y_mm").text() == "10"
    assert line(window, "y_mm").placeholderText() == ""
    window.document.remove_components([b])
    assert window.properties.ids == [a]
    assert window.properties.component_id == a
