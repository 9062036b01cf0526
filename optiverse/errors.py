"""Errors shared by the scene model and the operations.

Each error subclasses the nearest builtin so callers can catch it either by
intent (``OptiverseError``) or by kind (``ValueError``/``KeyError``).
"""

from __future__ import annotations

__all__ = [
    "ComponentExists",
    "InvalidOperation",
    "OptiverseError",
    "PropertyError",
    "SceneFileError",
    "UnknownComponent",
]


class OptiverseError(Exception):
    """Base class of every error this package raises on purpose."""


class PropertyError(OptiverseError, ValueError):
    """Raised when a property value is out of range, of the wrong type, or unknown to its kind."""

    def __init__(self, prop: str, message: str, component: str | None = None) -> None:
        self.prop = prop
        self.reason = message
        self.component = component
        where = f"component {component!r}: " if component is not None else ""
        super().__init__(f"{where}property {prop!r}: {message}")

    def for_component(self, component: str) -> PropertyError:
        """The same error, naming the component it happened on."""
        return PropertyError(self.prop, self.reason, component)


class InvalidOperation(OptiverseError, ValueError):
    """Raised when an operation cannot apply to a scene; the scene is left unchanged."""


class UnknownComponent(InvalidOperation):
    """Raised when an operation names a component id the scene does not have."""

    def __init__(self, component: str) -> None:
        self.component = component
        super().__init__(f"no component with id {component!r}")


class ComponentExists(InvalidOperation):
    """Raised when a Create names an id the scene already has."""

    def __init__(self, component: str) -> None:
        self.component = component
        super().__init__(f"a component with id {component!r} already exists")


class SceneFileError(OptiverseError, ValueError):
    """Raised when a scene file cannot be loaded; nothing is half-loaded."""
