"""The compiled tracer against the reference, to the bit, on odd scenes and odd
settings; and the argument types it is called with, which decide whether a call
has to wait for another compile."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import cast

import numpy as np
import pytest

from optiverse.optics import PreparedScene, TraceResult, TraceSettings, prepare, trace_reference
from optiverse.optics import compiled as compiled_tracer
from optiverse.optics.testing import (
    Beamsplitter,
    Block,
    Lens,
    Mirror,
    Source,
    StandInScene,
    assert_identical,
    random_scene,
)

pytestmark = pytest.mark.skipif(not compiled_tracer.available(), reason="needs numba")


def compiled(scene: StandInScene, limits: TraceSettings) -> TraceResult:
    return compiled_tracer.trace_compiled_prepared(prepare(scene), limits)


def odd_scene(rng: np.random.Generator) -> StandInScene:
    """Sources of 0, 1 or a few rays and huge lengths; elements of zero length,
    tiny or negative focal lengths, reflectivities and transmissions at the ends."""
    comps: dict[str, object] = {}
    for i in range(int(rng.integers(0, 4))):
        x, y = (float(v) for v in rng.uniform(-150.0, 150.0, 2))
        comps[f"s{i}"] = Source(
            x_mm=x,
            y_mm=y,
            angle_deg=float(rng.uniform(0.0, 360.0)),
            aperture_mm=float(rng.choice([0.0, 10.0, 40.0])),
            n_rays=int(rng.choice([0, 1, 2, 7])),
            spread_deg=float(rng.choice([0.0, 5.0, 90.0, 360.0])),
            ray_length_mm=float(rng.choice([1.0, 800.0, 1e300, 1.7e308])),
        )
    for i in range(int(rng.integers(0, 25))):
        x, y = (float(v) for v in rng.uniform(-150.0, 150.0, 2))
        angle = float(rng.choice([0.0, 45.0, 90.0, 180.0, rng.uniform(0.0, 360.0)]))
        length = float(rng.choice([0.0, 1e-12, 10.0, 80.0, 300.0]))
        kind = int(rng.integers(0, 4))
        comp: object
        if kind == 0:
            comp = Lens(x, y, angle, length, float(rng.choice([1e-3, 30.0, -50.0, 1e6])))
        elif kind == 1:
            comp = Mirror(x, y, angle, length, float(rng.choice([0.0, 0.5, 1.0])))
        elif kind == 2:
            comp = Beamsplitter(x, y, angle, length, float(rng.choice([0.0, 0.1, 0.5, 1.0])))
        else:
            comp = Block(x, y, angle, length)
        comps[f"e{i:03d}"] = comp
    return StandInScene(comps)


@pytest.mark.parametrize("seed", range(80))
def test_compiled_is_bit_identical_to_the_reference(seed: int) -> None:
    # The other modules compare with the reference to 1e-6; the compiled loop
    # claims the same bits, so check exactly, limits at their edges included.
    rng = np.random.default_rng(seed)
    if seed % 2:
        scene = random_scene(seed, int(rng.integers(1, 4)), 9, int(rng.integers(0, 50)), 300.0)
    else:
        scene = odd_scene(rng)
    n = len(prepare(scene).launch)
    limits = TraceSettings(
        max_interactions=int(rng.choice([1, 2, 5, 80])),
        min_intensity=float(rng.choice([1.0, 0.5, 0.02, 1e-4])),
        epsilon_mm=float(rng.choice([1e-6, 0.5])),
        max_segments=int(rng.choice([0, max(n - 1, 0), n, n + 1, 97, 100_000])),
    )
    assert_identical(compiled(scene, limits), trace_reference(scene, limits))


@pytest.mark.parametrize("max_interactions", [1.5, 2.5, 7.9])
def test_a_fractional_max_interactions_ends_rays_where_the_reference_does(
    max_interactions: float,
) -> None:
    # TraceSettings accepts any number >= 1; the reference and the vectorized
    # tracer end a ray once count >= max_interactions, i.e. at its ceiling.
    limits = TraceSettings(max_interactions=max_interactions)  # type: ignore[arg-type]
    cavity = StandInScene(
        {"s": Source(n_rays=1), "m1": Mirror(50.0, 0.0, 180.0), "m2": Mirror(-50.0, 0.0, 0.0)}
    )
    a, b = compiled(cavity, limits), trace_reference(cavity, limits)
    assert b.interactions.tolist() == [int(np.ceil(max_interactions))]
    assert_identical(a, b)


def read_only(prepared: PreparedScene) -> PreparedScene:
    """The same scene with every array frozen, as a caller may well hand it over."""

    def frozen(array: np.ndarray) -> np.ndarray:
        copy = array.copy()
        copy.flags.writeable = False
        return copy

    el, launch = prepared.elements, prepared.launch
    return PreparedScene(
        replace(el, table=frozen(el.table), kinds=frozen(el.kinds)),
        replace(
            launch,
            origin=frozen(launch.origin),
            direction=frozen(launch.direction),
            source=frozen(launch.source),
            max_length=frozen(launch.max_length),
        ),
    )


def test_read_only_arrays_are_passed_as_the_types_warm_up_compiled() -> None:
    # numba compiles once per argument type, and a read-only array is a type
    # of its own: a read-only PreparedScene would make trace_prepared (``auto``
    # included, which "never waits") block ~10 s on a fresh compile.
    import numba

    typeof = cast(Callable[[object], object], numba.typeof)

    prepared = read_only(prepare(random_scene(1, 1, 11, 10)))
    args = compiled_tracer._arguments(prepared, TraceSettings())
    types = [typeof(a) for a in args]
    assert types == [typeof(a) for a in compiled_tracer._warm_up_arguments()]
