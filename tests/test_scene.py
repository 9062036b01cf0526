"""The scene model: kinds, validation, z-order keys and the file format."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optiverse.errors import PropertyError, SceneFileError
from optiverse.scene import (
    KINDS,
    Component,
    Scene,
    component_props,
    make_component,
    prop_specs,
    update_component,
)
from optiverse.scene.components import _checked, component_class
from optiverse.scene.fileformat import load_scene, read_scene, save_scene, scene_to_data
from optiverse.scene.zorder import is_valid_key, key_after, key_before, key_between
from tests.strategies import props_for, scenes, value_for, z_keys


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


def _validated_make(kind: str, props: dict[str, object], cid: str | None) -> object:
    """make_component as it was: check the given props, then let attrs validate every field."""
    return component_class(kind)(**_checked(kind, props, cid))


def _validated_update(comp: Component, props: dict[str, object], cid: str | None) -> object:
    return attrs.evolve(comp, **_checked(comp.kind, props, cid))


def _outcome(fn: Callable[[], object]) -> tuple[str, str]:
    try:
        out = fn()
    except Exception as exc:
        return type(exc).__name__, str(exc)
    assert isinstance(out, KINDS[out.kind])  # type: ignore[attr-defined]
    return type(out).__name__, repr(out)


_ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**7), 10**7),
    st.floats(allow_nan=False),
    st.sampled_from(["", "a0", "a1V", "#00FF7F", "#00ff7", "name", "x" * 201]),
)


@st.composite
def _any_props(draw: st.DrawFn, kind: str) -> dict[str, object]:
    """Props of ``kind``: valid values, values of any type, and now and then an unknown name."""
    specs = prop_specs(kind)
    names = draw(st.lists(st.sampled_from([*sorted(specs), "bogus"]), max_size=4, unique=True))
    return {
        name: draw(value_for(specs[name]) | _ANY_VALUE if name in specs else _ANY_VALUE)
        for name in names
    }


@settings(max_examples=400)
@given(data=st.data())
def test_fast_construction_matches_the_validated_path(data: st.DataObject) -> None:
    """make_component/update_component build without attrs' validators: same result, same error."""
    kind = data.draw(st.sampled_from(sorted(KINDS)))
    props = data.draw(_any_props(kind))
    cid = data.draw(st.sampled_from([None, "C1"]))
    assert _outcome(lambda: make_component(kind, props, cid)) == _outcome(
        lambda: _validated_make(kind, props, cid)
    )
    comp = make_component(kind, data.draw(props_for(kind)))
    more = data.draw(_any_props(kind))
    fast, slow = (
        _outcome(lambda: update_component(comp, more, cid)),
        _outcome(lambda: _validated_update(comp, more, cid)),
    )
    assert fast == slow
    if fast[0] != "PropertyError":
        new = update_component(comp, more, cid)
        assert new == _validated_update(comp, more, cid)
        assert hash(new) == hash(_validated_update(comp, more, cid))
        for name, value in component_props(new).items():
            assert type(value) is type(getattr(_validated_update(comp, more, cid), name))
