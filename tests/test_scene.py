"""The scene model: kinds, validation, z-order keys and the file format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optiverse.errors import PropertyError, SceneFileError
from optiverse.scene import KINDS, Scene, make_component, prop_specs
from optiverse.scene.fileformat import load_scene, read_scene, save_scene, scene_to_data
from optiverse.scene.zorder import is_valid_key, key_after, key_before, key_between
from tests.strategies import scenes, z_keys


def test_defaults_users_expect() -> None:
    source = make_component("source", {})
    assert (source.aperture_mm, source.n_rays, source.wavelength_nm) == (10.0, 9, 633.0)
    assert (source.spread_deg, source.ray_length_mm) == (0.0, 1000.0)
    lens = make_component("lens", {})
    assert (lens.length_mm, lens.efl_mm) == (25.4, 100.0)
    assert make_component("mirror", {}).reflectivity == 1.0
    splitter = make_component("beamsplitter", {})
    assert (splitter.angle_deg, splitter.transmission) == (45.0, 0.5)
    assert set(KINDS) == {"source", "lens", "mirror", "beamsplitter", "block"}
    for kind in KINDS:
        assert {"x_mm", "y_mm", "angle_deg", "name", "locked", "z"} <= set(prop_specs(kind))


@pytest.mark.parametrize(
    ("kind", "props", "message"),
    [
        ("source", {"n_rays": 0}, r"'n_rays'.*>= 1, <= 2001"),
        ("source", {"n_rays": 2.5}, r"'n_rays'.*an integer"),
        ("source", {"n_rays": True}, r"'n_rays'"),
        ("source", {"color": "red"}, r"'color'.*#RRGGBB"),
        ("lens", {"efl_mm": 0.0}, r"'efl_mm'.*non-zero"),
        ("lens", {"x_mm": float("nan")}, r"'x_mm'.*finite"),
        ("lens", {"x_mm": "3"}, r"'x_mm'"),
        ("mirror", {"reflectivity": 1.5}, r"'reflectivity'.*<= 1"),
        ("beamsplitter", {"transmission": -0.1}, r"'transmission'.*>= 0"),
        ("block", {"efl_mm": 10.0}, r"'efl_mm': unknown to a block"),
        ("lens", {"locked": 1}, r"'locked'.*true or false"),
        ("lens", {"z": "a10"}, r"'z'"),
        ("lens", {"z": "V"}, r"'z'"),
    ],
)
def test_invalid_values_are_refused_naming_component_property_and_range(
    kind: str, props: dict[str, object], message: str
) -> None:
    with pytest.raises(PropertyError, match=rf"component 'C1': property {message}"):
        make_component(kind, props, "C1")


def test_ints_become_floats_so_equal_scenes_compare_equal() -> None:
    assert make_component("lens", {"x_mm": 3}) == make_component("lens", {"x_mm": 3.0})


@settings(max_examples=200, deadline=None)
@given(a=st.one_of(st.none(), z_keys()), data=st.data())
def test_z_keys_always_fit_between(a: str | None, data: st.DataObject) -> None:
    b = data.draw(st.one_of(st.none(), st.just(key_after(a))))
    k = key_between(a, b)
    assert is_valid_key(k)
    assert a is None or a < k
    assert b is None or k < b


def test_appending_on_top_keeps_keys_short() -> None:
    # Appends increment the integer part, so keys grow with log(n), not n.
    key = None
    for _ in range(100_000):
        key = key_after(key)
    assert key is not None and len(key) <= 5
    key = None
    for _ in range(10_000):
        key = key_before(key)
    assert key is not None and len(key) <= 5


def test_z_keys_stay_ordered_under_repeated_insertion() -> None:
    keys = [key_after(None)]
    for _ in range(200):
        keys.append(key_after(keys[-1]))
        keys.insert(0, key_before(keys[0]))
        keys.insert(1, key_between(keys[0], keys[1]))
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


@settings(max_examples=100, deadline=None)
@given(scene=scenes())
def test_file_round_trip(tmp_path_factory: pytest.TempPathFactory, scene: Scene) -> None:
    path = tmp_path_factory.mktemp("scene") / "s.json"
    save_scene(scene, path)
    assert load_scene(path) == scene


def _file(components: list[dict[str, object]], **top: object) -> str:
    data: dict[str, object] = {"format": "optiverse-scene", "version": 1, "components": components}
    data.update(top)
    return json.dumps(data)


def _lens(**overrides: object) -> dict[str, object]:
    item = scene_to_data(Scene({"L1": make_component("lens", {})}))["components"][0]
    item.update(overrides)
    return item


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_file([], version=2), "newer Optiverse.*version 2"),
        (_file([], format="other"), "not an Optiverse scene"),
        ("{", "not valid JSON"),
        (_file([{"id": "L1", "kind": "lens"}]), "missing field.*props"),
        (_file([_lens(kind="prism")]), "unknown component kind 'prism'"),
        (
            _file([_lens(props={k: v for k, v in _lens()["props"].items() if k != "efl_mm"})]),  # type: ignore[attr-defined]
            "component 'L1': missing property efl_mm",
        ),
        (
            _file([_lens(props={**_lens()["props"], "efl_mm": 0})]),  # type: ignore[dict-item]
            "component 'L1': property 'efl_mm'",
        ),
        (_file([_lens(), _lens()]), "duplicate id"),
        (_file([], extra=1), "unknown top-level field"),
    ],
)
def test_bad_files_give_a_clear_error_and_no_scene(text: str, message: str) -> None:
    with pytest.raises(SceneFileError, match=message):
        read_scene(text)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SceneFileError, match="cannot read"):
        load_scene(tmp_path / "nope.json")
