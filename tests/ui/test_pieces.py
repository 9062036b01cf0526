"""Small UI pieces on their own: ray grouping, value parsing, clipboard, status text."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PyQt6.QtCore import QMimeData
from PyQt6.QtWidgets import QApplication

from optiverse.errors import OptiverseError, PropertyError
from optiverse.optics import RayPath, Termination, TraceResult, trace
from optiverse.optics.testing import random_scene
from optiverse.scene import Scene, make_component, prop_specs
from optiverse.scene.fileformat import scene_to_data
from optiverse.ui.clipboard import ClipboardError, components_from_mime, components_to_mime
from optiverse.ui.property_panel import format_value, parse_value
from optiverse.ui.rays_item import ALPHA_LEVELS, ray_runs
from optiverse.ui.status import describe_state


def path(points: list[tuple[float, float]], intensities: list[float], color: str) -> RayPath:
    return RayPath(
        source_id="S",
        color=color,
        wavelength_nm=633.0,
        points=np.array(points, dtype=float),
        intensities=np.array(intensities, dtype=float),
        termination=Termination.ESCAPED,
        interactions=0,
        parent=-1,
    )


def test_rays_are_grouped_by_colour_and_opacity(qapp: QApplication) -> None:
    result = TraceResult.from_paths(
        (
            path([(0, 0), (10, 0), (20, 5), (30, 5)], [1.0, 1.0, 0.5], "#FF0000"),
            path([(0, 1), (10, 1)], [1.0], "#FF0000"),
            path([(0, 2), (5, 2)], [0.001], "#00FF00"),
        ),
        n_segments=5,
        truncated=False,
    )
    runs = ray_runs(result)
    assert set(runs) == {("#FF0000", ALPHA_LEVELS), ("#FF0000", ALPHA_LEVELS // 2), ("#00FF00", 1)}
    full = runs[("#FF0000", ALPHA_LEVELS)]
    assert [p.size() for p in full] == [3, 2]
    # y is flipped into Qt's y-down scene, and the dim run starts where the bright one ends.
    assert (full[0][2].x(), full[0][2].y()) == (20.0, -5.0)
    half = runs[("#FF0000", ALPHA_LEVELS // 2)][0]
    assert [(half[i].x(), half[i].y()) for i in range(2)] == [(20.0, -5.0), (30.0, -5.0)]


def test_ray_runs_match_a_per_path_grouping_on_a_real_trace(qapp: QApplication) -> None:
    # The flat-array grouping against the obvious per-path loop, on a trace with
    # branches, dimming and many paths.
    result = trace(random_scene(5, n_sources=3, n_rays=41, n_elements=40))
    expected: dict[tuple[str, int], list[list[tuple[float, float]]]] = {}
    for ray in result.paths:
        levels = [
            min(max(round(float(i) * ALPHA_LEVELS), 1), ALPHA_LEVELS) for i in ray.intensities
        ]
        start = 0
        for end in range(1, len(levels) + 1):
            if end == len(levels) or levels[end] != levels[start]:
                points = [(float(x), -float(y)) for x, y in ray.points[start : end + 1]]
                expected.setdefault((ray.color, levels[start]), []).append(points)
                start = end
    runs = ray_runs(result)
    got = {
        key: [[(p.x(), p.y()) for p in polygon] for polygon in polygons]
        for key, polygons in runs.items()
    }
    assert got == expected
    assert sum(len(v) for v in got.values()) > result.n_paths  # some paths dim part-way


def test_parse_value_by_type() -> None:
    specs = prop_specs("source")
    assert parse_value("x_mm", specs["x_mm"], " 12.5 ") == 12.5
    assert parse_value("n_rays", specs["n_rays"], "7") == 7
    assert parse_value("n_rays", specs["n_rays"], "7.0") == 7
    assert parse_value("color", specs["color"], "00ff00") == "#00ff00"
    with pytest.raises(PropertyError, match="not a number"):
        parse_value("x_mm", specs["x_mm"], "twelve")
    with pytest.raises(PropertyError, match="an integer"):
        parse_value("n_rays", specs["n_rays"], "7.5")
    assert format_value(specs["x_mm"], 0.1 + 0.2) == "0.3"


def test_clipboard_round_trip_and_refusals(qapp: QApplication) -> None:
    comps = [make_component("lens", {"x_mm": 3.0, "efl_mm": -50.0}), make_component("source", {})]
    items = components_from_mime(components_to_mime(comps))
    assert [kind for kind, _ in items] == ["lens", "source"]
    assert items[0][1]["efl_mm"] == -50.0

    # A scene file's text pastes too.
    text = QMimeData()
    text.setText(json.dumps(scene_to_data(Scene({"A": comps[0]}))))
    assert components_from_mime(text)[0][0] == "lens"

    for bad in ("hello", '{"format": "optiverse-components", "components": [{"kind": "x"}]}'):
        mime = QMimeData()
        mime.setText(bad)
        with pytest.raises(ClipboardError):
            components_from_mime(mime)
    mime = QMimeData()
    mime.setText(
        '{"format": "optiverse-components", "components": '
        '[{"kind": "lens", "props": {"efl_mm": 0}}]}'
    )
    with pytest.raises(OptiverseError, match="efl_mm"):
        components_from_mime(mime)


def test_status_text() -> None:
    assert describe_state("offline", None, 0) == "Offline"
    assert describe_state("connected", "S1", 1) == "Connected · session S1 · 1 person"
    assert describe_state("reconnecting", "S1", 3) == "Reconnecting… · session S1"
