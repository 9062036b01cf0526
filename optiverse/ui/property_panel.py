"""The property panel: every property of the selected component, with its unit and range.

Each edit is one ``document.set_properties`` call, so it is one undoable
command.  A value the scene refuses (wrong type, out of range) is reported in
the panel with the allowed range, the field goes back to the current value,
and nothing changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor, QKeyEvent
from PyQt6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from optiverse.errors import OptiverseError, PropertyError
from optiverse.scene import PropSpec, PropValue, prop_specs
from optiverse.ui.document import SceneDocument
from optiverse.ui.items import label_text
from optiverse.ui.shapes import KIND_STYLE

__all__ = ["HIDDEN_PROPS", "PROP_LABELS", "PropertyPanel", "format_value", "parse_value"]

# z is a fractional order key: users reorder with the z-order actions instead.
HIDDEN_PROPS = frozenset({"z"})
PROP_LABELS = {
    "x_mm": "X",
    "y_mm": "Y",
    "angle_deg": "Angle",
    "name": "Name",
    "locked": "Locked",
    "aperture_mm": "Aperture",
    "n_rays": "Rays",
    "spread_deg": "Spread",
    "wavelength_nm": "Wavelength",
    "ray_length_mm": "Ray length",
    "color": "Colour",
    "length_mm": "Length",
    "efl_mm": "Focal length",
    "reflectivity": "Reflectivity",
    "transmission": "Transmission",
}
# Moving or turning a locked component from the panel is refused like a drag is.
GEOMETRY_PROPS = frozenset({"x_mm", "y_mm", "angle_deg"})


def format_value(spec: PropSpec, value: PropValue) -> str:
    """How a value is shown in its text field."""
    if spec.type == "float" and isinstance(value, float):
        return f"{value:.10g}"
    return "" if value is None else str(value)


def parse_value(name: str, spec: PropSpec, text: str) -> PropValue:
    """The value typed for ``name``, or PropertyError if it is not even of the right type."""
    text = text.strip()
    if spec.type in ("float", "int"):
        try:
            number = float(text)
        except ValueError:
            raise PropertyError(
                name, f"{text!r} is not a number; expected {spec.describe()}"
            ) from None
        if spec.type == "int":
            if not math.isfinite(number) or number != int(number):
                raise PropertyError(name, f"{text!r} is not allowed; expected {spec.describe()}")
            return int(number)
        return number
    if spec.type == "color" and text and not text.startswith("#"):
        return f"#{text}"
    return text


class _LineEdit(QLineEdit):
    """A text field that reverts on Escape."""

    def __init__(self, revert: Callable[[], None]) -> None:
        super().__init__()
        self._revert = revert

    def keyPressEvent(self, event: QKeyEvent | None) -> None:
        if event is not None and event.key() == Qt.Key.Key_Escape:
            self._revert()
            return
        super().keyPressEvent(event)


class PropertyPanel(QWidget):
    """Edits the one selected component; a multiple selection is summarised."""

    def __init__(self, document: SceneDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.component_id: str | None = None
        self._kind: str | None = None
        self._ids: list[str] = []
        self.editors: dict[str, QLineEdit | QCheckBox] = {}
        self._swatch: QPushButton | None = None
        layout = QVBoxLayout(self)
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: 600;")
        layout.addWidget(self.title)
        self._form_host = QWidget()
        self._form = QFormLayout(self._form_host)
        self._form.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._form_host)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b42318;")
        self.error.setVisible(False)
        layout.addWidget(self.error)
        layout.addStretch(1)
        document.componentsChanged.connect(self._on_components_changed)
        document.sceneReset.connect(lambda: self.show_components(self._ids))
        self.show_components([])

    # --- what is shown --------------------------------------------------------

    def show_components(self, ids: list[str]) -> None:
        """Show the properties of ``ids`` (the selection)."""
        self._ids = [cid for cid in ids if cid in self.document.scene]
        self.clear_error()
        if len(self._ids) != 1:
            self._set_component(None)
            count = len(self._ids)
            self.title.setText("Nothing selected" if count == 0 else f"{count} components selected")
            return
        self._set_component(self._ids[0])

    def _set_component(self, cid: str | None) -> None:
        comp = self.document.scene.get(cid) if cid is not None else None
        kind = comp.kind if comp is not None else None
        if cid != self.component_id or kind != self._kind:
            self.component_id, self._kind = cid, kind
            self._build_form()
        self._refresh()

    def _build_form(self) -> None:
        while self._form.rowCount():
            self._form.removeRow(0)
        self.editors.clear()
        self._swatch = None
        if self._kind is None:
            self._form_host.setVisible(False)
            return
        self._form_host.setVisible(True)
        for name, spec in prop_specs(self._kind).items():
            if name in HIDDEN_PROPS:
                continue
            self._form.addRow(self._label_for(name, spec), self._editor_for(name, spec))

    def _label_for(self, name: str, spec: PropSpec) -> QLabel:
        label = QLabel(PROP_LABELS.get(name, name.replace("_", " ").capitalize()))
        label.setToolTip(_tooltip(spec))
        return label

    def _editor_for(self, name: str, spec: PropSpec) -> QWidget:
        if spec.type == "bool":
            box = QCheckBox()
            box.setToolTip(_tooltip(spec))
            box.toggled.connect(lambda checked, n=name: self._commit(n, bool(checked)))
            self.editors[name] = box
            return box
        edit = _LineEdit(lambda n=name: self._refresh_one(n))  # type: ignore[misc]
        edit.setObjectName(f"prop_{name}")
        edit.setToolTip(_tooltip(spec))
        edit.editingFinished.connect(lambda n=name, s=spec, e=edit: self._commit_text(n, s, e))
        self.editors[name] = edit
        row = QWidget()
        box_layout = QHBoxLayout(row)
        box_layout.setContentsMargins(0, 0, 0, 0)
        box_layout.addWidget(edit, 1)
        if spec.unit:
            box_layout.addWidget(QLabel(spec.unit))
        if spec.type == "color":
            swatch = QPushButton()
            swatch.setFixedWidth(28)
            swatch.setToolTip("Pick a colour")
            swatch.clicked.connect(lambda _=False, n=name: self._pick_color(n))
            self._swatch = swatch
            box_layout.addWidget(swatch)
        return row

    def _refresh(self) -> None:
        comp = self.document.scene.get(self.component_id) if self.component_id else None
        if comp is None:
            return
        self.title.setText(
            f"{KIND_STYLE[comp.kind].title}: {label_text(self.component_id or '', comp)}"
        )
        for name in self.editors:
            self._refresh_one(name)

    def _refresh_one(self, name: str) -> None:
        comp = self.document.scene.get(self.component_id) if self.component_id else None
        editor = self.editors.get(name)
        if comp is None or editor is None or self._kind is None:
            return
        value = getattr(comp, name)
        spec = prop_specs(self._kind)[name]
        if isinstance(editor, QCheckBox):
            editor.blockSignals(True)
            editor.setChecked(bool(value))
            editor.blockSignals(False)
        else:
            editor.setText(format_value(spec, value))
            editor.setModified(False)
            editor.setCursorPosition(0)
        editor.setEnabled(not (comp.locked and name in GEOMETRY_PROPS))
        if spec.type == "color" and self._swatch is not None:
            self._swatch.setStyleSheet(f"background: {value};")

    def _on_components_changed(self, ids: object) -> None:
        if self.component_id is None:
            if self._ids and isinstance(ids, set | frozenset | list | tuple):
                self.show_components(self._ids)
            return
        if self.component_id not in self.document.scene:
            self.show_components([])
            return
        if isinstance(ids, set | frozenset | list | tuple) and self.component_id not in ids:
            return
        # Someone else's edit must not overwrite what I am typing.
        for name, editor in self.editors.items():
            if isinstance(editor, QLineEdit) and editor.hasFocus() and editor.isModified():
                continue
            self._refresh_one(name)
        comp = self.document.scene.get(self.component_id)
        if comp is not None:
            self.title.setText(
                f"{KIND_STYLE[comp.kind].title}: {label_text(self.component_id, comp)}"
            )

    # --- edits ----------------------------------------------------------------

    def _commit_text(self, name: str, spec: PropSpec, edit: QLineEdit) -> None:
        if not edit.isModified():
            return
        edit.setModified(False)
        try:
            value = parse_value(name, spec, edit.text())
        except PropertyError as exc:
            self.show_error(name, exc)
            self._refresh_one(name)
            return
        self._commit(name, value)

    def _commit(self, name: str, value: PropValue) -> None:
        cid = self.component_id
        comp = self.document.scene.get(cid) if cid is not None else None
        if cid is None or comp is None:
            return
        if getattr(comp, name) == value:
            self.clear_error()
            self._refresh_one(name)
            return
        try:
            self.document.set_properties(cid, {name: value})
        except PropertyError as exc:
            self.show_error(name, exc)
            self._refresh_one(name)
            return
        except OptiverseError as exc:
            self.show_error(name, exc)
            self._refresh_one(name)
            return
        self.clear_error()

    def _pick_color(self, name: str) -> None:
        comp = self.document.scene.get(self.component_id) if self.component_id else None
        if comp is None:
            return
        color = QColorDialog.getColor(QColor(getattr(comp, name)), self, "Ray colour")
        if color.isValid():
            self._commit(name, color.name().upper())

    # --- messages -------------------------------------------------------------

    def show_error(self, name: str, exc: Exception) -> None:
        reason = exc.reason if isinstance(exc, PropertyError) else str(exc)
        self.error.setText(f"{PROP_LABELS.get(name, name)}: {reason}. Nothing was changed.")
        self.error.setVisible(True)

    def clear_error(self) -> None:
        self.error.clear()
        self.error.setVisible(False)


def _tooltip(spec: PropSpec) -> str:
    doc = spec.doc[:1].upper() + spec.doc[1:] if spec.doc else ""
    return f"{doc}\nAllowed: {spec.describe()}" if doc else f"Allowed: {spec.describe()}"
