"""The pure replay functions: scene at a version or time, check, diff, bisect."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from optiverse.collab.messages import OpMsg
from optiverse.commands import Batch, Create, Set, apply
from optiverse.replay.errors import CorruptLog, ExpressionError, ReplayError, VersionOutOfRange
from optiverse.replay.log import JsonLinesSource, Log, StoredSnapshot, read_log
from optiverse.replay.replay import (
    bisect,
    check,
    compile_check,
    diff,
    scene_at,
    version_at_time,
)
from optiverse.scene import Scene
from optiverse.scene.fileformat import scene_from_data, scene_to_data
from tests.replay.conftest import ANN, BOB, tamper_line, write_log
from tests.replay.sim import T0, SimResult, simulate

# --- real multi-client sessions ------------------------------------------------


def test_replay_at_every_version_equals_the_sequencers_scene(sim: SimResult) -> None:
    assert sim.log.head > 50
    for version, expected in enumerate(sim.scenes):
        assert scene_at(sim.log, version) == expected, version


def test_every_stored_snapshot_equals_the_replay_at_its_version(sim: SimResult) -> None:
    assert len(sim.log.snapshots) >= 5
    for snap in sim.log.snapshots:
        assert scene_at(sim.log, snap.version) == scene_from_data(snap.scene)
    report = check(sim.log)
    assert report.ok, report.problem
    assert (report.versions, report.snapshots) == (sim.log.head, len(sim.log.snapshots))


@pytest.mark.parametrize("seed", range(6))
def test_replays_of_fuzzed_sessions_reproduce_the_server_exactly(seed: int, tmp_path: Path) -> None:
    result = simulate(seed, tmp_path, clients=2 + seed % 3, steps=250, snapshot_every=7)
    report = check(result.log)
    assert report.ok, report.problem
    assert report.snapshots == len(result.log.snapshots) > 0
    assert scene_at(result.log, result.log.head) == result.scenes[-1]


# --- corruption is found at its first bad version --------------------------------


def _replace_entry(log: Log, version: int, **changes: object) -> Log:
    entries = list(log.entries)
    entries[version - 1] = attrs.evolve(entries[version - 1], **changes)  # type: ignore[misc]
    return attrs.evolve(log, entries=tuple(entries))


def test_a_tampered_old_value_is_reported_at_its_version(scripted: Log) -> None:
    bad = _replace_entry(scripted, 5, op=Set("L", {"x_mm": 10.0}, {"x_mm": 3.0}))
    problem = check(bad).problem
    assert problem is not None
    assert (problem.version, problem.component) == (5, "L")
    assert "property 'x_mm': logged old value 3.0, the replay has 0.0" in problem.message
    assert problem.suspect == 2  # created at version 2, never moved before 5


def test_a_tampered_new_value_names_where_it_was_written(scripted: Log) -> None:
    # Self-consistent on its own: caught by the next op that carries the old value.
    bad = _replace_entry(scripted, 5, op=Set("L", {"x_mm": 12.5}, {"x_mm": 0.0}))
    problem = check(bad).problem
    assert problem is not None
    assert (problem.version, problem.component, problem.suspect) == (6, "L", 5)
    assert "last changed at version 5" in str(problem)


def test_an_op_that_does_not_apply_is_reported_at_its_version(scripted: Log) -> None:
    bad = _replace_entry(scripted, 7, op=Set("X", {"x_mm": 1.0}, {"x_mm": 0.0}))
    problem = check(bad).problem
    assert problem is not None
    assert (problem.version, problem.component) == (7, "X")
    assert "does not apply: no component with id 'X'" in problem.message


def test_a_tampered_snapshot_is_reported_with_version_and_component(scripted: Log) -> None:
    scene = scene_at(scripted, 8)
    scene.components["L"] = attrs.evolve(scene.components["L"], efl_mm=75.0)
    snaps = [s for s in scripted.snapshots if s.version != 8]
    snaps.append(StoredSnapshot(8, scene_to_data(scene), T0))
    problem = check(attrs.evolve(scripted, snapshots=tuple(snaps))).problem
    assert problem is not None
    assert (problem.version, problem.component, problem.suspect) == (8, "L", 3)
    assert "property 'efl_mm': replay 50.0, snapshot 75.0" in problem.message


def test_a_snapshot_missing_a_component_is_reported(scripted: Log) -> None:
    scene = scene_at(scripted, 4)
    del scene.components["M"]
    snaps = (StoredSnapshot(4, scene_to_data(scene), T0),)
    problem = check(attrs.evolve(scripted, snapshots=snaps)).problem
    assert problem is not None
    assert (problem.version, problem.component) == (4, "M")
    assert "replay has a mirror, snapshot has no such component" in problem.message


def test_a_version_gap_is_reported_at_the_missing_version(scripted: Log) -> None:
    gap = attrs.evolve(scripted, entries=scripted.entries[:5] + scripted.entries[6:], snapshots=())
    problem = check(gap).problem
    assert problem is not None
    assert problem.version == 6
    assert "out of sequence: found version 7" in problem.message


def test_a_corrupt_line_is_reported_with_its_line_and_version(
    scripted: Log, tmp_path: Path
) -> None:
    path = write_log(scripted, tmp_path / "log.jsonl")
    # line 0 header, 1..4 ops v1..v4, 5 the snapshot at 4, 6 op v5, 7 op v6
    tamper_line(path, 7, lambda _: '{"type": "op", "version": 6, "client": ')
    report = check(JsonLinesSource(path))
    assert report.problem is not None
    assert (report.problem.version, report.problem.line, report.versions) == (6, 8, 5)
    assert "malformed JSON" in report.problem.message
    with pytest.raises(CorruptLog, match=r"^line 8: version 6: malformed JSON"):
        read_log(JsonLinesSource(path))


def test_a_line_with_a_bad_field_is_corrupt(scripted: Log, tmp_path: Path) -> None:
    path = write_log(scripted, tmp_path / "log.jsonl")
    tamper_line(path, 2, lambda d: {**d, "op": {**d["op"], "kind": "laser"}})
    report = check(JsonLinesSource(path))
    assert report.problem is not None and report.problem.version == 2
    assert "unknown component kind 'laser'" in report.problem.message


# --- scene at a version or a time ------------------------------------------------


def test_scene_at_version_zero_is_empty_and_out_of_range_is_an_error(scripted: Log) -> None:
    assert len(scene_at(scripted, 0)) == 0
    with pytest.raises(VersionOutOfRange, match=r"version 11 is out of range: .* 0\.\.10"):
        scene_at(scripted, 11)


def test_version_at_time_is_the_last_entry_at_or_before_it(scripted: Log) -> None:
    assert version_at_time(scripted, T0) == 0
    assert version_at_time(scripted, T0 + 30) == 3
    assert version_at_time(scripted, T0 + 35) == 3
    assert version_at_time(scripted, T0 + 1e6) == 10


# --- diff --------------------------------------------------------------------------


def test_diff_names_changed_properties_with_every_author(scripted: Log) -> None:
    diffs = {d.id: d for d in diff(scripted, 2, 8)}
    assert set(diffs) == {"L", "M"}
    lens = diffs["L"]
    assert lens.status == "changed"
    changes = {c.prop: c for c in lens.changes}
    assert set(changes) == {"efl_mm", "x_mm", "name"}
    assert (changes["efl_mm"].old, changes["efl_mm"].new) == (100.0, 50.0)
    assert [(t.user, t.version) for t in changes["efl_mm"].by] == [(BOB, 3)]
    assert [(t.user, t.version) for t in changes["x_mm"].by] == [(ANN, 5), (BOB, 6)]
    assert (changes["x_mm"].old, changes["x_mm"].new) == (0.0, 20.0)
    # M was created at 4, deleted at 7 and re-created by an undo at 8.
    mirror = diffs["M"]
    assert (mirror.status, mirror.kind) == ("added", "mirror")
    assert [(t.user, t.version, t.origin) for t in mirror.by] == [(ANN, 8, "undo")]


def test_diff_names_removed_and_added_components(scripted: Log) -> None:
    removed = diff(scripted, 4, 7)
    assert [(d.id, d.status, [t.version for t in d.by]) for d in removed] == [
        ("L", "changed", [5, 6]),
        ("M", "removed", [7]),
    ]
    later = {d.id: d for d in diff(scripted, 8, 10)}
    assert later["B"].status == "added" and later["B"].by[0].user == BOB
    assert [c.prop for c in later["S"].changes] == ["n_rays"]
    backwards = {d.id: d.status for d in diff(scripted, 10, 8)}
    assert backwards == {"B": "removed", "S": "changed"}
    assert diff(scripted, 3, 3) == []


# --- bisect ------------------------------------------------------------------------


def test_bisect_finds_the_first_version_where_the_check_turns_false(scripted: Log) -> None:
    result = bisect(
        scripted, 0, 10, compile_check("components.get('L') is None or components['L'].x_mm < 15")
    )
    assert result.version == 6
    assert result.entry.user == BOB
    assert len(result.steps) <= 2 + 4


def test_bisect_agrees_with_a_linear_scan_on_a_real_session(sim: SimResult) -> None:
    target = max(3, len(sim.scenes[-1]) // 2)
    linear = next(v for v, scene in enumerate(sim.scenes) if len(scene) >= target)
    result = bisect(sim.log, 0, linear, compile_check(f"len(scene) < {target}"))
    assert result.version == linear


def test_bisect_refuses_a_check_that_does_not_switch(scripted: Log) -> None:
    with pytest.raises(ReplayError, match="already false at --good 0"):
        bisect(scripted, 0, 10, compile_check("len(scene) > 0"))
    with pytest.raises(ReplayError, match="still true at --bad 10"):
        bisect(scripted, 0, 10, compile_check("True"))
    with pytest.raises(ReplayError, match="must be before"):
        bisect(scripted, 5, 5, compile_check("True"))


def test_check_expressions_fail_with_one_clear_line(scripted: Log) -> None:
    with pytest.raises(ExpressionError, match=r"not a Python expression: .* at column 1$"):
        compile_check("(len(scene)")
    predicate = compile_check("components['nope'].x_mm > 0")
    with pytest.raises(ExpressionError) as info:
        predicate(scene_at(scripted, 3), 3)
    assert str(info.value) == "--check failed at version 3: KeyError: 'nope'"
    assert compile_check("version == 3 and math.isclose(1, 1)")(scene_at(scripted, 3), 3)


def test_trace_is_available_to_check_expressions(scripted: Log) -> None:
    predicate = compile_check("len(trace(scene).paths) == components['S'].n_rays")
    assert predicate(scene_at(scripted, 9), 9)


def test_batches_replay_and_must_be_logged_as_they_applied() -> None:
    asked = Batch((Create("A", "lens"), Create("B", "mirror")))
    effective = apply(Scene(), asked)
    log = Log("b", (OpMsg(1, "c", 1, ANN, effective, "edit", T0),))
    assert set(scene_at(log, 1).components) == {"A", "B"}
    assert check(log).ok
    # A log holds ops as the server applied them (defaults filled in); anything else
    # is not what the server logged.
    raw = Log("b", (OpMsg(1, "c", 1, ANN, asked, "edit", T0),))
    problem = check(raw).problem
    assert problem is not None and problem.component == "A"
