"""The scene: components keyed by id.

The scene is a plain mutable container; the only code that changes it is
``optiverse.commands.apply`` (one path for local, remote, undo, redo and
replay edits).
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from optiverse.scene.components import Component

__all__ = ["Scene"]


@attrs.define
class Scene:
    """Components by id.  Two scenes are equal when they hold equal components."""

    components: dict[str, Component] = attrs.field(factory=dict)

    def copy(self) -> Scene:
        """An independent copy (components are immutable, so a shallow copy suffices)."""
        return Scene(dict(self.components))

    def __len__(self) -> int:
        return len(self.components)

    def __contains__(self, component_id: object) -> bool:
        return component_id in self.components

    def __iter__(self) -> Iterator[str]:
        return iter(self.components)

    def get(self, component_id: str) -> Component | None:
        return self.components.get(component_id)

    def in_draw_order(self) -> list[tuple[str, Component]]:
        """(id, component) pairs bottom to top: by z key, ties broken by id."""
        return sorted(self.components.items(), key=lambda item: (item[1].z, item[0]))

    def top_z(self) -> str | None:
        """The highest z key in use, or None for an empty scene."""
        return max((c.z for c in self.components.values()), default=None)
