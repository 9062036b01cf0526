"""Grid spacing keeps lines 10-100 px apart at every zoom, on round numbers."""

from __future__ import annotations

import math

import pytest

from optiverse.ui.canvas import MAX_SCALE, MIN_SCALE, format_length
from optiverse.ui.grid import MAX_PX, MIN_PX, grid_steps


@pytest.mark.parametrize("exponent", [x / 20 for x in range(-40, 41)])
def test_minor_lines_are_10_to_100_px_apart(exponent: float) -> None:
    px_per_mm = 10.0**exponent
    minor, major = grid_steps(px_per_mm)
    assert MIN_PX * (1 - 1e-9) <= minor * px_per_mm <= MAX_PX
    mantissa = minor / 10 ** math.floor(math.log10(minor) + 1e-9)
    assert round(mantissa, 6) in (1.0, 2.0, 5.0)
    assert major / minor in (5.0, 10.0)


def test_covers_the_zoom_range() -> None:
    assert grid_steps(MAX_SCALE)[0] == pytest.approx(0.1)
    assert grid_steps(MIN_SCALE)[0] == pytest.approx(1000.0)
    assert grid_steps(1.0) == (10.0, 100.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_rejects_nonsense(bad: float) -> None:
    with pytest.raises(ValueError):
        grid_steps(bad)


def test_format_length() -> None:
    assert [format_length(v) for v in (0.5, 2, 50, 1000, 2000)] == [
        "500 µm",
        "2 mm",
        "5 cm",
        "1 m",
        "2 m",
    ]
