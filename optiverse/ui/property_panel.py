"""The property panel: every property of the selection, with its unit and range.

Each edit is one ``document.set_properties_of`` call, so it is one undoable
command however many components are selected.  A value the scene refuses
(wrong type, out of range) is reported in the panel with the allowed range, the
field goes back to the current value, and nothing changes.
"""

from __future__ import annotations

import math
from collections import Counter
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
from optiverse.scene import Component, PropSpec, PropValue, prop_specs
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
    """Edits the selected components.

    With several selected it shows the properties they all have; a field whose
    values differ is blank (marked "mixed", a check box part-checked), and an
    edit gives every selected component the new value as one undoable command.
    """

    def __init__(self, document: SceneDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self._ids: list[str] = []
        self._kinds: tuple[str, ...] = ()
        self._specs: dict[str, PropSpec] = {}
        self.editors: dict[str, QLineEdit | QCheckBox] = {}
        self._swatch: QPushButton | None = None
        layout = QVBoxLayout(self)
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: 600;")
        self.title.setWordWrap(True)
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

    @property
    def component_id(self) -> str | None:
        """The selected component when exactly one is selected."""
        return self._ids[0] if len(self._ids) == 1 else None

    @property
    def ids(self) -> list[str]:
        """The components shown (the selection, less any since deleted)."""
        return list(self._ids)

    # --- what is shown --------------------------------------------------------

    def show_components(self, ids: list[str]) -> None:
        """Show the properties of ``ids`` (the selection)."""
        scene = self.document.scene
        self._ids = [cid for cid in dict.fromkeys(ids) if cid in scene]
        self.clear_error()
        kinds = tuple(sorted({scene.components[cid].kind for cid in self._ids}))
        if kinds != self._kinds:
            self._kinds = kinds
            self._build_form()
        self._refresh()

    def _components(self) -> list[Component]:
        scene = self.document.scene
        return [scene.components[cid] for cid in self._ids if cid in scene]

    def _build_form(self) -> None:
        while self._form.rowCount():
            self._form.removeRow(0)
        self.editors.clear()
        self._swatch = None
        self._specs = _common_specs(self._kinds)
        self._form_host.setVisible(bool(self._specs))
        for name, spec in self._specs.items():
            self._form.addRow(self._label_for(name, spec), self._editor_for(name, spec))

    def _label_for(self, name: str, spec: PropSpec) -> QLabel:
        label = QLabel(PROP_LABELS.get(name, name.replace("_", " ").capitalize()))
        label.setToolTip(_tooltip(spec))
        return label

    def _editor_for(self, name: str, spec: PropSpec) -> QWidget:
        if spec.type == "bool":
            box = QCheckBox()
            box.setToolTip(_tooltip(spec))
            # ``clicked``, not ``toggled``: a part-checked box is already "checked",
            # so clicking it to fully checked toggles nothing.
            box.clicked.connect(
                lambda _=False, n=name, b=box: self._commit(
                    n, b.checkState() == Qt.CheckState.Checked
                )
            )
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
        self.title.setText(self._title())
        for name in self.editors:
            self._refresh_one(name)

    def _title(self) -> str:
        comps = self._components()
        if not comps:
            return "Nothing selected"
        if len(comps) == 1:
            comp = comps[0]
            return f"{KIND_STYLE[comp.kind].title}: {label_text(self._ids[0], comp)}"
        counts = Counter(comp.kind for comp in comps)
        parts = [
            KIND_STYLE[kind].title + (f" \N{MULTIPLICATION SIGN}{n}" if n > 1 else "")
            for kind, n in sorted(counts.items())
        ]
        return f"{len(comps)} components selected ({', '.join(parts)})"

    def _refresh_one(self, name: str) -> None:
        comps = self._components()
        editor = self.editors.get(name)
        spec = self._specs.get(name)
        if not comps or editor is None or spec is None:
            return
        values = [getattr(comp, name) for comp in comps]
        mixed = any(value != values[0] for value in values[1:])
        if isinstance(editor, QCheckBox):
            editor.blockSignals(True)
            editor.setTristate(mixed)
            if mixed:
                editor.setCheckState(Qt.CheckState.PartiallyChecked)
            else:
                editor.setChecked(bool(values[0]))
            editor.blockSignals(False)
        else:
            editor.setText("" if mixed else format_value(spec, values[0]))
            editor.setPlaceholderText("mixed" if mixed else "")
            editor.setModified(False)
            editor.setCursorPosition(0)
        locked = name in GEOMETRY_PROPS and any(comp.locked for comp in comps)
        editor.setEnabled(not locked)
        if spec.type == "color" and self._swatch is not None:
            self._swatch.setStyleSheet("" if mixed else f"background: {values[0]};")

    def _on_components_changed(self, ids: object) -> None:
        if not self._ids:
            return
        if any(cid not in self.document.scene for cid in self._ids):
            self.show_components(self._ids)
            return
        if isinstance(ids, set | frozenset | list | tuple) and not any(
            cid in ids for cid in self._ids
        ):
            return
        # Someone else's edit must not overwrite what I am typing.
        for name, editor in self.editors.items():
            if isinstance(editor, QLineEdit) and editor.hasFocus() and editor.isModified():
                continue
            self._refresh_one(name)
        self.title.setText(self._title())

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
        comps = self._components()
        if not comps:
            return
        if all(getattr(comp, name) == value for comp in comps):
            self.clear_error()
            self._refresh_one(name)
            return
        try:
            self.document.set_properties_of(self._ids, {name: value})
        except OptiverseError as exc:
            self.show_error(name, exc)
            self._refresh_one(name)
            return
        self.clear_error()

    def _pick_color(self, name: str) -> None:
        comps = self._components()
        if not comps:
            return
        current = {getattr(comp, name) for comp in comps}
        start = QColor(current.pop()) if len(current) == 1 else QColor("#FFFFFF")
        color = QColorDialog.getColor(start, self, "Ray colour")
        if color.isValid():
            self._commit(name, color.name().upper())

    # --- messages -------------------------------------------------------------

    def show_error(self, name: str, exc: Exception) -> None:
        reason = exc.reason if isinstance(exc, PropertyError) else str(exc)
        where = ""
        if isinstance(exc, PropertyError) and exc.component is not None and len(self._ids) > 1:
            comp = self.document.scene.get(exc.component)
            if comp is not None:
                where = f" ({label_text(exc.component, comp)})"
        label = PROP_LABELS.get(name, name)
        self.error.setText(f"{label}{where}: {reason}. Nothing was changed.")
        self.error.setVisible(True)

    def clear_error(self) -> None:
        self.error.clear()
        self.error.setVisible(False)


def _common_specs(kinds: tuple[str, ...]) -> dict[str, PropSpec]:
    """The properties every kind of ``kinds`` has with the same type, in the first's order."""
    if not kinds:
        return {}
    specs = [prop_specs(kind) for kind in kinds]
    return {
        name: spec
        for name, spec in specs[0].items()
        if name not in HIDDEN_PROPS
        and all(name in other and other[name].type == spec.type for other in specs[1:])
    }


def _tooltip(spec: PropSpec) -> str:
    doc = spec.doc[:1].upper() + spec.doc[1:] if spec.doc else ""
    return f"{doc}\nAllowed: {spec.describe()}" if doc else f"Allowed: {spec.describe()}"
