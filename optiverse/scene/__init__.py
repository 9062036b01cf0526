"""Scene model: component kinds, the scene container, z-order keys and the file format."""

from optiverse.scene.components import (
    KINDS,
    BeamBlock,
    Beamsplitter,
    Component,
    Lens,
    Mirror,
    PropSpec,
    PropValue,
    Source,
    component_props,
    full_props,
    make_component,
    prop_specs,
    update_component,
)
from optiverse.scene.scene import Scene

__all__ = [
    "KINDS",
    "BeamBlock",
    "Beamsplitter",
    "Component",
    "Lens",
    "Mirror",
    "PropSpec",
    "PropValue",
    "Scene",
    "Source",
    "component_props",
    "full_props",
    "make_component",
    "prop_specs",
    "update_component",
]
