"""Edge cases of the fast tracers (each in turn): odd scenes, the limits, the result
assembly, the hit search's work buffers (across scenes and threads), checked
against the per-ray reference and against optics worked out by hand."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest

from optiverse.optics import (
    SourceInfo,
    Termination,
    TraceResult,
    TraceSettings,
    hits,
    prepare,
    trace,
    trace_prepared,
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
from tests.test_optics import assert_same, bench

FLAT = ("points", "intensities", "offsets", "source", "termination", "interactions", "parent")

# Every test here runs with each tracer as the one ``trace`` uses.
pytestmark = pytest.mark.usefixtures("each_tracer")


def assert_same_flat(a: TraceResult, b: TraceResult) -> None:
    """Like ``assert_same``, on the flat arrays (dtypes, shapes, sources, read-only
    included); quick enough for tens of thousands of paths."""
    assert (a.n_segments, a.truncated, a.sources) == (b.n_segments, b.truncated, b.sources)
    for name in FLAT:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        assert x.shape == y.shape, name
        assert not x.flags.writeable, name
        if x.dtype.kind == "f":
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)


def both(scene: StandInScene, limits: TraceSettings | None = None) -> TraceResult:
    """The traced result, after checking it against the reference."""
    limits = limits or TraceSettings()
    result = trace(scene, limits)
    reference = trace_reference(scene, limits)
    assert_same_flat(result, reference)
    if result.n_paths < 1000:
        assert_same(result, reference)  # the per-path view as well
    return result


def check_lineage(result: TraceResult) -> None:
    """Parents precede children, and a branch starts on its parent's polyline."""
    for i, p in enumerate(result.paths):
        assert len(p.points) >= 2
        assert len(p.intensities) == len(p.points) - 1
        if p.parent >= 0:
            assert p.parent < i
            parent = result.paths[p.parent]
            assert any(np.array_equal(p.points[0], q) for q in parent.points[1:])
            assert p.interactions >= 1


# ------------------------------------------------------------------ odd scenes


def test_empty_scenes() -> None:
    for scene in (bench(), bench(m=Mirror(), l=Lens(), b=Block(), bs=Beamsplitter())):
        result = both(scene)
        assert result.n_paths == 0 and result.paths == ()
        assert result.points.shape == (0, 2)
        assert result.offsets.tolist() == [0]
        assert result.n_segments == 0 and not result.truncated
        assert result.sources == ()


def test_sources_without_elements_escape_at_their_length() -> None:
    scene = bench(
        a=Source(0.0, 0.0, 90.0, aperture_mm=20.0, n_rays=3, ray_length_mm=50.0),
        b=Source(5.0, 5.0, 180.0, n_rays=1, ray_length_mm=7.0),
    )
    result = both(scene)
    assert result.n_segments == 4
    ends = [p.points[-1].tolist() for p in result.paths]
    # A beam along +y: the aperture runs from +x (its counter-clockwise side is -x).
    assert ends == [[10.0, 50.0], [0.0, 50.0], [-10.0, 50.0], [-2.0, 5.0]]
    for p in result.paths:
        assert p.termination is Termination.ESCAPED
        assert p.interactions == 0 and p.parent == -1
        assert p.intensities.tolist() == [1.0]


@pytest.mark.parametrize(
    "dud",
    [
        {"n_rays": 0},
        {"n_rays": -3},
        {"ray_length_mm": 0.0},
        {"ray_length_mm": -10.0},
    ],
)
def test_a_source_that_launches_nothing_is_left_out(dud: dict[str, float]) -> None:
    scene = bench(
        a=Source(0.0, 0.0, 0.0, **dud),  # type: ignore[arg-type]
        b=Source(0.0, 50.0, 0.0, n_rays=2, ray_length_mm=100.0),
        m=Mirror(50.0, 0.0, 180.0),
    )
    result = both(scene)
    assert [s.id for s in result.sources] == ["b"]
    assert result.source.tolist() == [0, 0]
    assert all(p.source_id == "b" for p in result.paths)


