"""Operations on the scene: the data classes, apply/invert and the transform functions.

The Qt undo commands that wrap these live in :mod:`optiverse.commands.qt`
and are imported from there, so this package imports without PyQt6.
"""

from optiverse.commands.apply import applied, apply, invert
from optiverse.commands.ops import Batch, Create, Delete, Noop, Op, Props, Set, component_ids
from optiverse.commands.transform import transform, transform_against

__all__ = [
    "Batch",
    "Create",
    "Delete",
    "Noop",
    "Op",
    "Props",
    "Set",
    "applied",
    "apply",
    "component_ids",
    "invert",
    "transform",
    "transform_against",
]
