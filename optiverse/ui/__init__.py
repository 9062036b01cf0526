"""The PyQt6 application: main window, canvas, panels and the collaboration UI.

Everything that changes the scene goes through :class:`~optiverse.ui.document.SceneDocument`;
the widgets here only read ``document.scene`` and call its editing methods.
"""