@pytest.mark.parametrize("kind", [Lens, Mirror, Beamsplitter, Block])
@pytest.mark.parametrize("length", [0.0, -5.0])
def test_rays_pass_elements_of_no_length(kind: type, length: float) -> None:
    # The ray passes exactly through the element's (only) point, then meets a block.
    scene = bench(
        s=Source(-20.0, 0.0, 0.0, n_rays=1),
        e=kind(0.0, 0.0, 0.0, length),
        z=Block(40.0, 0.0, 0.0, 10.0),
    )
    for cells in (0, 1 << 30):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(hits, "DENSE_MAX_CELLS", cells)
            (path,) = both(scene).paths
        assert path.points.tolist() == [[-20.0, 0.0], [40.0, 0.0]]
        assert path.termination is Termination.ABSORBED


def test_some_rays_hit_nothing_in_the_first_generation() -> None:
    # Five rays 10 mm apart; only the middle one meets the mirror (length 4).
    scene = bench(
        s=Source(0.0, 0.0, 0.0, aperture_mm=40.0, n_rays=5, ray_length_mm=200.0),
        m=Mirror(50.0, 0.0, 135.0, 4.0),
    )
    result = both(scene)
    ends = np.array([p.points[-1] for p in result.paths])
    expected = [[200.0, -20.0], [200.0, -10.0], [50.0, 150.0], [200.0, 10.0], [200.0, 20.0]]
    np.testing.assert_allclose(ends, expected, rtol=0, atol=1e-12)
    assert result.interactions.tolist() == [0, 0, 1, 0, 0]
    assert all(p.termination is Termination.ESCAPED for p in result.paths)


def test_many_sources_in_id_order() -> None:
    rng = np.random.default_rng(11)
    comps: dict[str, object] = {}
    for i in range(150):
        comps[f"s{i}"] = Source(
            float(rng.uniform(-100.0, 0.0)),
            float(rng.uniform(-100.0, 100.0)),
            float(rng.uniform(-40.0, 40.0)),
            n_rays=int(rng.integers(1, 4)),
            color=f"#{i:06X}",
        )
    for i in range(30):
        comps[f"e{i:02d}"] = (Lens, Mirror, Beamsplitter, Block)[i % 4](
            float(rng.uniform(20.0, 300.0)),
            float(rng.uniform(-150.0, 150.0)),
            float(rng.uniform(0.0, 360.0)),
            40.0,
        )
    result = both(StandInScene(comps))
    check_lineage(result)
    # Sources by id (string order: s0, s1, s10, s100, ...), each launching in turn.
    ids = [s.id for s in result.sources]
    assert ids == sorted(f"s{i}" for i in range(150))
    launched = result.parent == -1
    assert np.all(np.diff(result.source[launched]) >= 0)
    assert all(p.color == f"#{int(p.source_id[1:]):06X}" for p in result.paths)


# ------------------------------------------------------- path length >= MISS


@pytest.mark.parametrize("length", [1e300, 3e301, 1.5e308])
def test_path_lengths_beyond_miss_still_escape(length: float) -> None:
    # hits.nearest reports a miss as t >= MISS (1e300): a path longer than that
    # must not take a miss for a hit on some element.
    scene = bench(
        a=Source(0.0, 0.0, 0.0, n_rays=1, ray_length_mm=length),
        b=Source(0.0, 100.0, 0.0, n_rays=1, ray_length_mm=length),
        m=Mirror(10.0, 0.0, 180.0, 20.0),  # in a's way only
        n=Mirror(-50.0, 50.0, 0.0, 20.0),  # in nobody's way
    )
    first, second = both(scene).paths
    # a: to the mirror, then back along -x for the rest of its length.
    assert first.points.tolist() == [[0.0, 0.0], [10.0, 0.0], [10.0 - (length - 10.0), 0.0]]
    assert first.termination is Termination.ESCAPED and first.interactions == 1
    # b: nothing ahead at all.
    assert second.points.tolist() == [[0.0, 100.0], [length, 100.0]]
    assert second.termination is Termination.ESCAPED and second.interactions == 0


