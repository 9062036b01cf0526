"""File menu logic: New, Open, Save, Save As, and the unsaved-changes prompt.

The questions it asks (which file? save changes?) go through replaceable
callables, so tests drive the real logic without modal dialogs.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QFileDialog, QMessageBox, QWidget

from optiverse.errors import SceneFileError
from optiverse.scene.fileformat import load_scene, save_scene
from optiverse.ui.document import SceneDocument, SessionActive

__all__ = ["FILE_FILTER", "FileController", "SaveChoice"]

FILE_FILTER = "Optiverse scenes (*.json);;All files (*)"


class SaveChoice(Enum):
    SAVE = "save"
    DISCARD = "discard"
    CANCEL = "cancel"


class FileController(QObject):
    """Knows the current file and keeps the document and the file in step."""

    pathChanged = pyqtSignal(object)  # Path | None
    opened = pyqtSignal()  # a file was loaded (the window fits the view to it)

    def __init__(self, document: SceneDocument, window: QWidget) -> None:
        super().__init__(window)
        self.document = document
        self.window = window
        self.path: Path | None = None
        self.ask_open_path: Callable[[], Path | None] = self._dialog_open_path
        self.ask_save_path: Callable[[], Path | None] = self._dialog_save_path
        self.ask_save_changes: Callable[[], SaveChoice] = self._dialog_save_changes
        self.warn: Callable[[str, str], None] = self._dialog_warn

    @property
    def display_name(self) -> str:
        return self.path.name if self.path is not None else "Untitled"

    def _set_path(self, path: Path | None) -> None:
        self.path = path
        self.pathChanged.emit(path)

    # --- actions ----------------------------------------------------------------

    def new(self) -> bool:
        if not self.maybe_save():
            return False
        try:
            self.document.new_scene()
        except SessionActive:
            self.warn("New scene", "Leave the shared session before starting a new scene.")
            return False
        self._set_path(None)
        return True

    def open(self, path: Path | None = None) -> bool:
        if self.document.in_session:
            self.warn(
                "Open",
                "Leave the shared session before opening a file. "
                "To bring a file's components into the session, copy them from another window.",
            )
            return False
        if not self.maybe_save():
            return False
        path = path or self.ask_open_path()
        if path is None:
            return False
        try:
            scene = load_scene(path)
        except SceneFileError as exc:
            self.warn("Cannot open the file", f"{path}:\n{exc}")
            return False
        self.document.load_scene(scene)
        self._set_path(Path(path))
        self.opened.emit()
        return True

    def save(self) -> bool:
        if self.path is None:
            return self.save_as()
        return self._write(self.path)

    def save_as(self) -> bool:
        path = self.ask_save_path()
        if path is None:
            return False
        if path.suffix == "":
            path = path.with_suffix(".json")
        if not self._write(path):
            return False
        self._set_path(path)
        return True

    def maybe_save(self) -> bool:
        """True if it is fine to drop the current scene (saved, discarded or unchanged)."""
        if not self.document.is_modified:
            return True
        choice = self.ask_save_changes()
        if choice is SaveChoice.SAVE:
            return self.save()
        return choice is SaveChoice.DISCARD

    def _write(self, path: Path) -> bool:
        try:
            save_scene(self.document.scene, path)
        except OSError as exc:
            self.warn("Cannot save", f"{path}:\n{exc.strerror or exc}")
            return False
        self.document.mark_saved()
        return True

    # --- default dialogs ------------------------------------------------------------

    def _dialog_open_path(self) -> Path | None:
        name, _ = QFileDialog.getOpenFileName(self.window, "Open scene", "", FILE_FILTER)
        return Path(name) if name else None

    def _dialog_save_path(self) -> Path | None:
        start = str(self.path) if self.path else "scene.json"
        name, _ = QFileDialog.getSaveFileName(self.window, "Save scene as", start, FILE_FILTER)
        return Path(name) if name else None

    def _dialog_save_changes(self) -> SaveChoice:
        buttons = (
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel
        )
        answer = QMessageBox.question(
            self.window,
            "Unsaved changes",
            f"Save the changes to {self.display_name}?",
            buttons,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return SaveChoice.SAVE
        if answer == QMessageBox.StandardButton.Discard:
            return SaveChoice.DISCARD
        return SaveChoice.CANCEL

    def _dialog_warn(self, title: str, text: str) -> None:
        QMessageBox.warning(self.window, title, text)
