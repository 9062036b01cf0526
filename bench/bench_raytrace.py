"""Ray-trace benchmark: the vectorized tracer against the per-ray reference loop.

Scenes (seeded, see ``optiverse.optics.testing.random_scene``):
  A  1 source x 101 rays, 50 random elements
  B  5 sources x 401 rays, 200 random elements
  C  a pathological mirror box full of beamsplitters, stopped by the segment cap
     (vectorized only: it shows what the cap bounds a trace to)

Each timing is one full ``trace(scene)`` call (scene reading included), in the
same process, alternating the two tracers round by round so that machine noise
hits both alike. Prints median and p90 per tracer and the speed-up of the
medians; asserts only that both tracers produce the same paths.

    .venv/bin/python bench/bench_raytrace.py            # full run, ~1 min
    .venv/bin/python bench/bench_raytrace.py --quick    # fewer rounds
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optiverse.optics import (
    TraceResult,
    trace,
    trace_reference,
)
from optiverse.optics.testing import (
    Beamsplitter,
    Mirror,
    Source,
    StandInScene,
    random_scene,
)


def pathological_scene() -> StandInScene:
    comps: dict[str, object] = {
        "s": Source(0.0, 0.0, 10.0, aperture_mm=40.0, n_rays=201, spread_deg=30.0),
        "w1": Mirror(300.0, 0.0, 180.0, 610.0),
        "w2": Mirror(-300.0, 0.0, 0.0, 610.0),
        "w3": Mirror(0.0, 300.0, 270.0, 610.0),
        "w4": Mirror(0.0, -300.0, 90.0, 610.0),
    }
    rng = np.random.default_rng(3)
    for i in range(40):
        x, y = rng.uniform(-280.0, 280.0, 2)
        comps[f"bs{i}"] = Beamsplitter(float(x), float(y), float(rng.uniform(0, 360)), 60.0, 0.5)
    return StandInScene(comps)


def timings(fn: Callable[[], TraceResult], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def p90(xs: list[float]) -> float:
    return float(np.percentile(xs, 90))


def same(a: TraceResult, b: TraceResult) -> bool:
    return (
        a.n_segments == b.n_segments
        and len(a.paths) == len(b.paths)
        and all(
            p.points.shape == q.points.shape
            and np.allclose(p.points, q.points, rtol=0, atol=1e-6)
            and p.termination == q.termination
            for p, q in zip(a.paths, b.paths, strict=True)
        )
    )


def run(name: str, scene: StandInScene, rounds: int, ref_rounds: int) -> None:
    fast = trace(scene)
    slow = trace_reference(scene)
    assert same(fast, slow), f"scene {name}: vectorized and reference tracers disagree"
    fast_t: list[float] = []
    slow_t: list[float] = []
    # Alternate in blocks so a burst of machine noise cannot favour one side.
    per_block = max(1, rounds // ref_rounds)
    for _ in range(ref_rounds):
        fast_t += timings(lambda: trace(scene), per_block)
        slow_t += timings(lambda: trace_reference(scene), 1)
    n_rays = sum(getattr(c, "n_rays", 0) for c in scene.components.values())
    n_elem = len(scene.components) - sum(
        1 for c in scene.components.values() if getattr(c, "kind", "") == "source"
    )
    print(
        f"scene {name}: {n_rays} launched rays, {n_elem} elements -> "
        f"{len(fast.paths)} paths, {fast.n_segments} segments"
    )
    fm, sm = statistics.median(fast_t), statistics.median(slow_t)
    print(
        f"  vectorized  median {fm * 1e3:9.2f} ms   p90 {p90(fast_t) * 1e3:9.2f} ms"
        f"   ({len(fast_t)} runs)"
    )
    print(
        f"  per-ray     median {sm * 1e3:9.2f} ms   p90 {p90(slow_t) * 1e3:9.2f} ms"
        f"   ({len(slow_t)} runs)"
    )
    print(f"  speed-up (median) {sm / fm:6.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    quick = args.quick
    gc.collect()
    run("A", random_scene(1, n_sources=1, n_rays=101, n_elements=50), 200, 20 if not quick else 5)
    run("B", random_scene(2, n_sources=5, n_rays=401, n_elements=200), 20, 5 if not quick else 2)

    scene = pathological_scene()
    result = trace(scene)
    t = timings(lambda: trace(scene), 10 if not quick else 3)
    print(
        f"scene C (pathological): {len(result.paths)} paths, {result.n_segments} segments, "
        f"truncated={result.truncated}"
    )
    print(f"  vectorized  median {statistics.median(t) * 1e3:9.2f} ms   p90 {p90(t) * 1e3:9.2f} ms")


if __name__ == "__main__":
    main()
