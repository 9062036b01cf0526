"""Minimal stand-in components and random benches for tests and benchmarks.

They carry just the attributes the tracer reads, so the optics can be exercised
without the scene package (and without its validation getting in the way of
deliberately odd scenes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

if TYPE_CHECKING:
    from optiverse.optics.results import TraceResult

__all__ = [
    "RESULT_ARRAYS",
    "Beamsplitter",
    "Block",
    "Lens",
    "Mirror",
    "Source",
    "StandInScene",
    "assert_identical",
    "random_scene",
    "splitter_box",
]

RESULT_ARRAYS = (
    "points",
    "intensities",
    "offsets",
    "source",
    "termination",
    "interactions",
    "parent",
)


@dataclass(frozen=True)
class Source:
    kind: ClassVar[str] = "source"
    x_mm: float = 0.0
    y_mm: float = 0.0
    angle_deg: float = 0.0
    aperture_mm: float = 10.0
    n_rays: int = 9
    spread_deg: float = 0.0
    wavelength_nm: float = 633.0
    ray_length_mm: float = 1000.0
    color: str = "#DC143C"


@dataclass(frozen=True)
class Lens:
    kind: ClassVar[str] = "lens"
    x_mm: float = 0.0
    y_mm: float = 0.0
    angle_deg: float = 0.0
    length_mm: float = 25.4
    efl_mm: float = 100.0


@dataclass(frozen=True)
class Mirror:
    kind: ClassVar[str] = "mirror"
    x_mm: float = 0.0
    y_mm: float = 0.0
    angle_deg: float = 0.0
    length_mm: float = 25.4
    reflectivity: float = 1.0


@dataclass(frozen=True)
class Beamsplitter:
    kind: ClassVar[str] = "beamsplitter"
    x_mm: float = 0.0
    y_mm: float = 0.0
    angle_deg: float = 45.0
    length_mm: float = 25.4
    transmission: float = 0.5


@dataclass(frozen=True)
class Block:
    kind: ClassVar[str] = "block"
    x_mm: float = 0.0
    y_mm: float = 0.0
    angle_deg: float = 0.0
    length_mm: float = 25.4


@dataclass
class StandInScene:
    components: dict[str, object] = field(default_factory=dict)


def random_scene(
    seed: int,
    n_sources: int,
    n_rays: int,
    n_elements: int,
    size_mm: float = 600.0,
) -> StandInScene:
    """A seeded bench: sources on the left firing roughly +x into randomly placed,
    sized and turned elements of random kinds spread over a ``size_mm`` square."""
    rng = np.random.default_rng(seed)
    half = size_mm / 2
    comps: dict[str, object] = {}
    for i in range(n_sources):
        comps[f"src{i:03d}"] = Source(
            x_mm=float(rng.uniform(-0.1 * size_mm, 0.0)),
            y_mm=float(rng.uniform(-half / 2, half / 2)),
            angle_deg=float(rng.uniform(-30.0, 30.0)),
            aperture_mm=float(rng.uniform(5.0, 40.0)),
            n_rays=n_rays,
            spread_deg=float(rng.uniform(0.0, 20.0)),
            ray_length_mm=5.0 * size_mm,
            color=f"#{int(rng.integers(0, 1 << 24)):06X}",
        )
    for i in range(n_elements):
        x = float(rng.uniform(0.05 * size_mm, size_mm))
        y = float(rng.uniform(-half, half))
        angle = float(rng.uniform(0.0, 360.0))
        length = float(rng.uniform(10.0, 80.0))
        kind = int(rng.integers(0, 4))
        comp: object
        if kind == 0:
            efl = float(rng.uniform(30.0, 300.0)) * (1.0 if rng.random() < 0.7 else -1.0)
            comp = Lens(x, y, angle, length, efl)
        elif kind == 1:
            comp = Mirror(x, y, angle, length, float(rng.uniform(0.5, 1.0)))
        elif kind == 2:
            comp = Beamsplitter(x, y, angle, length, float(rng.uniform(0.1, 0.9)))
        else:
            comp = Block(x, y, angle, length)
        comps[f"el{i:04d}"] = comp
    return StandInScene(comps)


def splitter_box(n_rays: int, n_splitters: int, seed: int = 3) -> StandInScene:
    """A pathological bench: a source inside a box of mirrors full of 90/10
    beamsplitters. The transmitted ray barely dims, so every ray keeps shedding
    branches until the interaction limit or the segment cap stops it."""
    comps: dict[str, object] = {
        "s": Source(0.0, 0.0, 10.0, 40.0, n_rays, 30.0, ray_length_mm=1e6),
        "w1": Mirror(300.0, 0.0, 180.0, 610.0),
        "w2": Mirror(-300.0, 0.0, 0.0, 610.0),
        "w3": Mirror(0.0, 300.0, 270.0, 610.0),
        "w4": Mirror(0.0, -300.0, 90.0, 610.0),
    }
    rng = np.random.default_rng(seed)
    for i in range(n_splitters):
        x, y = rng.uniform(-280.0, 280.0, 2)
        comps[f"bs{i}"] = Beamsplitter(float(x), float(y), float(rng.uniform(0, 360)), 60.0, 0.9)
    return StandInScene(comps)


def assert_identical(a: TraceResult, b: TraceResult, context: str = "") -> None:
    """The same paths to the bit: every flat array (dtype and shape included),
    the sources, the segment count and the cap flag. ``context`` goes into the message."""
    where = f" ({context})" if context else ""
    assert (a.n_segments, a.truncated, a.sources) == (b.n_segments, b.truncated, b.sources), (
        f"segment count, cap flag or sources differ{where}"
    )
    for name in RESULT_ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, f"{name}: dtype or shape{where}"
        assert np.array_equal(x, y, equal_nan=True), f"{name} differs{where}"