def test_path_lengths_beyond_miss_with_branches_and_length_ends() -> None:
    # The far source's branches go on as far as it does; the short source next
    # to it has an element beyond its reach, so it ends LENGTH, not ESCAPED.
    scene = bench(
        a=Source(0.0, 0.0, 0.0, n_rays=1, ray_length_mm=1e301),
        b=Source(0.0, 200.0, 0.0, n_rays=1, ray_length_mm=30.0),
        bs=Beamsplitter(20.0, 0.0, 0.0, 10.0, 0.5),  # reflects straight back
        far=Block(100.0, 200.0, 0.0, 10.0),
    )
    main, short, branch = both(scene).paths
    assert main.points[-1].tolist() == [1e301, 0.0]
    assert branch.points[-1].tolist() == [20.0 - (1e301 - 20.0), 0.0]
    assert branch.parent == 0
    assert main.termination is branch.termination is Termination.ESCAPED
    assert short.termination is Termination.LENGTH
    assert short.points[-1].tolist() == [30.0, 200.0]


# ------------------------------------------------------------- how rays end


def test_every_ending_reason_by_hand() -> None:
    # One ray per lane, 100 mm apart; elements are 20 mm long, so lanes never mix.
    scene = bench(
        s0=Source(0.0, 0.0, 0.0, n_rays=1, ray_length_mm=500.0),
        s1=Source(0.0, 100.0, 0.0, n_rays=1, ray_length_mm=300.0),
        s2=Source(0.0, 200.0, 0.0, n_rays=1),
        s3=Source(0.0, 300.0, 0.0, n_rays=1),
        s4=Source(0.0, 400.0, 0.0, n_rays=1),
        s5=Source(0.0, 500.0, 0.0, n_rays=1, ray_length_mm=120.0),
        e1=Block(500.0, 100.0, 0.0, 20.0),  # beyond s1's 300 mm
        e2=Block(50.0, 200.0, 0.0, 20.0),
        e3=Mirror(50.0, 300.0, 180.0, 20.0, 0.01),  # reflects 1 % < 2 %
        e4a=Mirror(50.0, 400.0, 180.0, 20.0),
        e4b=Mirror(-50.0, 400.0, 0.0, 20.0),
        e5=Mirror(50.0, 500.0, 180.0, 20.0),  # s5 comes back and runs out
    )
    result = both(scene, TraceSettings(max_interactions=3))
    got = [(p.termination, p.interactions, p.points[-1].tolist()) for p in result.paths]
    assert got == [
        (Termination.ESCAPED, 0, [500.0, 0.0]),
        (Termination.LENGTH, 0, [300.0, 100.0]),
        (Termination.ABSORBED, 1, [50.0, 200.0]),
        (Termination.DIM, 1, [50.0, 300.0]),
        (Termination.MAX_INTERACTIONS, 3, [50.0, 400.0]),
        (Termination.ESCAPED, 1, [-20.0, 500.0]),
    ]
    assert result.paths[4].points[:, 0].tolist() == [0.0, 50.0, -50.0, 50.0]


def test_length_after_interactions_when_an_element_lies_beyond() -> None:
    # Back from the mirror, the ray has 60 mm left and the block is 100 mm away.
    scene = bench(
        s=Source(0.0, 0.0, 0.0, n_rays=1, ray_length_mm=100.0),
        m=Mirror(20.0, 0.0, 180.0, 10.0),
        b=Block(-80.0, 0.0, 0.0, 10.0),
    )
    (path,) = both(scene).paths
    assert path.termination is Termination.LENGTH
    assert path.points.tolist() == [[0.0, 0.0], [20.0, 0.0], [-60.0, 0.0]]


def test_max_interactions_one_ends_both_children_of_a_split() -> None:
    scene = bench(
        s=Source(-50.0, 0.0, 0.0, n_rays=1),
        bs=Beamsplitter(0.0, 0.0, 45.0, 25.4, 0.5),
        m=Mirror(50.0, 0.0, 180.0),
    )
    result = both(scene, TraceSettings(max_interactions=1))
    # The path ends at its first interaction and no branch is started.
    (path,) = result.paths
    assert path.termination is Termination.MAX_INTERACTIONS
    assert path.interactions == 1
    assert path.points.tolist() == [[-50.0, 0.0], [0.0, 0.0]]


