"""``render``: a PNG whose pixels show the traced rays in their source's colour."""

from __future__ import annotations

from pathlib import Path

import pytest

from optiverse.collab.messages import OpMsg
from optiverse.commands import Create, apply
from optiverse.replay.log import Log
from optiverse.replay.render import render_png
from optiverse.scene import Scene
from tests.replay.conftest import ANN, write_log
from tests.replay.sim import T0
from tests.replay.test_cli import run, run_process

QtGui = pytest.importorskip("PyQt6.QtGui")

GREEN = (0, 255, 0)


def _bench_log() -> Log:
    """A green source at x=0 shining along +x into a block at x=200."""
    scene = Scene()
    ops = [
        Create("S", "source", {"color": "#00FF00", "n_rays": 1, "aperture_mm": 0.0}),
        Create("B", "block", {"x_mm": 200.0, "length_mm": 50.0}),
        Create("M", "mirror", {"x_mm": 100.0, "y_mm": 100.0, "angle_deg": 90.0}),
    ]
    entries = tuple(
        OpMsg(v, "c", v, ANN, apply(scene, op), "edit", T0 + v) for v, op in enumerate(ops, 1)
    )
    return Log("bench", entries)


def _rgb(image: object, x: float, y: float) -> tuple[int, int, int]:
    color = image.pixelColor(round(x), round(y))  # type: ignore[attr-defined]
    return color.red(), color.green(), color.blue()


def test_the_beam_is_drawn_in_the_source_colour_between_source_and_block(
    tmp_path: Path,
) -> None:
    log = _bench_log()
    scene = Scene()
    for entry in log.entries:
        apply(scene, entry.op)
    out = tmp_path / "bench.png"
    view = render_png(scene, out, 600, 400)
    image = QtGui.QImage(str(out))
    assert not image.isNull() and (image.width(), image.height()) == (600, 400)
    # Along the beam, between the source and the block: the source colour.
    for x_mm in (20.0, 60.0, 140.0, 180.0):
        assert _rgb(image, *view.to_pixel(x_mm, 0.0)) == GREEN, x_mm
    # Beyond the block and well off the beam: the white bench.
    assert _rgb(image, *view.to_pixel(205.0, 60.0)) == (255, 255, 255)
    assert _rgb(image, *view.to_pixel(60.0, 40.0)) == (255, 255, 255)
    # The block is drawn black where the beam ends.
    assert _rgb(image, *view.to_pixel(200.0, 15.0)) == (0, 0, 0)


def test_render_cli_writes_the_picture_at_a_version(tmp_path: Path) -> None:
    path = write_log(_bench_log(), tmp_path / "bench.jsonl")
    code, _, err = run(
        "render", str(path), str(tmp_path / "v1.png"), "--to", "1", "--size", "300x200"
    )
    assert code == 0 and "at version 1" in err
    image = QtGui.QImage(str(tmp_path / "v1.png"))
    assert (image.width(), image.height()) == (300, 200)
    greens = sum(_rgb(image, x, y) == GREEN for x in range(0, 300, 3) for y in range(0, 200, 2))
    assert greens > 10


def test_render_runs_headless_without_qt_platform_set(tmp_path: Path) -> None:
    path = write_log(_bench_log(), tmp_path / "bench.jsonl")
    done = run_process(
        "render", str(path), str(tmp_path / "out.png"), unset=("QT_QPA_PLATFORM", "DISPLAY")
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
