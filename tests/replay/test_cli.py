"""``optiverse-replay`` end to end: exit codes, output, one-line errors, progress."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from optiverse.replay import cli
from optiverse.replay.log import Log
from optiverse.replay.replay import scene_at
from optiverse.scene.fileformat import load_scene, read_scene
from tests.replay.conftest import tamper_line, write_log
from tests.replay.sim import T0, SimResult

REPO = Path(__file__).resolve().parents[2]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def run_process(
    *argv: str, cwd: Path | None = None, unset: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "optiverse.replay.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
    )


@pytest.fixture
def log_file(scripted: Log, tmp_path: Path) -> Path:
    return write_log(scripted, tmp_path / "scripted.jsonl")


@pytest.fixture
def sim_file(sim: SimResult, tmp_path: Path) -> Path:
    return write_log(sim.log, tmp_path / "sim.jsonl")


def test_show_prints_one_row_per_version(log_file: Path) -> None:
    code, out, _ = run("show", str(log_file))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "session scripted: versions 1..10, 2 snapshot(s)"
    assert lines[1].split() == ["VERSION", "TIME", "(UTC)", "USER", "ORIGIN", "OPERATION"]
    assert len(lines) == 12
    assert lines[7].split()[:2] == ["6", "2026-09-21"]
    assert 'Bob (bob)  edit    set L x_mm 10.0->20.0, name ""->"focus"' in lines[7]
    assert "undo    create mirror M" in lines[9]
    code, out, _ = run("show", str(log_file), "--from", "8", "--to", "9")
    assert [line.split()[0] for line in out.splitlines()[2:]] == ["9"]


def test_scene_to_version_equals_the_sequencers_scene(sim: SimResult, sim_file: Path) -> None:
    for version in (0, 1, sim.log.head // 2, sim.log.head):
        code, out, _ = run("scene", str(sim_file), "--to", str(version))
        assert code == 0
        assert read_scene(out) == sim.scenes[version]


def test_scene_writes_a_file_the_app_can_open(
    sim: SimResult, sim_file: Path, tmp_path: Path
) -> None:
    target = tmp_path / "at.json"
    code, _, err = run("scene", str(sim_file), "--to", "17", "-o", str(target))
    assert code == 0 and "version 17" in err
    assert load_scene(target) == sim.scenes[17]


def test_scene_at_a_time(log_file: Path, scripted: Log) -> None:
    code, out, _ = run("scene", str(log_file), "--at", str(T0 + 45))
    assert code == 0 and read_scene(out) == scene_at(scripted, 4)
    code, out, _ = run("scene", str(log_file), "--at", "2026-09-21T14:13:55Z")
    assert code == 0 and read_scene(out) == scene_at(scripted, 3)


def test_check_passes_then_fails_naming_version_and_component(
    sim: SimResult, sim_file: Path
) -> None:
    code, out, _ = run("check", str(sim_file))
    assert (code, out) == (
        0,
        f"OK: session sim: {sim.log.head} versions replayed, "
        f"{len(sim.log.snapshots)} snapshot(s) equal the replay\n",
    )
    # Move a component in the third snapshot: check names that version and component.
    snap_index = next(
        i
        for i, line in enumerate(sim_file.read_text().splitlines())
        if '"type":"snapshot"' in line
        and json.loads(line)["version"] == sim.log.snapshots[2].version
    )

    def move_first(data: dict[str, object]) -> dict[str, object]:
        comp = data["scene"]["components"][0]  # type: ignore[index]
        comp["props"]["x_mm"] += 1.0
        return data

    tamper_line(sim_file, snap_index, move_first)
    target = json.loads(sim_file.read_text().splitlines()[snap_index])
    component = target["scene"]["components"][0]["id"]
    done = run_process("check", str(sim_file))
    assert done.returncode == 1
    version = sim.log.snapshots[2].version
    assert done.stdout.startswith(f"FAIL: session sim: version {version} (line")
    assert f"component '{component}' property 'x_mm'" in done.stdout
    assert done.stdout.count("\n") == 1


def test_check_reports_a_corrupt_line_as_its_first_bad_version(log_file: Path) -> None:
    tamper_line(log_file, 3, lambda _: "{not json")
    code, out, _ = run("check", str(log_file))
    assert code == 1
    assert out.startswith("FAIL: session scripted: version 3 (line 4): malformed JSON")
    # Anything but check treats a corrupt input as an error (exit 2, one line).
    code, out, err = run("scene", str(log_file), "--to", "2")
    assert (code, out) == (2, "")
    assert err.startswith("optiverse-replay: error: line 4: version 3: malformed JSON")
    assert err.count("\n") == 1


def test_diff_prints_changes_with_authors(log_file: Path) -> None:
    code, out, _ = run("diff", str(log_file), "2", "8")
    assert code == 0
    assert out.splitlines() == [
        "session scripted: version 2 -> version 8",
        "~ lens L",
        "    x_mm: 0.0 -> 20.0  by Ann (ann) v5, Bob (bob) v6",
        '    name: "" -> "focus"  by Bob (bob) v6',
        "    efl_mm: 100.0 -> 50.0  by Bob (bob) v3",
        "+ mirror M  added by Ann (ann) v8 (undo)",
    ]
    code, out, _ = run("diff", str(log_file), "8", "head", "--json")
    data = json.loads(out)
    assert [(d["id"], d["status"]) for d in data] == [("B", "added"), ("S", "changed")]
    assert data[1]["changes"][0]["by"][0]["user"]["name"] == "Bob"
    code, out, _ = run("diff", str(log_file), "3", "3")
    assert out.splitlines()[-1] == "no differences between version 3 and version 3"


def test_export_import_export_is_identical(sim_file: Path, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    code, out, _ = run("import", str(sim_file), "--store", store)
    assert code == 0 and out.startswith("imported session sim into")
    code, exported, _ = run("export", store, "--session", "sim")
    assert code == 0
    assert exported == sim_file.read_text()
    # Into the same store again only under a new id; the copy exports the same ops.
    code, _, err = run("import", str(sim_file), "--store", store)
    assert code == 2 and "already exists" in err and "--as" in err
    code, _, _ = run("import", str(sim_file), "--store", store, "--as", "copy")
    assert code == 0
    out_file = tmp_path / "copy.jsonl"
    code, _, err = run("export", store, "--session", "copy", "-o", str(out_file))
    assert code == 0 and "wrote" in err
    original, copy = sim_file.read_text().splitlines(), out_file.read_text().splitlines()
    assert json.loads(copy[0])["session"] == "copy"
    assert copy[1:] == original[1:]


def test_import_refuses_a_log_that_fails_check(log_file: Path, tmp_path: Path) -> None:
    tamper_line(log_file, 6, lambda d: {**d, "op": {**d["op"], "old": {"x_mm": 99.0}}})
    store = f"sqlite:///{tmp_path / 'store.db'}"
    code, out, _ = run("import", str(log_file), "--store", store)
    assert code == 1
    assert "FAIL" in out and "version 5" in out and "not imported" in out
    code, _, _ = run("import", str(log_file), "--store", store, "--no-check")
    assert code == 0
    code, out, _ = run("check", store)
    assert code == 1 and "version 5" in out


def test_bisect_prints_the_first_bad_version(log_file: Path) -> None:
    check = "len(components) < 3 or components['L'].efl_mm > 60"
    code, out, _ = run("bisect", str(log_file), "--good", "1", "--bad", "head", "--check", check)
    assert code == 0
    assert out.splitlines()[-1] == ("first bad version: 4 by Bob (bob) (edit): create mirror M")
    assert out.splitlines()[:2] == ["version 1: true", "version 10: false"]


def test_bisect_expression_errors_are_one_line(log_file: Path) -> None:
    code, out, err = run("bisect", str(log_file), "--good", "0", "--bad", "10", "--check", "x >")
    assert (code, out) == (2, "")
    assert err == "optiverse-replay: error: --check is not a Python expression: invalid syntax\n"
    code, _, err = run(
        "bisect", str(log_file), "--good", "0", "--bad", "10", "--check", "components['L'].x_mm"
    )
    assert code == 2
    assert err == "optiverse-replay: error: --check failed at version 0: KeyError: 'L'\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", "missing.jsonl"], "cannot read 'missing.jsonl': No such file or directory"),
        (["scene", "{log}", "--to", "11"], "version 11 is out of range: session 'scripted' has"),
        (["diff", "{log}", "0", "12"], "version 12 is out of range"),
        (["show", "{log}", "--session", "other"], "holds session 'scripted', not 'other'"),
        (["show", "sqlite:///{tmp}/none.db"], "no store file"),
        (["show", "memory://"], "a memory:// store lives only inside its server process"),
        (["scene", "{log}", "--to", "-3"], "argument --to: version -3 is negative"),
        (["render", "{log}", "x.png", "--size", "big"], "is not WIDTHxHEIGHT"),
        (["show", "{tmp}/not-a-log.txt"], "is not an Optiverse log"),
    ],
)
def test_errors_are_one_clear_line_and_exit_2(
    argv: list[str], message: str, log_file: Path, tmp_path: Path
) -> None:
    (tmp_path / "not-a-log.txt").write_text("hello\n")
    args = [a.format(log=log_file, tmp=tmp_path) for a in argv]
    done = run_process(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("optiverse-replay: error: ")
    assert message in done.stderr
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_unknown_session_in_a_store_lists_the_choices(sim_file: Path, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    assert run("import", str(sim_file), "--store", store)[0] == 0
    assert run("import", str(sim_file), "--store", store, "--as", "b")[0] == 0
    code, _, err = run("show", store, "--session", "nope")
    assert code == 2 and f"unknown session 'nope' in {store}" in err
    code, _, err = run("show", store)
    assert code == 2 and "holds 2 sessions; pick one with --session (b, sim)" in err


def test_progress_is_shown_on_a_terminal_only(
    sim_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(cli._Progress, "DELAY", 0.0)
    monkeypatch.setattr(cli._Progress, "INTERVAL", 0.0)
    out, err = io.StringIO(), Terminal()
    assert cli.main(["scene", str(sim_file), "--to", "40"], out, err) == 0
    progress = err.getvalue()
    assert "\rreplaying 1/40 (2%)" in progress and "\rreplaying 40/40 (100%)" in progress
    assert progress.endswith("\r\x1b[K")  # the line is cleared when done
    plain = io.StringIO()
    assert cli.main(["scene", str(sim_file), "--to", "40"], io.StringIO(), plain) == 0
    assert plain.getvalue() == ""


def test_the_console_script_entry_point_is_main() -> None:
    done = run_process("--help")
    assert done.returncode == 0
    for name in ("show", "scene", "check", "diff", "export", "import", "render", "bisect",
                 "check-client"):  # fmt: skip
        assert name in done.stdout
