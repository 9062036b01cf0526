"""Optics of the ray tracer: each test checks a physical law on a tiny bench,
and each fast tracer is cross-checked against the per-ray reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optiverse.optics import (
    RayPath,
    Termination,
    TraceResult,
    TraceSettings,
    hits,
    prepare,
    trace,
    trace_reference,
)
from optiverse.optics.testing import (
    Beamsplitter,
    Block,
    Lens,
    Mirror,
    Source,
    StandInScene,
    random_scene,
)

# Every test here runs with each tracer as the one ``trace`` uses.
pytestmark = pytest.mark.usefixtures("each_tracer")


def bench(**components: object) -> StandInScene:
    return StandInScene(dict(components))


def unit(angle_deg: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array([math.cos(a), math.sin(a)])


def direction(path: RayPath, segment: int) -> np.ndarray:
    d = path.points[segment + 1] - path.points[segment]
    return d / np.linalg.norm(d)


def angle_between(a: np.ndarray, b: np.ndarray) -> float:
    return math.degrees(math.atan2(a[0] * b[1] - a[1] * b[0], a @ b))


def line_meets_axis(p: np.ndarray, d: np.ndarray, origin: np.ndarray, axis: np.ndarray) -> float:
    """Signed distance along ``axis`` from ``origin`` where the line p + u d crosses it."""
    normal = np.array([-axis[1], axis[0]])
    u = ((origin - p) @ normal) / (d @ normal)
    return float((p + u * d - origin) @ axis)


def only_path(result: TraceResult) -> RayPath:
    assert len(result.paths) == 1
    return result.paths[0]


# --------------------------------------------------------------------------- lens


@pytest.mark.parametrize("efl", [40.0, 100.0, 250.0, -60.0, -150.0])
@pytest.mark.parametrize("beam_angle", [0.0, 30.0, 90.0, 143.0, 251.5])
@pytest.mark.parametrize("from_behind", [False, True])
def test_collimated_beam_crosses_axis_at_focal_length(
    efl: float, beam_angle: float, from_behind: bool
) -> None:
    # The lens may face either way: a thin lens has the same power from both sides.
    axis = unit(beam_angle)
    lens_at = np.array([12.0, -7.0])
    src_at = lens_at - 80.0 * axis
    scene = bench(
        s=Source(*src_at, beam_angle, aperture_mm=16.0, n_rays=5, ray_length_mm=2000.0),
        lens=Lens(*lens_at, beam_angle + (180.0 if from_behind else 0.0), 25.4, efl),
    )
    result = trace(scene)
    assert len(result.paths) == 5
    for k, path in enumerate(result.paths):
        assert path.points.shape == (3, 2)
        assert path.termination is Termination.ESCAPED
        assert np.allclose(path.points[1] - lens_at, (k - 2) * 4.0 * np.array([-axis[1], axis[0]]))
        if k == 2:
            # The axial ray goes straight through.
            assert np.allclose(direction(path, 1), axis, atol=1e-12)
            continue
        # Converging rays cross the axis at +f behind the lens; diverging rays,
        # extended backwards, appear to come from the virtual focus at -f.
        focus = line_meets_axis(path.points[1], direction(path, 1), lens_at, axis)
        assert focus == pytest.approx(efl, rel=1e-9)


@pytest.mark.parametrize("tilt_deg", [-12.0, 5.0, 20.0])
def test_tilted_parallel_bundle_focuses_to_one_point_in_the_focal_plane(tilt_deg: float) -> None:
    efl = 120.0
    scene = bench(
        s=Source(-40.0, 0.0, tilt_deg, aperture_mm=10.0, n_rays=7),
        lens=Lens(0.0, 0.0, 0.0, 60.0, efl),
    )
    result = trace(scene)
    assert len(result.paths) == 7
    expected = np.array([efl, efl * math.tan(math.radians(tilt_deg))])
    for path in result.paths:
        p, d = path.points[1], direction(path, 1)
        at_focal_plane = p + ((efl - p[0]) / d[0]) * d
        assert at_focal_plane == pytest.approx(expected, abs=1e-9)


def test_point_source_is_imaged_by_the_lens_equation() -> None:
    efl, obj = 100.0, 300.0
    image = 1.0 / (1.0 / efl - 1.0 / obj)  # 150 mm
    scene = bench(
        s=Source(-obj, 0.0, 0.0, aperture_mm=0.0, n_rays=9, spread_deg=8.0),
        lens=Lens(0.0, 0.0, 0.0, 50.0, efl),
    )
    for path in trace(scene).paths:
        if abs(path.points[1][1]) < 1e-12:
            continue
        crossing = line_meets_axis(path.points[1], direction(path, 1), np.zeros(2), unit(0.0))
        assert crossing == pytest.approx(image, rel=1e-9)


def test_lens_keeps_intensity_and_ray_misses_past_its_edge() -> None:
    scene = bench(
        s=Source(-50.0, 0.0, 0.0, aperture_mm=40.0, n_rays=3),
        lens=Lens(0.0, 0.0, 0.0, 25.4, 50.0),
    )
    paths = trace(scene).paths
    # The two outer rays (at +-20 mm) pass beside a 25.4 mm lens.
    assert [p.points.shape[0] for p in paths] == [2, 3, 2]
    assert all(np.all(p.intensities == 1.0) for p in paths)


# ------------------------------------------------------------------------- mirror


@pytest.mark.parametrize("mirror_angle", [180.0, 135.0, 160.0, 200.0, 225.0, 100.0, 30.0, -20.0])
@pytest.mark.parametrize("beam_angle", [0.0, 17.0])
def test_mirror_angle_of_incidence_equals_angle_of_reflection(
    mirror_angle: float, beam_angle: float
) -> None:
    d_in = unit(beam_angle)
    scene = bench(
        s=Source(*(-60.0 * d_in), beam_angle, n_rays=1),
        m=Mirror(0.0, 0.0, mirror_angle, 30.0, 1.0),
    )
    path = only_path(trace(scene))
    assert path.points[1] == pytest.approx([0.0, 0.0], abs=1e-12)
    d_out = direction(path, 1)
    n = unit(mirror_angle)
    # Incidence and reflection angles are measured from the normal on the side
    # the light is on; both faces of the mirror reflect.
    n_side = n if d_in @ n < 0 else -n
    incidence = abs(angle_between(-d_in, n_side))
    reflection = abs(angle_between(d_out, n_side))
    assert incidence == pytest.approx(reflection, abs=1e-9)
    # ... and on opposite sides of the normal, i.e. the reflected ray is the
    # incident one mirrored in the surface line (direction angle 2 * surface - beam).
    surface = mirror_angle + 90.0
    assert d_out == pytest.approx(unit(2.0 * surface - beam_angle), abs=1e-12)


@pytest.mark.parametrize("reflectivity", [1.0, 0.8, 0.35])
def test_mirror_reflectivity_scales_intensity(reflectivity: float) -> None:
    scene = bench(
        s=Source(-50.0, 0.0, 0.0, n_rays=1),
        m=Mirror(0.0, 0.0, 135.0, 25.4, reflectivity),
    )
    path = only_path(trace(scene))
    assert path.intensities.tolist() == [1.0, reflectivity]
    assert direction(path, 1) == pytest.approx([0.0, 1.0], abs=1e-12)


def test_mirror_below_threshold_ends_the_ray_dim() -> None:
    scene = bench(s=Source(-50.0, 0.0, 0.0, n_rays=1), m=Mirror(0.0, 0.0, 135.0, 25.4, 0.01))
    path = only_path(trace(scene))
    assert path.termination is Termination.DIM
    assert path.points[-1] == pytest.approx([0.0, 0.0])


# ------------------------------------------------------------------- beamsplitter


@pytest.mark.parametrize(
    ("splitter_angle", "reflected_to"), [(45.0, (0.0, -1.0)), (135.0, (0.0, 1.0))]
)
@pytest.mark.parametrize("transmission", [0.5, 0.3, 0.9])
def test_beamsplitter_conserves_intensity_and_splits_directions(
    splitter_angle: float, reflected_to: tuple[float, float], transmission: float
) -> None:
    scene = bench(
        s=Source(-50.0, 0.0, 0.0, n_rays=1),
        bs=Beamsplitter(0.0, 0.0, splitter_angle, 25.4, transmission),
    )
    result = trace(scene)
    assert len(result.paths) == 2
    main, branch = result.paths
    assert branch.parent == 0 and main.parent == -1
    assert branch.points[0] == pytest.approx([0.0, 0.0])
    i_t, i_r = main.intensities[-1], branch.intensities[0]
    assert i_t == pytest.approx(transmission)
    assert i_r == pytest.approx(1.0 - transmission)
    assert i_t + i_r == pytest.approx(main.intensities[0])
    assert direction(main, 1) == pytest.approx([1.0, 0.0], abs=1e-12)
    assert direction(branch, 0) == pytest.approx(reflected_to, abs=1e-12)
    assert result.n_segments == 3


def test_beamsplitter_child_below_threshold_is_skipped() -> None:
    scene = bench(
        s=Source(-50.0, 0.0, 0.0, n_rays=1),
        bs=Beamsplitter(0.0, 0.0, 45.0, 25.4, 0.99),
    )
    path = only_path(trace(scene))
    assert path.intensities.tolist() == [1.0, 0.99]
    # With the transmitted side too dim, the path carries on as the reflection.
    scene.components["bs"] = Beamsplitter(0.0, 0.0, 45.0, 25.4, 0.01)
    path = only_path(trace(scene))
    assert path.intensities.tolist() == [1.0, 0.99]
    assert direction(path, 1) == pytest.approx([0.0, -1.0], abs=1e-12)


# ------------------------------------------------------------------ termination


def test_block_absorbs() -> None:
    scene = bench(
        s=Source(-50.0, 0.0, 0.0, aperture_mm=4.0, n_rays=3),
        b=Block(10.0, 0.0, 0.0, 25.4),
        m=Mirror(40.0, 0.0, 180.0, 25.4),
    )
    for path in trace(scene).paths:
        assert path.termination is Termination.ABSORBED
        assert path.points.shape == (2, 2)
        assert path.points[-1][0] == pytest.approx(10.0)
        assert path.interactions == 1


def cavity(reflectivity: float, ray_length: float = 1e6) -> StandInScene:
    # Two mirrors facing each other 100 mm apart; the ray starts between them.
    return bench(
        s=Source(50.0, 0.0, 0.0, n_rays=1, ray_length_mm=ray_length),
        left=Mirror(0.0, 0.0, 0.0, 20.0, reflectivity),
        right=Mirror(100.0, 0.0, 180.0, 20.0, reflectivity),
    )


def test_max_interactions_ends_the_ray() -> None:
    path = only_path(trace(cavity(1.0)))
    assert path.termination is Termination.MAX_INTERACTIONS
    assert path.interactions == 80
    assert len(path.points) == 81
    path = only_path(trace(cavity(1.0), TraceSettings(max_interactions=5)))
    assert path.interactions == 5
    assert path.points[:, 0].tolist() == [50.0, 100.0, 0.0, 100.0, 0.0, 100.0]


def test_intensity_threshold_ends_the_ray() -> None:
    path = only_path(trace(cavity(0.9)))
    assert path.termination is Termination.DIM
    # 0.9**37 = 0.0203 still counts; 0.9**38 = 0.0183 is below 0.02.
    assert path.interactions == 38
    assert path.intensities[-1] == pytest.approx(0.9**37)
    assert np.all(np.diff(path.intensities) < 0)


def test_ray_length_ends_the_ray() -> None:
    path = only_path(trace(cavity(1.0, ray_length=1234.5)))
    assert path.termination is Termination.LENGTH
    travelled = np.linalg.norm(np.diff(path.points, axis=0), axis=1).sum()
    assert travelled == pytest.approx(1234.5)
    # 50 mm to the right mirror, then 11 passes of 100 mm leave it at the left
    # mirror after 12 reflections with 84.5 mm to go.
    assert path.interactions == 12
    assert path.points[-1] == pytest.approx([84.5, 0.0])


def test_ray_with_nothing_ahead_escapes_at_its_length() -> None:
    path = only_path(trace(bench(s=Source(3.0, 4.0, 90.0, n_rays=1, ray_length_mm=250.0))))
    assert path.termination is Termination.ESCAPED
    assert path.points.tolist() == [[3.0, 4.0], [3.0, 254.0]]
    assert path.intensities.tolist() == [1.0]


def test_segment_cap_truncates_a_splitting_cavity() -> None:
    # Splitters inside a mirror box multiply rays; the cap must stop the trace.
    scene = bench(
        s=Source(0.0, 0.0, 10.0, n_rays=3, aperture_mm=2.0, ray_length_mm=1e6),
        b1=Beamsplitter(30.0, 0.0, 45.0, 20.0, 0.5),
        b2=Beamsplitter(-30.0, 10.0, 120.0, 20.0, 0.5),
        m1=Mirror(100.0, 0.0, 180.0, 400.0),
        m2=Mirror(-100.0, 0.0, 0.0, 400.0),
        m3=Mirror(0.0, 100.0, 270.0, 400.0),
        m4=Mirror(0.0, -100.0, 90.0, 400.0),
    )
    limits = TraceSettings(max_segments=500, min_intensity=0.001)
    result = trace(scene, limits)
    assert result.truncated
    assert result.n_segments <= 500
    assert sum(len(p.intensities) for p in result.paths) == result.n_segments
    assert any(p.termination is Termination.TRUNCATED for p in result.paths)
    assert_same(result, trace_reference(scene, limits))


# ------------------------------------------------------------------------ source


@pytest.mark.parametrize("angle", [0.0, 90.0, 33.0, 200.0])
def test_source_fans_rays_across_aperture_and_spread(angle: float) -> None:
    scene = bench(s=Source(5.0, -5.0, angle, aperture_mm=12.0, n_rays=7, spread_deg=30.0))
    paths = trace(scene).paths
    assert len(paths) == 7
    across = unit(angle + 90.0)
    for k, path in enumerate(paths):
        offset = -6.0 + 2.0 * k
        assert path.points[0] == pytest.approx(np.array([5.0, -5.0]) + offset * across)
        turned = angle_between(unit(angle), direction(path, 0))
        assert turned == pytest.approx(-15.0 + 5.0 * k, abs=1e-9)
        assert path.source_id == "s"


def test_single_ray_leaves_from_the_centre_along_the_axis() -> None:
    scene = bench(s=Source(1.0, 2.0, 60.0, aperture_mm=12.0, n_rays=1, spread_deg=30.0))
    path = only_path(trace(scene))
    assert path.points[0].tolist() == [1.0, 2.0]
    assert direction(path, 0) == pytest.approx(unit(60.0))


def test_paths_carry_source_colour_and_wavelength() -> None:
    scene = bench(
        b=Source(0.0, 0.0, 0.0, n_rays=2, color="#00FF00", wavelength_nm=532.0),
        a=Source(0.0, 50.0, 0.0, n_rays=1, color="#FF0000"),
    )
    paths = trace(scene).paths
    # Sources are taken in id order, whatever order the dict was filled in.
    assert [(p.source_id, p.color) for p in paths] == [
        ("a", "#FF0000"),
        ("b", "#00FF00"),
        ("b", "#00FF00"),
    ]
    assert paths[1].wavelength_nm == 532.0
    assert not paths[0].points.flags.writeable


# --------------------------------------------------------- tracers vs reference


def assert_same(a: TraceResult, b: TraceResult) -> None:
    assert a.n_segments == b.n_segments
    assert a.truncated == b.truncated
    assert len(a.paths) == len(b.paths)
    for p, q in zip(a.paths, b.paths, strict=True):
        assert (p.source_id, p.termination, p.interactions, p.parent) == (
            q.source_id,
            q.termination,
            q.interactions,
            q.parent,
        )
        assert p.points.shape == q.points.shape
        np.testing.assert_allclose(p.points, q.points, rtol=0, atol=1e-6)
        np.testing.assert_allclose(p.intensities, q.intensities, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_tracer_matches_reference_on_random_scenes(seed: int) -> None:
    scene = random_scene(seed, n_sources=3, n_rays=15, n_elements=40, size_mm=300.0)
    a, b = trace(scene), trace_reference(scene)
    assert_same(a, b)
    assert sum(len(p.intensities) for p in a.paths) == a.n_segments


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_elements=st.integers(0, 25),
    max_interactions=st.integers(1, 12),
    min_intensity=st.floats(0.005, 0.5),
)
def test_tracer_matches_reference_hypothesis(
    seed: int, n_elements: int, max_interactions: int, min_intensity: float
) -> None:
    scene = random_scene(seed, n_sources=2, n_rays=7, n_elements=n_elements, size_mm=200.0)
    limits = TraceSettings(max_interactions=max_interactions, min_intensity=min_intensity)
    assert_same(trace(scene, limits), trace_reference(scene, limits))


def test_tracer_matches_reference_in_a_closed_box() -> None:
    # Every ray bounces until a limit: many generations, lenses and splitters.
    rng = np.random.default_rng(7)
    comps: dict[str, object] = {
        "w1": Mirror(150.0, 0.0, 180.0, 310.0, 0.98),
        "w2": Mirror(-150.0, 0.0, 0.0, 310.0, 0.98),
        "w3": Mirror(0.0, 150.0, 270.0, 310.0, 0.98),
        "w4": Mirror(0.0, -150.0, 90.0, 310.0, 0.98),
        "s": Source(0.0, 0.0, 20.0, 30.0, 11, 40.0, ray_length_mm=1e6),
    }
    for i in range(12):
        x, y = rng.uniform(-120.0, 120.0, 2)
        kind = (Lens, Beamsplitter, Mirror)[i % 3]
        comps[f"e{i}"] = kind(float(x), float(y), float(rng.uniform(0, 360)), 30.0)
    scene = StandInScene(comps)
    limits = TraceSettings(max_interactions=40)
    a = trace(scene, limits)
    assert_same(a, trace_reference(scene, limits))
    assert max(p.interactions for p in a.paths) == 40


# ------------------------------------------------------------------ real scene


def test_traces_a_real_scene() -> None:
    scene_mod = pytest.importorskip("optiverse.scene")
    scene = scene_mod.Scene()
    scene.components["src"] = scene_mod.Source(x_mm=-100.0, aperture_mm=10.0, n_rays=3)
    scene.components["lens"] = scene_mod.Lens(efl_mm=50.0)
    scene.components["bs"] = scene_mod.Beamsplitter(x_mm=50.0, length_mm=40.0)
    scene.components["stop"] = scene_mod.BeamBlock(x_mm=50.0, y_mm=-60.0, angle_deg=90.0)
    result = trace(scene)
    assert_same(result, trace_reference(scene))
    transmitted = [p for p in result.paths if p.parent == -1]
    reflected = [p for p in result.paths if p.parent != -1]
    assert len(transmitted) == 3 and len(reflected) == 3
    # The focus of the 50 mm lens is at x = 50, where the splitter sits.
    assert all(p.points[2] == pytest.approx([50.0, 0.0]) for p in transmitted)
    assert all(p.termination is Termination.ABSORBED for p in reflected)
    assert all(p.points[-1][1] == pytest.approx(-60.0) for p in reflected)


@pytest.mark.parametrize("dense_max_cells", [0, 1 << 30])
def test_both_hit_search_strategies_match_reference(
    monkeypatch: pytest.MonkeyPatch, dense_max_cells: int
) -> None:
    # Small batches are searched densely, large ones culled first; force each.
    monkeypatch.setattr(hits, "DENSE_MAX_CELLS", dense_max_cells)
    for seed in (3, 4):
        scene = random_scene(seed, n_sources=4, n_rays=40, n_elements=60, size_mm=300.0)
        assert_same(trace(scene), trace_reference(scene))


def test_hit_search_skips_the_element_just_left_and_breaks_ties_low() -> None:
    scene = bench(
        a=Mirror(10.0, 0.0, 0.0, 20.0),
        b=Mirror(10.0, 0.0, 180.0, 20.0),  # the same segment again, facing the other way
        c=Block(30.0, 0.0, 0.0, 20.0),
    )
    elements = prepare(scene).elements
    # Rows x, y, dx, dy (column-major, as the tracer keeps rays): two rays towards
    # the mirrors, one starting on them.
    rays = np.array([[0.0, 1.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [10.0, 1.0, 1.0, 0.0]]).T
    for cells in (0, 1 << 30):
        finder = hits.HitFinder(elements, 1e-6, dense_max_cells=cells)
        with np.errstate(divide="ignore", invalid="ignore"):
            j, t, s = finder.nearest(rays, None)
            assert j.tolist() == [0, 0, 2]  # a tie goes to the lower index; t = 0 is no hit
            assert t.tolist() == [10.0, 10.0, 20.0]
            assert s[0] == pytest.approx(0.55)
            j, t, _ = finder.nearest(rays, np.array([1, 0, 0]))
            assert j.tolist() == [0, 1, 2]
            assert t.tolist() == [10.0, 10.0, 20.0]
            # A ray that misses every element reports a distance of at least MISS.
            _, t, _ = finder.nearest(np.array([[0.0], [50.0], [1.0], [0.0]]), None)
            assert t[0] >= hits.MISS


def test_branches_share_the_path_length_and_interaction_budget_of_their_source() -> None:
    scene = bench(
        s=Source(-50.0, 0.0, 0.0, n_rays=1, ray_length_mm=120.0),
        bs=Beamsplitter(0.0, 0.0, 45.0, 25.4, 0.5),
    )
    main, branch = trace(scene).paths
    assert main.termination is branch.termination is Termination.ESCAPED
    # 50 mm to the splitter, then 70 mm left for each of its children.
    assert main.points[-1] == pytest.approx([70.0, 0.0])
    assert branch.points[-1] == pytest.approx([0.0, -70.0])
    assert main.interactions == branch.interactions == 1


def test_unknown_kinds_are_ignored_and_bad_settings_rejected() -> None:
    class Label:
        kind = "label"

    scene = bench(note=Label(), s=Source(0.0, 0.0, 0.0, n_rays=1, ray_length_mm=10.0))
    assert only_path(trace(scene)).points.tolist() == [[0.0, 0.0], [10.0, 0.0]]
    for bad in (
        {"max_interactions": 0},
        {"min_intensity": 0.0},
        {"epsilon_mm": 0.0},
        {"max_segments": -1},
    ):
        with pytest.raises(ValueError):
            TraceSettings(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="efl_mm"):
        trace(bench(lens=Lens(efl_mm=0.0)))


def test_a_ray_along_an_element_passes_it() -> None:
    # The ray runs exactly along the mirror's line: every cross product with it is
    # zero, t and s are NaN, and the pair must fail the hit test, not win it.
    scene = bench(
        s=Source(-50.0, 0.0, 0.0, n_rays=1),
        m=Mirror(0.0, 0.0, 270.0, 20.0),
        b=Block(100.0, 0.0, 0.0, 20.0),
    )
    (path,) = trace(scene).paths
    assert path.termination is Termination.ABSORBED
    assert path.points.tolist() == [[-50.0, 0.0], [100.0, 0.0]]
    assert_same(trace(scene), trace_reference(scene))
