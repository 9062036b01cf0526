"""2D ray tracing of an optical bench (pure Python + numpy, no Qt).

Conventions, physics and limits are described in ``docs/optics.md``.

>>> result = trace(scene)                      # doctest: +SKIP
>>> for path in result.paths:                  # doctest: +SKIP
...     draw(path.points, path.intensities, path.color)
"""

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
from optiverse.optics.tracer import trace, trace_prepared

__all__ = [
    "DEFAULT_SETTINGS",
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
    "prepare",
    "trace",
    "trace_prepared",
    "trace_reference",
    "trace_reference_prepared",
]
