"""Bench geometry: millimetres, x to the right, y up, angles in degrees CCW from +x."""

from __future__ import annotations

import math

__all__ = ["fan", "perpendicular", "unit"]


def unit(angle_deg: float) -> tuple[float, float]:
    """The unit vector at ``angle_deg``.

    Multiples of 90 degrees are exact, so axis-aligned benches trace without
    cos(90 deg) = 6e-17 drift and tests can compare their coordinates exactly.
    """
    quarter, rest = divmod(angle_deg, 90.0)
    if rest == 0.0:
        return ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))[int(quarter) % 4]
    rad = math.radians(angle_deg)
    return math.cos(rad), math.sin(rad)


def perpendicular(vx: float, vy: float) -> tuple[float, float]:
    """``(vx, vy)`` turned 90 degrees counter-clockwise."""
    return -vy, vx


def fan(n_rays: int, aperture_mm: float, spread_deg: float) -> list[tuple[float, float]]:
    """(offset across the aperture in mm, angle offset in degrees) of each launched ray.

    Rays are evenly spaced over ``[-aperture/2, +aperture/2]`` (offset measured
    counter-clockwise of the beam direction) and their angles over
    ``[-spread/2, +spread/2]``, both increasing together, so a positive spread is
    a diverging fan. A single ray leaves from the centre along the source's axis.
    """
    if n_rays <= 0:
        return []
    if n_rays == 1:
        return [(0.0, 0.0)]
    last = n_rays - 1
    out = []
    for i in range(n_rays):
        frac = i / last - 0.5
        out.append((aperture_mm * frac, spread_deg * frac))
    return out
