"""The scene file: versioned JSON, loaded all-or-nothing.

    {"format": "optiverse-scene", "version": 1,
     "components": [{"id": "L1", "kind": "lens", "props": {...every property...}}]}

Components are written in draw order.  Loading checks the format tag and
version, that every component has every property of its kind and no other,
and every value; any problem raises SceneFileError naming the component and
property, and no scene is returned.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from optiverse.errors import OptiverseError, SceneFileError
from optiverse.scene.components import (
    component_class,
    component_props,
    make_component,
    prop_specs,
    validate_id,
)
from optiverse.scene.scene import Scene

__all__ = [
    "FORMAT",
    "VERSION",
    "load_scene",
    "read_scene",
    "save_scene",
    "scene_from_data",
    "scene_to_data",
]

FORMAT = "optiverse-scene"
VERSION = 1


def scene_to_data(scene: Scene) -> dict[str, Any]:
    """The file's JSON data for ``scene``."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "components": [
            {"id": cid, "kind": comp.kind, "props": component_props(comp)}
            for cid, comp in scene.in_draw_order()
        ],
    }


def scene_from_data(data: object) -> Scene:
    """The scene in file data, or SceneFileError."""
    if not isinstance(data, dict):
        raise SceneFileError("not an Optiverse scene: the file is not a JSON object")
    if data.get("format") != FORMAT:
        raise SceneFileError(f"not an Optiverse scene: 'format' is {data.get('format')!r}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SceneFileError(f"invalid scene file version {version!r}")
    if version > VERSION:
        raise SceneFileError(
            f"this scene was written by a newer Optiverse (file version {version}); "
            f"this build reads version {VERSION}"
        )
    extra = set(data) - {"format", "version", "components"}
    if extra:
        raise SceneFileError(f"unknown top-level field(s): {', '.join(sorted(extra))}")
    items = data.get("components")
    if not isinstance(items, list):
        raise SceneFileError("missing field 'components' (a list)")
    scene = Scene()
    for index, item in enumerate(items):
        where = f"component #{index}"
        if not isinstance(item, dict):
            raise SceneFileError(f"{where}: not an object")
        missing = {"id", "kind", "props"} - set(item)
        if missing:
            raise SceneFileError(f"{where}: missing field(s) {', '.join(sorted(missing))}")
        if set(item) - {"id", "kind", "props"}:
            raise SceneFileError(
                f"{where}: unknown field(s) {sorted(set(item) - {'id', 'kind', 'props'})}"
            )
        try:
            cid = validate_id(item["id"])
            where = f"component {cid!r}"
            if cid in scene.components:
                raise SceneFileError(f"{where}: duplicate id")
            kind = item["kind"]
            component_class(kind)
            props = item["props"]
            if not isinstance(props, dict):
                raise SceneFileError(f"{where}: 'props' is not an object")
            missing_props = set(prop_specs(kind)) - set(props)
            if missing_props:
                raise SceneFileError(
                    f"{where}: missing propert{'y' if len(missing_props) == 1 else 'ies'} "
                    f"{', '.join(sorted(missing_props))}"
                )
            scene.components[cid] = make_component(kind, props, cid)
        except SceneFileError:
            raise
        except OptiverseError as exc:
            raise SceneFileError(
                str(exc) if "component" in str(exc) else f"{where}: {exc}"
            ) from None
    return scene


def read_scene(text: str | bytes) -> Scene:
    """The scene in JSON text, or SceneFileError."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SceneFileError(f"not valid JSON: {exc}") from None
    return scene_from_data(data)


def load_scene(path: str | os.PathLike[str]) -> Scene:
    """Read a scene file, or SceneFileError (also for a missing or unreadable file)."""
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise SceneFileError(f"cannot read {os.fspath(path)!r}: {exc.strerror}") from None
    return read_scene(text)


def save_scene(scene: Scene, path: str | os.PathLike[str]) -> None:
    """Write ``scene`` atomically: a crash mid-save leaves the old file intact."""
    target = Path(path)
    text = json.dumps(scene_to_data(scene), indent=2, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
