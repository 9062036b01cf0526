"""Which tracer runs: the compiled loop once it is ready, else the vectorized one.

Three tracers give the same paths, to the bit (two exceptions, both rounding
noise: a ray parallel to an element to within ~1e-10 rad, which the vectorized
tracer's cull may drop, and a lens bending a ray to a zero direction, where the
reference raises ZeroDivisionError and the others give NaN):

- ``compiled`` (:mod:`optiverse.optics.compiled`): the per-ray loop compiled by
  numba; the fastest at every scene size, but it needs numba and a compile
  (about 10 s the first time on a machine, then cached);
- ``vectorized`` (:mod:`optiverse.optics.tracer`): numpy over all live rays at
  once; needs nothing more, and is ready at once;
- the reference (:mod:`optiverse.optics.reference`): plain Python, the tests'
  oracle and the benchmark's baseline, never chosen here.

``auto`` (the default) takes the compiled tracer when it is ready in this
process and the vectorized one otherwise, so a trace never waits for a
compile: the app starts :func:`start_warm_up` when it opens and switches over
by itself when that finishes. ``OPTIVERSE_TRACER=compiled|vectorized|auto``
in the environment sets the default.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Literal, get_args

from optiverse.optics import compiled
from optiverse.optics.prepare import PreparedScene, SceneLike, prepare
from optiverse.optics.results import DEFAULT_SETTINGS, TraceResult, TraceSettings
from optiverse.optics.tracer import trace_vectorized_prepared

__all__ = [
    "BACKENDS",
    "Backend",
    "active_tracer",
    "default_backend",
    "set_default_backend",
    "start_warm_up",
    "trace",
    "trace_prepared",
]

Backend = Literal["auto", "compiled", "vectorized"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)

log = logging.getLogger(__name__)


def _checked(name: str) -> Backend:
    for backend in BACKENDS:
        if name == backend:
            return backend
    raise ValueError(f"unknown tracer {name!r}: expected one of {', '.join(BACKENDS)}")


def _from_environment() -> Backend:
    name = os.environ.get("OPTIVERSE_TRACER", "") or "auto"
    try:
        return _checked(name)
    except ValueError as error:
        log.warning("OPTIVERSE_TRACER ignored: %s; using auto", error)
        return "auto"


_default: Backend = _from_environment()


def default_backend() -> Backend:
    return _default


def set_default_backend(backend: str) -> Backend:
    """Set the tracer ``trace`` uses when given none; returns the previous one."""
    global _default
    previous, _default = _default, _checked(backend)
    return previous


def active_tracer(backend: Backend | None = None) -> Literal["compiled", "vectorized"]:
    """The tracer that ``backend`` (default: the default one) would run right now."""
    chosen = _checked(backend) if backend is not None else _default
    if chosen == "compiled" or (chosen == "auto" and compiled.ready()):
        return "compiled"
    return "vectorized"


def trace(
    scene: SceneLike, settings: TraceSettings = DEFAULT_SETTINGS, backend: Backend | None = None
) -> TraceResult:
    """Trace every source of ``scene`` through its elements."""
    return trace_prepared(prepare(scene), settings, backend)


def trace_prepared(
    prepared: PreparedScene,
    settings: TraceSettings = DEFAULT_SETTINGS,
    backend: Backend | None = None,
) -> TraceResult:
    """Trace a scene already turned into arrays by :func:`optiverse.optics.prepare`.

    ``compiled`` waits for the compile if need be and raises RuntimeError
    without numba; ``auto`` never waits.
    """
    if active_tracer(backend) == "compiled":
        return compiled.trace_compiled_prepared(prepared, settings)
    return trace_vectorized_prepared(prepared, settings)


_warming: threading.Thread | None = None


def start_warm_up() -> threading.Thread | None:
    """Compile the compiled tracer in a background thread (once per process).

    Returns the thread (already finished, or None, when there is nothing to do:
    numba is missing or the tracer is ready).
    """
    global _warming
    if not compiled.available() or compiled.ready():
        return None
    if _warming is None:
        _warming = threading.Thread(target=_warm_up, name="optiverse-tracer-compile", daemon=True)
        _warming.start()
    return _warming


def _warm_up() -> None:
    try:
        compiled.warm_up()
    except Exception:
        # A failed compile (a numba bug, a broken cache) must not take the app
        # down: the vectorized tracer goes on serving.
        log.exception("compiling the tracer failed; tracing stays vectorized")
    else:
        log.info("compiled tracer ready")
