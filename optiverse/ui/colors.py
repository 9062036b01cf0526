"""Each person's colour: the one the server gave them, else one derived from their id."""

from __future__ import annotations

import zlib

from PyQt6.QtGui import QColor

from optiverse.collab.messages import User

__all__ = ["PALETTE", "user_color"]

# Distinct on a light canvas and from the default red of sources.
PALETTE = (
    "#1f77b4",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#e377c2",
    "#8c564b",
    "#bcbd22",
)


def user_color(user: User) -> QColor:
    """The colour to draw ``user``'s cursor, selection and name in."""
    if user.color:
        color = QColor(user.color)
        if color.isValid():
            return color
    # crc32, not hash(): the same person gets the same colour in every process.
    return QColor(PALETTE[zlib.crc32(user.id.encode()) % len(PALETTE)])
