"""Choosing the tracer: the compiled and vectorized tracers agree on large scenes,
``auto`` switches to the compiled one once it is ready, and everything still
traces when numba is missing. Fresh processes, where the state of a process
matters (the compile, the environment, an import that fails)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from optiverse.optics import (
    TraceSettings,
    active_tracer,
    default_backend,
    set_default_backend,
    trace,
)
from optiverse.optics import compiled as compiled_tracer
from optiverse.optics.testing import assert_identical, random_scene, splitter_box

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("seed", [2, 7])
def test_compiled_and_vectorized_agree_on_a_large_scene(seed: int) -> None:
    # The vectorized tracer culls pairs on batches this size (the compiled one
    # never does), so this checks the cull against the plain loop as well.
    scene = random_scene(seed, n_sources=5, n_rays=401, n_elements=200)
    a = trace(scene, backend="compiled")
    b = trace(scene, backend="vectorized")
    assert a.n_paths > 2000
    assert_identical(a, b)


@pytest.mark.parametrize("cap", [5_000, 40_000])
def test_compiled_and_vectorized_agree_at_the_segment_cap(cap: int) -> None:
    limits = TraceSettings(max_segments=cap)
    a = trace(splitter_box(401, 25), limits, backend="compiled")
    b = trace(splitter_box(401, 25), limits, backend="vectorized")
    assert a.truncated and a.n_segments <= cap
    assert_identical(a, b)


def test_compiled_takes_limits_beyond_an_int64() -> None:
    scene = random_scene(4, n_sources=1, n_rays=21, n_elements=20)
    huge = TraceSettings(max_interactions=10**30, max_segments=10**30)
    a = trace(scene, huge, backend="compiled")
    assert_identical(a, trace(scene, huge, backend="vectorized"))


def test_explicit_backends_and_the_default() -> None:
    assert compiled_tracer.warm_up()
    assert compiled_tracer.ready()
    assert active_tracer("compiled") == "compiled"
    assert active_tracer("vectorized") == "vectorized"
    assert active_tracer("auto") == "compiled"  # ready in this process now
    previous = set_default_backend("vectorized")
    try:
        assert default_backend() == "vectorized"
        assert active_tracer() == "vectorized"
    finally:
        set_default_backend(previous)
    with pytest.raises(ValueError, match=r"unknown tracer 'fast'.*auto, compiled, vectorized"):
        set_default_backend("fast")
    with pytest.raises(ValueError, match="unknown tracer"):
        trace(random_scene(1, 1, 3, 3), backend="numba")  # type: ignore[arg-type]


def run_python(code: str, env: dict[str, str] | None = None) -> str:
    """Run ``code`` in a fresh interpreter at the repo root; return its stdout."""
    full_env = {k: v for k, v in os.environ.items() if k != "OPTIVERSE_TRACER"}
    full_env.update(env or {})
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_auto_traces_vectorized_until_the_background_compile_is_done() -> None:
    out = run_python(
        """
        from optiverse.optics import active_tracer, start_warm_up, trace
        from optiverse.optics.testing import random_scene
        scene = random_scene(1, 1, 31, 20)
        print("before", active_tracer())
        before = trace(scene)              # does not wait for a compile
        thread = start_warm_up()
        assert thread is not None and start_warm_up() is thread
        thread.join()
        print("after", active_tracer())
        assert start_warm_up() is None     # nothing left to do
        after = trace(scene)
        assert after.points.tobytes() == before.points.tobytes()
        """
    )
    assert "before vectorized" in out
    assert "after compiled" in out


def test_without_numba_everything_traces_vectorized() -> None:
    out = run_python(
        """
        import sys
        sys.modules["numba"] = None        # makes "import numba" fail
        from optiverse.optics import active_tracer, compiled, start_warm_up, trace
        from optiverse.optics.testing import random_scene
        scene = random_scene(1, 1, 31, 20)
        assert not compiled.available() and not compiled.warm_up()
        assert start_warm_up() is None
        assert active_tracer() == "vectorized" and trace(scene).n_paths > 0
        try:
            trace(scene, backend="compiled")
        except RuntimeError as error:
            print("refused:", error)
        """
    )
    assert "refused: the compiled tracer needs numba, which is not installed" in out


@pytest.mark.parametrize(
    ("value", "expected"),
    [("vectorized", "vectorized"), ("compiled", "compiled"), ("", "auto"), ("gpu", "auto")],
)
def test_the_environment_sets_the_default(value: str, expected: str) -> None:
    out = run_python(
        """
        from optiverse.optics import default_backend
        print("default", default_backend())
        """,
        env={"OPTIVERSE_TRACER": value},
    )
    assert f"default {expected}" in out
    if value == "gpu":
        assert "OPTIVERSE_TRACER ignored: unknown tracer 'gpu'" in out
