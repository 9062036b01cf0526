"""What a trace takes (settings) and gives back (ray paths).

A :class:`RayPath` is one polyline: a ray from where it was born (a source's
aperture, or the beamsplitter that split it off) to where it ended. Intensity
only changes at interactions, so it is given per segment rather than per path:
a ray keeps one polyline across lenses, mirrors and the transmitted side of a
beamsplitter, which keeps the number of polylines (and Qt paths) small.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DEFAULT_SETTINGS",
    "RayPath",
    "Termination",
    "TraceResult",
    "TraceSettings",
]


@dataclass(frozen=True, slots=True)
class TraceSettings:
    """Limits of a trace; the defaults suit interactive editing."""

    max_interactions: int = 80
    """A ray ends at its ``max_interactions``-th interaction (counted from the source,
    including those of the rays it branched from)."""
    min_intensity: float = 0.02
    """A ray (or a beamsplitter's child) whose intensity would fall below this is dropped."""
    epsilon_mm: float = 1e-6
    """Hits closer than this to a ray's start are ignored, so a ray leaving a surface
    where two elements meet does not hit the other one again at distance ~0."""
    max_segments: int = 100_000
    """Cap on segments per trace: beamsplitters multiply rays, and a pathological scene
    must not hang the UI. When the next generation of segments would pass the cap the
    trace stops and the result is marked ``truncated``."""

    def __post_init__(self) -> None:
        if self.max_interactions < 1:
            raise ValueError("max_interactions must be at least 1")
        if not 0.0 < self.min_intensity <= 1.0:
            # Zero would let a block's or a mirror's zero-intensity "transmitted"
            # ray go on, and beamsplitter trees would never die out.
            raise ValueError("min_intensity must be within (0, 1]")
        if not 0.0 < self.epsilon_mm < 1.0:
            raise ValueError("epsilon_mm must be within (0, 1) mm")
        if self.max_segments < 0:
            raise ValueError("max_segments must not be negative")


DEFAULT_SETTINGS = TraceSettings()


class Termination(enum.IntEnum):
    """Why a ray path ended."""

    ESCAPED = 0
    """No element ahead: drawn out to the end of its path length."""
    LENGTH = 1
    """The path length (the source's ``ray_length_mm``) ran out before the next element."""
    ABSORBED = 2
    """Hit a block."""
    DIM = 3
    """Its intensity after an interaction fell below ``min_intensity``."""
    MAX_INTERACTIONS = 4
    """Reached ``max_interactions``; ends at that interaction."""
    TRUNCATED = 5
    """The trace stopped at the segment cap while this ray was still going."""


@dataclass(slots=True, eq=False)
class RayPath:
    """One ray's polyline, from its birth to its end.

    ``points`` is (N, 2) with N >= 2 and ``intensities`` is (N - 1,): segment i runs
    from ``points[i]`` to ``points[i + 1]`` with intensity ``intensities[i]`` (1.0 at
    the source). Both arrays are read-only.

    Treat it as immutable. It is not frozen only because a trace builds thousands
    of these and a frozen dataclass takes five times as long to construct.
    """

    source_id: str
    color: str
    wavelength_nm: float
    points: NDArray[np.float64]
    intensities: NDArray[np.float64]
    termination: Termination
    interactions: int
    """Interactions from the source to the end of this path, the ancestors' included."""
    parent: int
    """Index in :attr:`TraceResult.paths` of the path this one split off from at a
    beamsplitter (its first point is that hit), or -1 for a ray launched by a source."""


@dataclass(frozen=True, slots=True, eq=False)
class TraceResult:
    """Every ray path of a trace.

    Paths are in creation order: first the source rays (sources by id, rays across
    the aperture in launch order), then the beamsplitter branches, generation by
    generation; a parent always comes before its children.
    """

    paths: tuple[RayPath, ...]
    n_segments: int
    truncated: bool
    """True when the segment cap stopped the trace (some paths end ``TRUNCATED``)."""
