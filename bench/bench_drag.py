"""What one drag step costs in the app: the edit, the retrace, and one repaint.

Builds a main window offscreen with N random elements and 3 sources of 31 rays,
selects one element and moves it step by step the way a drag does
(``move_components(..., final=False)``). Each step is timed in three parts:

  edit     the document edit (command, scene update, item update)
  trace    ``Retracer.trace_now``: prepare, trace, and grouping the rays for drawing
  paint    one full repaint of the 1280 x 800 window's view (``viewport().repaint()``)

A step has to fit in a 16 ms frame for dragging to look smooth. Prints the median
and p90 of each part for N = 50, 100 and 300, with the tracer the app uses once
it has started (the compiled one; ``--tracer vectorized`` for the other).
Nothing is asserted.

    .venv/bin/python bench/bench_drag.py            # ~30 s
    .venv/bin/python bench/bench_drag.py --quick    # fewer steps, N = 50 only
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PyQt6.QtWidgets import QApplication

from optiverse.optics import active_tracer, compiled, set_default_backend
from optiverse.ui.main_window import MainWindow

KINDS = ("lens", "mirror", "beamsplitter", "block")


def populate(window: MainWindow, n_elements: int, seed: int = 1) -> str:
    """N random elements over 1.5 m x 1.4 m and three sources; returns an element's id."""
    rng = np.random.default_rng(seed)
    doc = window.document
    with doc.macro("populate"):
        ids = [
            doc.add_component(
                KINDS[i % 4],
                {
                    "x_mm": float(rng.uniform(0.0, 1500.0)),
                    "y_mm": float(rng.uniform(-700.0, 700.0)),
                    "angle_deg": float(rng.uniform(0.0, 360.0)),
                },
            )
            for i in range(n_elements)
        ]
        for i in range(3):
            doc.add_component(
                "source",
                {"x_mm": -100.0, "y_mm": 200.0 * i - 200.0, "n_rays": 31, "spread_deg": 20.0},
            )
    return ids[0]


def run(app: QApplication, n_elements: int, steps: int) -> None:
    window = MainWindow(name="bench", lan=False)
    window.resize(1280, 800)
    window.show()
    moving = populate(window, n_elements)
    window.act_fit.trigger()
    window.bench.select_ids([moving])
    app.processEvents()
    viewport = window.view.viewport()
    assert viewport is not None
    parts: dict[str, list[float]] = {"edit": [], "trace": [], "paint": [], "step": []}
    for _ in range(steps):
        t0 = time.perf_counter()
        window.document.move_components([moving], 2.0, 1.0, final=False)
        t1 = time.perf_counter()
        window.retracer.trace_now()
        t2 = time.perf_counter()
        viewport.repaint()
        t3 = time.perf_counter()
        app.processEvents()  # let queued updates land outside the timed paint
        parts["edit"].append(t1 - t0)
        parts["trace"].append(t2 - t1)
        parts["paint"].append(t3 - t2)
        parts["step"].append(t3 - t0)
    window.document.move_components([moving], 0.0, 0.0, final=True)
    result = window.retracer.last_result
    segments = result.n_segments if result is not None else 0
    print(f"{n_elements} elements, 3 sources x 31 rays -> {segments} segments, {steps} steps:")
    for name, values in parts.items():
        print(
            f"  {name:5s}  median {statistics.median(values) * 1e3:6.2f} ms"
            f"   p90 {float(np.percentile(values, 90)) * 1e3:6.2f} ms"
        )
    # Skip the unsaved-changes prompt: this window's scene is throwaway.
    window.document.mark_saved()
    window.close()
    app.processEvents()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps, 50 elements only")
    parser.add_argument("--tracer", choices=("compiled", "vectorized"), default="compiled")
    args = parser.parse_args()
    if args.tracer == "compiled" and not compiled.warm_up():
        sys.exit("numba is not installed: make setup installs it (optiverse[fast])")
    set_default_backend(args.tracer)
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus")
    print(f"tracer: {active_tracer()}")
    for n in (50,) if args.quick else (50, 100, 300):
        run(app, n, 15 if args.quick else 60)


if __name__ == "__main__":
    main()
