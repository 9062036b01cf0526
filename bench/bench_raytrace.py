"""Ray-trace benchmark: the compiled and vectorized tracers against the per-ray loop.

Scenes (seeded, see ``optiverse.optics.testing.random_scene``):
  A  1 source x 101 rays, 50 random elements
  B  5 sources x 401 rays, 200 random elements
  C  a pathological mirror box full of beamsplitters, stopped by the segment cap
     (vectorized only: it shows what the cap bounds a trace to)

Each timing is one full ``trace(scene)`` call (scene reading included), in the
same process, alternating the tracers in blocks so that machine noise hits
them alike. Prints how long the compiled tracer took to compile (or load from
numba's cache), median and p90 wall-clock time per tracer, the median CPU
time of this process (less inflated than wall time when other work competes
for the cores; compare the load average printed first), and the speed-up of
the medians over the per-ray loop. Asserts only that the tracers produce the
same paths.

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
    compiled,
    trace,
    trace_reference,
)
from optiverse.optics.testing import (
    StandInScene,
    assert_identical,
    random_scene,
    splitter_box,
)


def pathological_scene() -> StandInScene:
    return splitter_box(n_rays=2001, n_splitters=40)


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


def run(name: str, scene: StandInScene, rounds: int, ref_rounds: int) -> None:
    tracers = {
        "compiled": lambda: trace(scene, backend="compiled"),
        "vectorized": lambda: trace(scene, backend="vectorized"),
    }
    slow = trace_reference(scene)
    for label, fn in tracers.items():
        assert_identical(fn(), slow, f"scene {name}: {label} against the reference")
    times: dict[str, list[tuple[float, float]]] = {label: [] for label in tracers}
    slow_t: list[tuple[float, float]] = []
    # Alternate in blocks so a burst of machine noise cannot favour one side.
    per_block = max(1, rounds // ref_rounds)
    for _ in range(ref_rounds):
        for label, fn in tracers.items():
            times[label] += timings(fn, per_block)
        slow_t += timings(lambda: trace_reference(scene), 1)
    n_rays = sum(getattr(c, "n_rays", 0) for c in scene.components.values())
    n_elem = len(scene.components) - sum(
        1 for c in scene.components.values() if getattr(c, "kind", "") == "source"
    )
    print(
        f"scene {name}: {n_rays} launched rays, {n_elem} elements -> "
        f"{slow.n_paths} paths, {slow.n_segments} segments"
    )
    medians = {label: report(label, runs) for label, runs in times.items()}
    sm = report("per-ray", slow_t)
    sc = statistics.median(c for _, c in slow_t)
    for label, runs in times.items():
        fc = statistics.median(c for _, c in runs)
        print(
            f"  {label} speed-up over per-ray (median)  "
            f"wall {sm / medians[label]:6.1f}x   cpu {sc / fc:6.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    quick = args.quick
    gc.collect()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus")
    started = time.perf_counter()
    if not compiled.warm_up():
        sys.exit("numba is not installed: make setup installs it (optiverse[fast])")
    print(f"compiled tracer ready in {time.perf_counter() - started:.1f} s (compile or cache load)")
    run("A", random_scene(1, n_sources=1, n_rays=101, n_elements=50), 200, 20 if not quick else 5)
    run("B", random_scene(2, n_sources=5, n_rays=401, n_elements=200), 20, 5 if not quick else 2)

    scene = pathological_scene()
    result = trace(scene, backend="compiled")
    assert_identical(result, trace(scene, backend="vectorized"), "scene C")
    print(
        f"scene C (pathological): {result.n_paths} paths, {result.n_segments} segments, "
        f"truncated={result.truncated}"
    )
    c_rounds = 10 if not quick else 3
    for backend in ("compiled", "vectorized"):
        report(backend, timings(lambda b=backend: trace(scene, backend=b), c_rounds))


if __name__ == "__main__":
    main()
