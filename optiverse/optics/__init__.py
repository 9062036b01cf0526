"""2D ray tracing of an optical bench (numpy, and numba when installed; no Qt).

Conventions, physics and limits are described in ``docs/optics.md``.

>>> result = trace(scene)                      # doctest: +SKIP
>>> for path in result.paths:                  # doctest: +SKIP
...     draw(path.points, path.intensities, path.color)
"""

from optiverse.optics.backends import (
    BACKENDS,
    Backend,
    active_tracer,
    default_backend,
    set_default_backend,
    start_warm_up,
    trace,
    trace_prepared,
)
from optiverse.optics.prepare import (
    ElementKind,
    Elements,
    Launch,
    PreparedScene,
    SceneLike,
    SourceInfo,
    prepare,
)
from optiverse.optics.reference import trace_reference, trace_reference_prepared
from optiverse.optics.results import (
    DEFAULT_SETTINGS,
    RayPath,
    Termination,
    TraceResult,
    TraceSettings,
)
from optiverse.optics.tracer import trace_vectorized, trace_vectorized_prepared

__all__ = [
    "BACKENDS",
    "DEFAULT_SETTINGS",
    "Backend",
    "ElementKind",
    "Elements",
    "Launch",
    "PreparedScene",
    "RayPath",
    "SceneLike",
    "SourceInfo",
    "Termination",
    "TraceResult",
    "TraceSettings",
    "active_tracer",
    "default_backend",
    "prepare",
    "set_default_backend",
    "start_warm_up",
    "trace",
    "trace_prepared",
    "trace_reference",
    "trace_reference_prepared",
    "trace_vectorized",
    "trace_vectorized_prepared",
]
