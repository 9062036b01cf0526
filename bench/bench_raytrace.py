"""Ray-trace benchmark: the vectorized tracer against the per-ray reference loop.

Scenes (seeded, see ``optiverse.optics.testing.random_scene``):
  A  1 source x 101 rays, 50 random elements
  B  5 sources x 401 rays, 200 random elements
  C  a pathological mirror box full of beamsplitters, stopped by the segment cap
     (vectorized only: it shows what the cap bounds a trace to)

Each timing is one full ``trace(scene)`` call (scene reading included), in the
same process, alternating the two tracers in blocks so that machine noise hits
both alike. Prints median and p90 wall-clock time per tracer, the median CPU
time of this process (less inflated than wall time when other work competes
for the cores; compare the load average printed first), and the speed-up of
the medians. Asserts only that both tracers produce the same paths.

    .venv/bin/python bench/bench_raytrace.py            # full run, ~1 min
    .venv/bin/python bench/bench_raytrace.py --quick    # fewer rounds
"""

from __future__ import annotations

import argparse
import gc
import os
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
        "s": Source(0.0, 0.0, 10.0, 40.0, 2001, 30.0, ray_length_mm=1e6),
        "w1": Mirror(300.0, 0.0, 180.0, 610.0),
        "w2": Mirror(-300.0, 0.0, 0.0, 610.0),
        "w3": Mirror(0.0, 300.0, 270.0, 610.0),
        "w4": Mirror(0.0, -300.0, 90.0, 610.0),
    }
    rng = np.random.default_rng(3)
    for i in range(40):
        x, y = rng.uniform(-280.0, 280.0, 2)
        # 90/10 splitters: the transmitted ray barely dims, so every ray keeps
        # shedding branches for its whole 80 interactions.
        comps[f"bs{i}"] = Beamsplitter(float(x), float(y), float(rng.uniform(0, 360)), 60.0, 0.9)
    return StandInScene(comps)


def timings(fn: Callable[[], TraceResult], rounds: int) -> list[tuple[float, float]]:
    """(wall, cpu) seconds of each of ``rounds`` calls."""
    out = []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - wall, time.process_time() - cpu))
    return out


def report(label: str, runs: list[tuple[float, float]]) -> float:
    wall = [w for w, _ in runs]
    cpu = [c for _, c in runs]
    median = statistics.median(wall)
    print(
        f"  {label:10s}  median {median * 1e3:9.2f} ms   p90 {p90(wall) * 1e3:9.2f} ms"
        f"   cpu median {statistics.median(cpu) * 1e3:9.2f} ms   ({len(runs)} runs)"
    )
    return median


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
    fast_t: list[tuple[float, float]] = []
    slow_t: list[tuple[float, float]] = []
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
    fm = report("vectorized", fast_t)
    sm = report("per-ray", slow_t)
    fc = statistics.median(c for _, c in fast_t)
    sc = statistics.median(c for _, c in slow_t)
    print(f"  speed-up (median)  wall {sm / fm:6.1f}x   cpu {sc / fc:6.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    quick = args.quick
    gc.collect()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus")
    run("A", random_scene(1, n_sources=1, n_rays=101, n_elements=50), 200, 20 if not quick else 5)
    run("B", random_scene(2, n_sources=5, n_rays=401, n_elements=200), 20, 5 if not quick else 2)

    scene = pathological_scene()
    result = trace(scene)
    print(
        f"scene C (pathological): {len(result.paths)} paths, {result.n_segments} segments, "
        f"truncated={result.truncated}"
    )
    report("vectorized", timings(lambda: trace(scene), 10 if not quick else 3))


if __name__ == "__main__":
    main()
