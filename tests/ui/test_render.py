"""The window renders offscreen to a PNG, and the rays are in the picture."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import QPoint, QPointF
from PyQt6.QtGui import QColor, QImage

from optiverse.ui.main_window import MainWindow
from tests.ui.conftest import settle

RAY = QColor("#0050FF")


def window_pixel(window: MainWindow, x_mm: float, y_mm: float) -> QPoint:
    """Where a scene point lands in ``window.grab()``."""
    viewport = window.view.viewport()
    assert viewport is not None
    return viewport.mapTo(window, window.view.mapFromScene(QPointF(x_mm, -y_mm)))


def is_ray(color: QColor) -> bool:
    return color.blue() > 180 and color.red() < 90 and color.green() < 140


def test_png_shows_the_rays_along_the_beam(window: MainWindow, tmp_path: Path) -> None:
    window.insert_component("source", {"x_mm": -150.0, "y_mm": 0.0, "color": RAY.name()})
    window.insert_component("mirror", {"x_mm": 100.0, "y_mm": 0.0, "angle_deg": 135.0})
    window.insert_component("block", {"x_mm": 100.0, "y_mm": 120.0, "angle_deg": -90.0})
    window.bench.select_ids([])
    window.view.set_scale(2.0)
    window.view.centerOn(QPointF(-20.0, -40.0))
    settle(window)
    png = tmp_path / "window.png"
    assert window.grab().save(str(png))
    image = QImage(str(png))
    assert not image.isNull() and image.width() > 600

    def ray_near(x_mm: float, y_mm: float) -> bool:
        centre = window_pixel(window, x_mm, y_mm)
        return any(
            is_ray(image.pixelColor(centre.x() + dx, centre.y() + dy))
            for dx in range(-2, 3)
            for dy in range(-2, 3)
        )

    # Along the beam: source to mirror, then up from the mirror to the block.
    for x in range(-120, 95, 15):
        assert ray_near(x, 0.0), f"no ray pixel at x={x} mm"
    for y in range(10, 115, 15):
        assert ray_near(100.0, y), f"no ray pixel at y={y} mm above the mirror"
    # Not everywhere: below the beam there are none, and past the block neither.
    assert not ray_near(0.0, -40.0)
    assert not ray_near(100.0, 150.0)
    assert not ray_near(140.0, 0.0)
