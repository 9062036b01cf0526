"""Render the user guide's screenshots with the real app, offscreen.

    .venv/bin/python tools/screenshots.py [--out docs/images]

Two windows share a session on a server embedded in this process (the same
one "Create session" starts), so the collaboration pictures show real
presence, not a mock-up.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PyQt6.QtCore import QCoreApplication, QEvent, QEventLoop, QPointF, Qt
from PyQt6.QtGui import QMouseEvent
from PyQt6.QtWidgets import QApplication, QLineEdit, QWidget

from optiverse.scene import PropValue
from optiverse.ui.file_controller import SaveChoice
from optiverse.ui.main_window import MainWindow
from optiverse.ui.share_dialog import CreateRequest, JoinRequest, JoinSessionDialog

# A two-lens beam expander, a fold mirror, and a beamsplitter that combines a
# green alignment laser with the red beam before a focusing lens.
BENCH: list[tuple[str, dict[str, PropValue]]] = [
    ("source", {"name": "HeNe laser", "x_mm": -260.0, "y_mm": 0.0, "aperture_mm": 6.0}),
    ("lens", {"name": "L1 f=40", "x_mm": -180.0, "y_mm": 0.0, "efl_mm": 40.0}),
    ("lens", {"name": "L2 f=80", "x_mm": -60.0, "y_mm": 0.0, "efl_mm": 80.0}),
    ("mirror", {"name": "M1", "x_mm": 60.0, "y_mm": 0.0, "angle_deg": 135.0}),
    ("beamsplitter", {"name": "BS 50:50", "x_mm": 60.0, "y_mm": 110.0}),
    (
        "source",
        {
            "name": "Alignment laser",
            "x_mm": 200.0,
            "y_mm": 110.0,
            "angle_deg": 180.0,
            "aperture_mm": 4.0,
            "n_rays": 5,
            "wavelength_nm": 532.0,
            "color": "#1F9D55",
        },
    ),
    ("mirror", {"name": "M2", "x_mm": -120.0, "y_mm": 110.0, "angle_deg": -45.0}),
    ("block", {"name": "Dump", "x_mm": -120.0, "y_mm": 45.0, "angle_deg": 90.0, "length_mm": 30.0}),
    ("lens", {"name": "L3 f=60", "x_mm": 60.0, "y_mm": 180.0, "angle_deg": 90.0, "efl_mm": 60.0}),
    ("block", {"name": "Detector", "x_mm": 60.0, "y_mm": 250.0, "angle_deg": -90.0}),
]


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.005)


def spin(seconds: float = 0.2) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.005)


def hover(window: MainWindow, x_mm: float, y_mm: float) -> None:
    viewport = window.view.viewport()
    assert viewport is not None
    pos = window.scene_point(x_mm, y_mm)
    event = QMouseEvent(
        QEvent.Type.MouseMove,
        pos,
        QPointF(viewport.mapToGlobal(pos.toPoint())),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(viewport, event)


def new_window(name: str) -> MainWindow:
    window = MainWindow(name=name)
    window.files.ask_save_changes = lambda: SaveChoice.DISCARD
    window.resize(1280, 800)
    window.show()
    spin(0.1)
    return window


def save(widget: QWidget, path: Path) -> None:
    spin(0.15)
    if not widget.grab().save(str(path)):
        raise OSError(f"cannot write {path}")
    print(f"wrote {path}")


def find_id(window: MainWindow, name: str) -> str:
    return next(cid for cid, c in window.document.scene.components.items() if c.name == name)


def shoot(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ann = new_window("Ann")
    ann.document.add_components(BENCH[:4])
    ann.document.add_components(BENCH[4:])
    lens = find_id(ann, "L2 f=80")
    ann.document.move_components([lens], 8.0, 0.0, final=True)
    ann.document.set_properties(lens, {"x_mm": -60.0})
    ann.act_fit.trigger()
    ann.bench.select_ids([lens])
    ann.retracer.trace_now()
    save(ann, out / "editor.png")

    # An out-of-range value is refused in the panel.
    editor = ann.properties.editors["efl_mm"]
    assert isinstance(editor, QLineEdit)
    editor.setFocus()
    editor.setText("0")
    editor.setModified(True)
    editor.editingFinished.emit()
    save(ann.properties_dock, out / "property-error.png")
    ann.properties.clear_error()

    # Ann shares; the app hosts the server itself.
    ann.sharing.create(CreateRequest("Ann", None, None))
    wait_for(lambda: ann.invite_dialog is not None and ann.invite_dialog.isVisible())
    assert ann.invite_dialog is not None
    save(ann.invite_dialog, out / "invite.png")
    invite = ann.sharing.invite()
    assert invite is not None
    ann.invite_dialog.close()

    bob = new_window("Bob")
    dialog = JoinSessionDialog("Bob", invite, bob)
    dialog.show()
    save(dialog, out / "join.png")
    request = dialog.request()
    assert isinstance(request, JoinRequest)
    dialog.close()
    bob.join(request)
    wait_for(lambda: bob.document.connection_state == "connected" and len(bob.document.scene) > 0)
    wait_for(lambda: bob.document.scene == ann.document.scene and len(bob.people.names()) == 2)

    # Ann points at M1 and has the beamsplitter selected; Bob sees both.
    ann.bench.select_ids([find_id(ann, "BS 50:50")])
    hover(ann, 95.0, 70.0)
    wait_for(lambda: len(bob.presence.cursors) == 1)
    bs = find_id(bob, "BS 50:50")
    wait_for(lambda: bob.bench.items_by_id[bs].peer_colors != [])
    bob.act_fit.trigger()
    bob.bench.select_ids([find_id(bob, "L3 f=60")])
    bob.people_dock.raise_()
    bob.retracer.trace_now()
    save(bob, out / "collaboration.png")

    for window in (bob, ann):
        window.close()
        window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Optiverse")
    shoot(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
