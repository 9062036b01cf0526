"""docs/debugging.md's worked example, command for command, so the guide stays true."""

from __future__ import annotations

import json
import re
from pathlib import Path

from optiverse.replay.client_check import check_client, read_numbered
from optiverse.replay.log import JsonLinesSource, import_into_store, read_log
from optiverse.replay.replay import check, diff, scene_at
from tests.replay.conftest import record_ann, scripted_log
from tests.replay.test_cli import run

DOC = Path(__file__).resolve().parents[2] / "docs" / "debugging.md"


def _documented(command: str) -> str:
    """The output the guide shows under ``$ optiverse-replay <command>``."""
    text = DOC.read_text()
    start = text.index(f"$ optiverse-replay {command}")
    block = text[start:].split("\n", 1)[1]
    while block.startswith("      "):  # a continued command line
        block = block.split("\n", 1)[1]
    end = min(i for i in (block.find("\n$ "), block.find("\n```")) if i >= 0)
    return block[:end].strip("\n") + "\n"


def test_the_worked_example(tmp_path: Path) -> None:
    log = scripted_log()
    store = f"sqlite:///{tmp_path / 'sessions.db'}"
    import_into_store(log, store, "scripted")
    bug = tmp_path / "bug-123.jsonl"
    ann = tmp_path / "ann.jsonl"
    record_ann(log, ann)

    code, _, err = run("export", store, "--session", "scripted", "-o", str(bug))
    assert code == 0
    assert err.replace(str(bug), "bug-123.jsonl") == _documented(
        "export sqlite:///srv/sessions.db --session scripted -o bug-123.jsonl"
    )
    for command in (
        "check bug-123.jsonl",
        "show bug-123.jsonl --from 3 --to 6",
        "diff bug-123.jsonl 4 6",
        "check-client ann.jsonl bug-123.jsonl",
    ):
        argv = [str(tmp_path / a) if a.endswith(".jsonl") else a for a in command.split()]
        code, out, _ = run(*argv)
        assert code == 0, out
        assert out == _documented(command), command

    code, out, _ = run(
        "bisect", str(bug), "--good", "0", "--bad", "head",
        "--check", "'L' not in components or components['L'].x_mm <= 10",
    )  # fmt: skip
    assert code == 0 and out == _documented("bisect bug-123.jsonl --good 0 --bad head \\")

    # The divergence shown under "Client recordings": Ann's client applying x = 10 at v6.
    lines = ann.read_text().splitlines()
    received = json.loads(lines[15])
    assert received["msg"]["version"] == 6
    received["msg"]["op"]["props"]["x_mm"] = 10.0
    lines[15] = json.dumps(received)
    ann.write_text("\n".join(lines) + "\n")
    code, out, _ = run("check-client", str(ann), store, "--session", "scripted")
    assert code == 1
    documented = _documented("check-client ann.jsonl sqlite:///srv/sessions.db --session scripted")
    assert out == documented


def test_the_guides_regression_test_runs(tmp_path: Path) -> None:
    """The test the guide tells you to write, against the example's files."""
    data = tmp_path
    log = scripted_log()
    import_into_store(log, f"sqlite:///{data / 's.db'}", "scripted")
    assert run("export", f"sqlite:///{data / 's.db'}", "-o", str(data / "bug-123.jsonl"))[0] == 0
    record_ann(log, data / "bug-123-ann.jsonl")

    source = JsonLinesSource(data / "bug-123.jsonl")
    assert check(source).ok
    log = read_log(source)
    assert scene_at(log, 6).components["L"].x_mm == 20.0
    (lens,) = [d for d in diff(log, 4, 6) if d.id == "L"]
    x = next(c for c in lens.changes if c.prop == "x_mm")
    assert [t.user.name for t in x.by] == ["Ann", "Bob"]
    report = check_client(read_numbered(data / "bug-123-ann.jsonl"), log)
    assert report.ok, report.divergence
    # and the guide's test code is what this test runs
    guide = DOC.read_text()
    assert re.search(r"assert \[t\.user\.name for t in x\.by\] == \[\"Ann\", \"Bob\"\]", guide)
