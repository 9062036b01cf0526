"""Copy and paste of components through the system clipboard (no document access).

Copied components are JSON under our own MIME type, and the same JSON as
text, so a copy can be pasted into another Optiverse window or process.  A
whole scene file's text pastes too, which is how a file's content is brought
into a shared session.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from PyQt6.QtCore import QMimeData

from optiverse.errors import OptiverseError
from optiverse.scene import KINDS, Component, PropValue, component_props, make_component
from optiverse.scene.fileformat import FORMAT as SCENE_FORMAT

__all__ = [
    "CLIP_FORMAT",
    "MIME_TYPE",
    "ClipboardError",
    "components_from_mime",
    "components_to_mime",
]

MIME_TYPE = "application/x-optiverse-components"
CLIP_FORMAT = "optiverse-components"

Item = tuple[str, dict[str, PropValue]]


class ClipboardError(OptiverseError, ValueError):
    """Raised when the clipboard holds something that is not components."""


def components_to_mime(components: Iterable[Component]) -> QMimeData:
    """Clipboard data for ``components`` (in draw order)."""
    data = {
        "format": CLIP_FORMAT,
        "components": [{"kind": c.kind, "props": component_props(c)} for c in components],
    }
    text = json.dumps(data, indent=1)
    mime = QMimeData()
    mime.setData(MIME_TYPE, text.encode())
    mime.setText(text)
    return mime


def components_from_mime(mime: QMimeData | None) -> list[Item]:
    """(kind, props) of the components on the clipboard, or ClipboardError."""
    if mime is None:
        raise ClipboardError("the clipboard is empty")
    if mime.hasFormat(MIME_TYPE):
        text = bytes(mime.data(MIME_TYPE).data()).decode("utf-8", "replace")
    elif mime.hasText():
        text = mime.text()
    else:
        raise ClipboardError("the clipboard holds no components")
    try:
        data = json.loads(text)
    except ValueError:
        raise ClipboardError("the clipboard holds no components") from None
    if not isinstance(data, dict) or data.get("format") not in (CLIP_FORMAT, SCENE_FORMAT):
        raise ClipboardError("the clipboard holds no components")
    entries = data.get("components")
    if not isinstance(entries, list):
        raise ClipboardError("the clipboard data has no component list")
    items: list[Item] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("kind") not in KINDS:
            raise ClipboardError(f"clipboard component #{index} has no known kind")
        props = entry.get("props")
        if not isinstance(props, dict):
            raise ClipboardError(f"clipboard component #{index} has no properties")
        # Checked here so a bad clipboard is refused before anything is pasted.
        make_component(entry["kind"], props)
        items.append((entry["kind"], dict(props)))
    return items
