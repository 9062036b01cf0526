"""What a trace takes (settings) and gives back (ray paths).

A :class:`RayPath` is one polyline: a ray from where it was born (a source's
aperture, or the beamsplitter that split it off) to where it ended. Intensity
only changes at interactions, so it is given per segment rather than per path:
a ray keeps one polyline across lenses, mirrors and the transmitted side of a
beamsplitter, which keeps the number of polylines (and Qt paths) small.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from optiverse.optics.prepare import SourceInfo

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
        # Written so that NaN fails too: the two tracers disagree on what it means.
        if not self.max_interactions >= 1:
            raise ValueError("max_interactions must be at least 1")
        if not 0.0 < self.min_intensity <= 1.0:
            # Zero would let a block's or a mirror's zero-intensity "transmitted"
            # ray go on, and beamsplitter trees would never die out.
            raise ValueError("min_intensity must be within (0, 1]")
        if not 0.0 < self.epsilon_mm < 1.0:
            raise ValueError("epsilon_mm must be within (0, 1) mm")
        if not self.max_segments >= 0:
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


@dataclass(frozen=True, eq=False)
class TraceResult:
    """Every ray path of a trace, as flat arrays.

    The tracer hands the UI one array of points rather than thousands of small
    objects: building a :class:`RayPath` per path used to cost more than the
    trace itself on small scenes. :attr:`paths` gives the per-path view, built
    on first use.

    Paths are in creation order: first the source rays (sources by id, rays across
    the aperture in launch order), then the beamsplitter branches, generation by
    generation; a parent always comes before its children. Path ``i`` is
    ``points[offsets[i]:offsets[i + 1]]`` (at least two points). All arrays are
    read-only.
    """

    points: NDArray[np.float64]
    """(N, 2): every path's points, path after path."""
    intensities: NDArray[np.float64]
    """(N,): the intensity of the segment that ends at each point; NaN at a path's first point."""
    offsets: NDArray[np.int64]
    """(P + 1,): where each path's points start, and N last."""
    sources: tuple[SourceInfo, ...]
    source: NDArray[np.int64]
    """(P,): each path's index into :attr:`sources`."""
    termination: NDArray[np.int64]
    """(P,): each path's :class:`Termination` value."""
    interactions: NDArray[np.int64]
    """(P,): see :attr:`RayPath.interactions`."""
    parent: NDArray[np.int64]
    """(P,): see :attr:`RayPath.parent`."""
    n_segments: int
    truncated: bool
    """True when the segment cap stopped the trace (some paths end ``TRUNCATED``)."""

    def __post_init__(self) -> None:
        for name in (
            "points",
            "intensities",
            "offsets",
            "source",
            "termination",
            "interactions",
            "parent",
        ):
            getattr(self, name).flags.writeable = False

    @property
    def n_paths(self) -> int:
        return len(self.source)

    @cached_property
    def paths(self) -> tuple[RayPath, ...]:
        """One :class:`RayPath` per path (views into the flat arrays)."""
        points = self.points
        intensities = self.intensities
        infos = self.sources
        terms = _TERMINATIONS
        return tuple(
            RayPath(
                infos[src].id,
                infos[src].color,
                infos[src].wavelength_nm,
                points[start:stop],
                intensities[start + 1 : stop],
                terms[why],
                count,
                parent,
            )
            for src, start, stop, why, count, parent in zip(
                self.source.tolist(),
                self.offsets[:-1].tolist(),
                self.offsets[1:].tolist(),
                self.termination.tolist(),
                self.interactions.tolist(),
                self.parent.tolist(),
                strict=True,
            )
        )

    @classmethod
    def empty(cls, sources: tuple[SourceInfo, ...] = (), truncated: bool = False) -> TraceResult:
        none = np.zeros(0, dtype=np.int64)
        return cls(
            np.zeros((0, 2)),
            np.zeros(0),
            np.zeros(1, dtype=np.int64),
            sources,
            none,
            none.copy(),
            none.copy(),
            none.copy(),
            0,
            truncated,
        )

    @classmethod
    def from_paths(cls, paths: Sequence[RayPath], n_segments: int, truncated: bool) -> TraceResult:
        """Pack per-path objects (tests, the reference tracer) into a result."""
        if not paths:
            return cls.empty(truncated=truncated)
        sources: dict[tuple[str, str, float], int] = {}
        for p in paths:
            sources.setdefault((p.source_id, p.color, p.wavelength_nm), len(sources))
        lengths = [len(p.points) for p in paths]
        return cls(
            np.concatenate([np.asarray(p.points, dtype=np.float64) for p in paths]),
            np.concatenate(
                [
                    np.concatenate(([np.nan], np.asarray(p.intensities, dtype=np.float64)))
                    for p in paths
                ]
            ),
            np.concatenate(([0], np.cumsum(lengths))).astype(np.int64),
            tuple(SourceInfo(*key) for key in sources),
            np.array(
                [sources[(p.source_id, p.color, p.wavelength_nm)] for p in paths], dtype=np.int64
            ),
            np.array([int(p.termination) for p in paths], dtype=np.int64),
            np.array([p.interactions for p in paths], dtype=np.int64),
            np.array([p.parent for p in paths], dtype=np.int64),
            n_segments,
            truncated,
        )


_TERMINATIONS = list(Termination)