def test_min_intensity_one_keeps_only_full_intensity() -> None:
    scene = bench(
        s=Source(-50.0, 0.0, 0.0, n_rays=2, aperture_mm=100.0),
        bs=Beamsplitter(0.0, -50.0, 45.0, 25.4, 0.5),  # the lower ray
        m=Mirror(0.0, 50.0, 135.0, 25.4, 1.0),  # the upper ray
    )
    result = both(scene, TraceSettings(min_intensity=1.0))
    lower, upper = result.paths
    assert lower.termination is Termination.DIM
    assert lower.points[-1].tolist() == [0.0, -50.0]
    assert upper.termination is Termination.ESCAPED
    assert upper.intensities.tolist() == [1.0, 1.0]
    assert upper.points[-1] == pytest.approx([0.0, 50.0 + 950.0])


def test_nan_limits_are_rejected() -> None:
    # NaN passed ``max_interactions < 1``; the vectorized tracer then ended every
    # ray at its first interaction while the reference never ended one for it.
    for bad in ({"max_interactions": float("nan")}, {"max_segments": float("nan")}):
        with pytest.raises(ValueError):
            TraceSettings(**bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------ segment cap


def splitter_line() -> StandInScene:
    # One ray through a 50/50 splitter, then its two children escape.
    return bench(
        s=Source(-50.0, 0.0, 0.0, n_rays=1, ray_length_mm=150.0),
        bs=Beamsplitter(0.0, 0.0, 45.0, 25.4, 0.5),
    )


def test_cap_stops_before_the_generation_that_would_pass_it() -> None:
    scene = splitter_line()
    # Uncapped: 1 segment to the splitter, then one for each child.
    full = both(scene, TraceSettings(max_segments=3))
    assert not full.truncated and full.n_segments == 3
    assert [p.termination for p in full.paths] == [Termination.ESCAPED] * 2
    for cap in (1, 2):
        cut = both(scene, TraceSettings(max_segments=cap))
        assert cut.truncated and cut.n_segments == 1
        # The branch born at the splitter never got a segment: it is dropped.
        (path,) = cut.paths
        assert path.termination is Termination.TRUNCATED
        assert path.interactions == 1
        assert path.points.tolist() == [[-50.0, 0.0], [0.0, 0.0]]
        assert path.parent == -1


def test_cap_below_the_launched_rays_gives_no_paths_but_keeps_sources() -> None:
    scene = bench(s=Source(0.0, 0.0, 0.0, n_rays=5), m=Mirror(30.0, 0.0, 180.0))
    for cap in (0, 4):
        result = both(scene, TraceSettings(max_segments=cap))
        assert result.truncated and result.n_paths == 0 and result.n_segments == 0
        assert [s.id for s in result.sources] == ["s"]
    result = both(scene, TraceSettings(max_segments=5))
    assert result.truncated and result.n_segments == 5
    assert all(p.termination is Termination.TRUNCATED for p in result.paths)
    assert result.interactions.tolist() == [1, 1, 1, 1, 1]


def test_cap_in_a_cavity_counts_segments_and_interactions() -> None:
    scene = bench(
        s=Source(50.0, 0.0, 0.0, n_rays=1, ray_length_mm=1e6),
        left=Mirror(0.0, 0.0, 0.0, 20.0),
        right=Mirror(100.0, 0.0, 180.0, 20.0),
    )
    (path,) = both(scene, TraceSettings(max_segments=5)).paths
    assert path.termination is Termination.TRUNCATED
    assert path.interactions == 5
    assert path.points[:, 0].tolist() == [50.0, 100.0, 0.0, 100.0, 0.0, 100.0]


def splitter_box(n_rays: int = 3) -> StandInScene:
    return bench(
        s=Source(0.0, 0.0, 10.0, n_rays=n_rays, aperture_mm=2.0, ray_length_mm=1e6),
        b1=Beamsplitter(30.0, 0.0, 45.0, 20.0, 0.5),
        b2=Beamsplitter(-30.0, 10.0, 120.0, 20.0, 0.5),
        b3=Beamsplitter(10.0, -40.0, 80.0, 30.0, 0.7),
        m1=Mirror(100.0, 0.0, 180.0, 400.0),
        m2=Mirror(-100.0, 0.0, 0.0, 400.0),
        m3=Mirror(0.0, 100.0, 270.0, 400.0),
        m4=Mirror(0.0, -100.0, 90.0, 400.0),
    )


@pytest.mark.parametrize("cap", [3, 4, 7, 10, 25, 26, 64, 333, 1000])
def test_cap_drops_unborn_branches_and_keeps_parents_valid(cap: int) -> None:
    limits = TraceSettings(max_segments=cap, min_intensity=0.01, max_interactions=30)
    result = both(splitter_box(), limits)
    check_lineage(result)
    assert result.n_segments <= cap
    assert int(np.diff(result.offsets).sum()) - result.n_paths == result.n_segments
    truncated = result.termination == Termination.TRUNCATED
    assert result.truncated == bool(truncated.any())


def test_interactions_and_intensity_limits_in_the_splitter_box() -> None:
    for limits in (
        TraceSettings(max_interactions=1),
        TraceSettings(max_interactions=2, min_intensity=0.3),
        TraceSettings(max_interactions=12, min_intensity=0.05),
        TraceSettings(max_interactions=200, min_intensity=0.2),
    ):
        result = both(splitter_box(5), limits)
        check_lineage(result)
        assert result.interactions.max() <= limits.max_interactions
        # Every segment is at least as bright as the threshold.
        seg = result.intensities[~np.isnan(result.intensities)]
        assert seg.min() >= limits.min_intensity


# ------------------------------------------------------------------ the result


@pytest.mark.parametrize("n_rays", [32767, 32768, 32769])
def test_more_paths_than_a_uint16_key_holds(n_rays: int) -> None:
    # Each ray splits once: 2 n paths, across the 65 536 boundary of the
    # result's small-key sort.
    scene = bench(
        s=Source(0.0, 0.0, 0.0, aperture_mm=1000.0, n_rays=n_rays, ray_length_mm=100.0),
        bs=Beamsplitter(10.0, 0.0, 0.0, 2000.0, 0.5),
    )
    result = both(scene)
    n = n_rays
    assert result.n_paths == 2 * n
    assert result.parent.tolist() == [-1] * n + list(range(n))
    assert np.diff(result.offsets).tolist() == [3] * n + [2] * n
    ends = result.points[result.offsets[1:] - 1]
    starts = result.points[result.offsets[:-1]]
    np.testing.assert_array_equal(ends[:n, 0], 100.0)
    np.testing.assert_array_equal(ends[n:, 0], -80.0)
    np.testing.assert_array_equal(ends[:, 1], starts[:, 1])
    np.testing.assert_array_equal(starts[n:, 0], 10.0)
    np.testing.assert_array_equal(result.intensities[result.offsets[n:-1] + 1], 0.5)


def test_from_paths_and_empty() -> None:
    result = both(splitter_box(), TraceSettings(max_segments=200))
    packed = TraceResult.from_paths(result.paths, result.n_segments, result.truncated)
    assert_same_flat(packed, result)
    empty = TraceResult.from_paths([], 0, True)
    assert empty.truncated and empty.n_paths == 0 and empty.paths == ()
    info = SourceInfo("s", "#FFFFFF", 500.0)
    empty = TraceResult.empty((info,))
    assert empty.sources == (info,) and not empty.truncated
    assert empty.offsets.tolist() == [0] and empty.points.shape == (0, 2)
    for name in FLAT:
        assert len(getattr(empty, name)) == (1 if name == "offsets" else 0)
        assert not getattr(empty, name).flags.writeable


# -------------------------------------------------------------- scene reading


def test_a_non_number_on_any_element_is_named() -> None:
    # numpy cannot convert "wide"; the error must name it, not trace the bench
    # without its elements.
    for bad in ("wide", None, [1.0, 2.0]):
        scene = bench(
            s=Source(0.0, 0.0, 0.0, n_rays=1),
            a=Block(20.0, 0.0, 0.0, 25.4),
            b=Mirror(50.0, 0.0, 180.0, bad),  # type: ignore[arg-type]
            c=Lens(80.0, 0.0, 0.0, 25.4, 50.0),
        )
        with pytest.raises(ValueError, match="'b': length_mm"):
            prepare(scene)
    scene = bench(a=Block(20.0, 0.0, 0.0, 25.4), b=Mirror(float("nan"), 0.0, 180.0))
    with pytest.raises(ValueError, match="'b': x_mm is not finite"):
        prepare(scene)


# ---------------------------------------------------------------- hit search


@pytest.mark.parametrize("cells", [0, 1 << 30])
def test_misses_are_at_least_miss_and_collinear_rays_miss(cells: int) -> None:
    scene = bench(
        a=Mirror(10.0, 0.0, 270.0, 20.0),  # along the x axis, x 0..20
        b=Mirror(10.0, 5.0, 270.0, 0.0),  # a point, on the line y = 5
        c=Block(50.0, 0.0, 0.0, 4.0),  # x = 50, y -2..2
    )
    finder = hits.HitFinder(prepare(scene).elements, 1e-6, dense_max_cells=cells)
    # Rows x, y, dx, dy: along a (from outside, from inside, backwards out of it),
    # through b's point, and past everything.
    rays = np.array(
        [
            [-10.0, 0.0, 1.0, 0.0],
            [5.0, 0.0, 1.0, 0.0],
            [5.0, 0.0, -1.0, 0.0],
            [-10.0, 5.0, 1.0, 0.0],
            [0.0, 5.0, 0.0, 1.0],
        ]
    ).T
    with np.errstate(divide="ignore", invalid="ignore"):
        j, t, _ = finder.nearest(rays, None)
    assert j[:2].tolist() == [2, 2] and t[:2].tolist() == [60.0, 45.0]
    assert np.all(t[2:] >= hits.MISS)
    no_elements = hits.HitFinder(prepare(bench()).elements, 1e-6)
    _, t, _ = no_elements.nearest(rays, None)
    assert np.all(t >= hits.MISS)
    # A beam along a mirror's line passes it, in the whole tracer too.
    scene.components["s"] = Source(-10.0, 0.0, 0.0, aperture_mm=10.0, n_rays=3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hits, "DENSE_MAX_CELLS", cells)
        result = both(scene)
    # Rays at y = -5 (below the block), 0 (along a, onto the block), 5 (through b).
    assert [p.termination for p in result.paths] == [
        Termination.ESCAPED,
        Termination.ABSORBED,
        Termination.ESCAPED,
    ]
    assert result.paths[1].points.tolist() == [[-10.0, 0.0], [50.0, 0.0]]


def dense_culled_dense() -> StandInScene:
    # 150 rays against 40 elements (6 000 cells: dense) split into 300 (12 000:
    # culled); half come back from a mirror to split again (75, then 150: dense).
    comps: dict[str, object] = {
        "a_src": Source(-50.0, 0.0, 0.0, aperture_mm=100.0, n_rays=150, ray_length_mm=1e4),
        "b_bs": Beamsplitter(0.0, 0.0, 0.0, 120.0, 0.5),
        "c_block": Block(30.0, 30.0, 0.0, 60.0),
        "d_mirror": Mirror(30.0, -30.0, 180.0, 60.0),
    }
    for i in range(36):  # out of the way, but part of every hit search
        comps[f"z{i:02d}"] = Block(float(i * 40), 5000.0 + i, float(i * 10), 30.0)
    return StandInScene(comps)


def grow_workspace() -> None:
    # Fill this thread's work buffers to a full chunk first, so later batches
    # reuse them instead of reallocating (which would hide stale rows).
    trace(random_scene(0, n_sources=1, n_rays=2000, n_elements=40))


def test_dense_and_culled_searches_take_turns_on_one_buffer() -> None:
    grow_workspace()
    scene = dense_culled_dense()
    reference = trace_reference(scene)
    for _ in range(2):
        result = trace(scene)
        assert_same_flat(result, reference)
    assert result.n_paths > 300
    check_lineage(result)


def test_alternating_scenes_reuse_the_buffers_correctly() -> None:
    grow_workspace()
    scenes = [
        random_scene(1, n_sources=2, n_rays=30, n_elements=60, size_mm=300.0),
        random_scene(2, n_sources=2, n_rays=30, n_elements=60, size_mm=300.0),  # same size
        random_scene(3, n_sources=1, n_rays=5, n_elements=8, size_mm=300.0),  # fewer
        random_scene(4, n_sources=3, n_rays=40, n_elements=120, size_mm=300.0),  # more
        random_scene(5, n_sources=1, n_rays=300, n_elements=3, size_mm=300.0),
        dense_culled_dense(),
    ]
    references = [trace_reference(s) for s in scenes]
    order = [0, 1, 0, 2, 3, 2, 4, 1, 5, 0, 3, 5, 2]
    for i in order:
        assert_same_flat(trace(scenes[i]), references[i])


def test_two_hit_finders_interleaved() -> None:
    grow_workspace()
    rng = np.random.default_rng(5)
    finders = [
        hits.HitFinder(prepare(random_scene(seed, 0, 0, m, 300.0)).elements, 1e-6)
        for seed, m in ((1, 30), (2, 30), (3, 7))
    ]

    def rays(k: int) -> np.ndarray:
        angle = rng.uniform(0.0, 2.0 * np.pi, k)
        return np.stack((*rng.uniform(-50.0, 350.0, (2, k)), np.cos(angle), np.sin(angle)))

    batches = [rays(k) for k in (20, 5, 60, 273, 1, 400, 3000)]
    with np.errstate(divide="ignore", invalid="ignore"):
        alone = [[f.nearest(r, None)[1] for r in batches] for f in finders]
        for b, r in enumerate(batches):
            for i in (0, 1, 2, 1, 0):
                np.testing.assert_array_equal(finders[i].nearest(r, None)[1], alone[i][b])


def test_live_rays_beyond_one_chunk() -> None:
    # 2 x 1200 rays against 45 elements: 1456 rays per chunk, so two chunks,
    # with the last-left element of each ray sliced along.
    scene = random_scene(8, n_sources=2, n_rays=1200, n_elements=45, size_mm=300.0)
    assert len(prepare(scene).launch) > hits.HitFinder(prepare(scene).elements, 1e-6).step
    reference = trace_reference(scene)
    for cells in (0, hits.DENSE_MAX_CELLS, 1 << 30):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(hits, "DENSE_MAX_CELLS", cells)
            assert_same_flat(trace(scene), reference)


def test_work_buffers_stay_bounded() -> None:
    # Run in a fresh thread: a fresh workspace, grown by these batches only.
    def run() -> tuple[int, int, int]:
        elements = prepare(random_scene(1, 0, 0, 400, 300.0)).elements

        def first(m: int) -> hits.HitFinder:
            return hits.HitFinder(
                replace(elements, ids=elements.ids[:m], table=elements.table[:, :m]), 1e-6
            )

        finder = first(40)
        rng = np.random.default_rng(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            for m in range(1, 400):  # many element counts
                first(m).nearest(np.array([[0.0], [0.0], [1.0], [0.0]]), None)
            for k in [1000, finder.step, *range(1, 700), 2 * finder.step + 17]:
                angle = rng.uniform(0.0, 2.0 * np.pi, k)
                finder.nearest(
                    np.stack((np.zeros(k), np.zeros(k), np.cos(angle), np.sin(angle))), None
                )
        work = hits._WORK
        return work.cells, len(work.views), len(work.row_base)

    with ThreadPoolExecutor(1) as pool:
        cells, views, row_bases = pool.submit(run).result()
    # About 8.5 MB per thread at most, as documented; the caches bounded too.
    assert cells <= hits._CHUNK_CELLS
    assert views <= hits._MAX_CACHED
    assert row_bases <= hits._MAX_CACHED


def test_threads_tracing_different_scenes_at_once() -> None:
    scenes = [
        random_scene(21, n_sources=2, n_rays=40, n_elements=60, size_mm=300.0),
        random_scene(22, n_sources=1, n_rays=7, n_elements=12, size_mm=300.0),
        random_scene(23, n_sources=3, n_rays=500, n_elements=30, size_mm=300.0),
        random_scene(24, n_sources=2, n_rays=20, n_elements=150, size_mm=300.0),
        dense_culled_dense(),
        splitter_box(5),
    ]
    alone = [trace(s) for s in scenes]
    for scene, result in zip(scenes[:2], alone[:2], strict=True):
        assert_same_flat(result, trace_reference(scene))
    # Half the traces share one prepared scene per bench across the threads.
    prepared = [prepare(s) for s in scenes]
    n_threads = 4
    start = threading.Barrier(n_threads)

    def work(i: int) -> list[tuple[int, TraceResult]]:
        start.wait()
        out = []
        for r in range(18):
            k = (i + r) % len(scenes)
            out.append((k, trace(scenes[k]) if r % 2 else trace_prepared(prepared[k])))
        return out

    with ThreadPoolExecutor(n_threads) as pool:
        done = list(pool.map(work, range(n_threads)))
    for results in done:
        for k, result in results:
            assert_same_flat(result, alone[k])
