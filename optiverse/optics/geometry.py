"""Bench geometry: millimetres, x to the right, y up, angles in degrees CCW from +x."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["fan", "perpendicular", "unit", "unit_rows", "units"]

_QUARTERS = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])


def unit(angle_deg: float) -> tuple[float, float]:
    """The unit vector at ``angle_deg``.

    Multiples of 90 degrees are exact, so axis-aligned benches trace without
    cos(90 deg) = 6e-17 drift and tests can compare their coordinates exactly.
    """
    quarter, rest = divmod(angle_deg, 90.0)
    if rest == 0.0:
        x, y = _QUARTERS[int(quarter) % 4]
        return float(x), float(y)
    rad = math.radians(angle_deg)
    return math.cos(rad), math.sin(rad)


def units(angles_deg: NDArray[np.float64]) -> NDArray[np.float64]:
    """(n, 2) unit vectors at ``angles_deg``; like :func:`unit`, exact at multiples of 90."""
    return unit_rows(angles_deg).T


def unit_rows(angles_deg: NDArray[np.float64]) -> NDArray[np.float64]:
    """(2, n) rows cos, sin of ``angles_deg``; like :func:`unit`, exact at multiples of 90."""
    rad = np.radians(angles_deg)
    out = np.empty((2, len(rad)))
    np.cos(rad, out=out[0])
    np.sin(rad, out=out[1])
    # fmod is exact, so it is zero exactly at the multiples of 90.
    if not np.fmod(angles_deg, 90.0).all():
        exact = np.fmod(angles_deg, 90.0) == 0.0
        quarter = np.floor_divide(angles_deg[exact], 90.0).astype(np.int64) % 4
        out[:, exact] = _QUARTERS[quarter].T
    return out


def perpendicular(vx: float, vy: float) -> tuple[float, float]:
    """``(vx, vy)`` turned 90 degrees counter-clockwise."""
    return -vy, vx


def fan(
    n_rays: int, aperture_mm: float, spread_deg: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(offsets across the aperture in mm, angle offsets in degrees) of the launched rays.

    Rays are evenly spaced over ``[-aperture/2, +aperture/2]`` (offset measured
    counter-clockwise of the beam direction) and their angles over
    ``[-spread/2, +spread/2]``, both increasing together, so a positive spread is
    a diverging fan. A single ray leaves from the centre along the source's axis.
    """
    n = max(n_rays, 0)
    frac = np.arange(n, dtype=np.float64) / (n - 1) - 0.5 if n > 1 else np.zeros(n)
    return aperture_mm * frac, spread_deg * frac
