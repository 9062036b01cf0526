"""Grid spacing for a zoom level (no Qt): minor lines 10-100 px apart, on a 1-2-5 ladder."""

from __future__ import annotations

import math

__all__ = ["MAX_PX", "MIN_PX", "grid_steps"]

MIN_PX = 10.0
MAX_PX = 100.0


def grid_steps(px_per_mm: float) -> tuple[float, float]:
    """(minor, major) spacing in mm for a view showing ``px_per_mm`` pixels per mm.

    The minor step is the smallest of ..., 1, 2, 5, 10, 20, ... mm that is at
    least MIN_PX pixels on screen (so at most 2.5 * MIN_PX, well under MAX_PX);
    the major step is the decade or half-decade above it, so labelled lines
    fall on round numbers.
    """
    if not math.isfinite(px_per_mm) or px_per_mm <= 0:
        raise ValueError(f"px_per_mm must be a positive number, not {px_per_mm!r}")
    wanted = MIN_PX / px_per_mm
    decade = 10.0 ** math.floor(math.log10(wanted))
    for mantissa in (1.0, 2.0, 5.0, 10.0):
        # A relative tolerance: 10**k is not exact in binary and must still count.
        if mantissa * decade >= wanted * (1 - 1e-9):
            minor = mantissa * decade
            break
    major = minor * (5.0 if mantissa == 2.0 else 10.0)
    return minor, major
