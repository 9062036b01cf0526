"""``optiverse-replay``: replay, check, diff and render a session's command log.

SOURCE is a server store with a session (``sqlite:///path.db --session ID``;
the session may be left out when the store holds only one) or a log file
written by ``export``.  docs/debugging.md walks through every subcommand.

Exit status:

* 0 - done (``check``/``check-client``: no problem found);
* 1 - ``check`` or ``check-client`` found a problem (printed as one
  ``FAIL:`` line naming the first bad version and component), or ``import``
  refused a log that fails ``check``;
* 2 - an error, printed as one ``optiverse-replay: error: ...`` line: bad
  arguments, unknown session, unreadable or corrupt input (outside
  ``check``), version out of range, a failing ``--check`` expression;
* 130 - interrupted (Ctrl-C).

Replays long enough to take a moment show progress on standard error when it
is a terminal.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, NoReturn

from optiverse.errors import OptiverseError
from optiverse.replay.errors import ReplayError, SourceError
from optiverse.replay.log import (
    JsonLinesSource,
    Log,
    StoreSource,
    import_into_store,
    open_source,
    read_log,
    write_jsonl,
)
from optiverse.replay.replay import (
    Progress,
    bisect,
    check,
    check_range,
    compile_check,
    diff,
    scene_at,
    version_at_time,
)
from optiverse.replay.report import format_diff, format_user, log_table, summarize_op
from optiverse.scene.fileformat import save_scene, scene_to_data
from optiverse.wire import unstructure

__all__ = ["EXIT_ERROR", "EXIT_FAILED", "EXIT_OK", "build_parser", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2

PROG = "optiverse-replay"
HEAD = -1  # a version argument of "head"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints the whole usage block; keep errors to one line.
        self.exit(EXIT_ERROR, f"{PROG}: error: {message} (see {self.prog} --help)\n")


def _version(text: str) -> int:
    if text == "head":
        return HEAD
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a version number or 'head'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"version {value} is negative")
    return value


def _when(text: str) -> float:
    """Unix seconds, or an ISO 8601 date-time (UTC unless it names a zone)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither Unix seconds nor an ISO date-time like 2026-11-26T12:00:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    return moment.timestamp()


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 1200x800") from None
    if not (16 <= width <= 16384 and 16 <= height <= 16384):
        raise argparse.ArgumentTypeError("width and height must be 16..16384 pixels")
    return width, height


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Replay an Optiverse session's command log: show it, rebuild the scene at "
        "any version or time, check it against the stored snapshots, diff two versions, "
        "export/import it, render it, bisect it.",
        epilog="SOURCE: sqlite:///path/to/store.db (with --session ID) or an exported log "
        "file.  Exit status: 0 ok, 1 check found a problem, 2 error.  See docs/debugging.md.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, source: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if source:
            sub.add_argument("source", metavar="SOURCE", help="sqlite:///store.db or a log file")
            sub.add_argument("--session", metavar="ID", help="the session, in a store")
        return sub

    show = command("show", "print the log as a table: version, time, user, origin, operation")
    show.add_argument(
        "--from",
        dest="start",
        type=_version,
        default=0,
        metavar="V",
        help="first version shown minus one (default 0)",
    )
    show.add_argument(
        "--to",
        dest="stop",
        type=_version,
        default=HEAD,
        metavar="V",
        help="last version shown (default head)",
    )

    scene = command("scene", "write the scene as it was at a version or time (a scene file)")
    when = scene.add_mutually_exclusive_group()
    when.add_argument(
        "--to",
        type=_version,
        default=HEAD,
        metavar="VERSION",
        help="after this version (default head)",
    )
    when.add_argument(
        "--at",
        type=_when,
        metavar="TIME",
        help="at this time: Unix seconds or ISO 8601 (UTC unless zoned)",
    )
    scene.add_argument(
        "-o", "--output", metavar="FILE", help="the scene file to write (default: standard output)"
    )

    command("check", "replay the whole log; verify every snapshot equals the replay")

    dif = command("diff", "per component: added, removed, changed properties and who did it")
    dif.add_argument("a", type=_version, metavar="A", help="the older version")
    dif.add_argument("b", type=_version, metavar="B", help="the newer version (or 'head')")
    dif.add_argument("--json", action="store_true", help="print the diff as JSON")

    export = command("export", "write the log as JSON lines (header, ops, snapshots)")
    export.add_argument(
        "-o", "--output", metavar="FILE", help="the log file to write (default: standard output)"
    )

    imp = command("import", "create a new session in a store from an exported log", False)
    imp.add_argument("file", metavar="FILE", help="a log file written by export")
    imp.add_argument(
        "--store",
        required=True,
        metavar="URL",
        help="the SQLite store: sqlite:///path/to/store.db (created if missing)",
    )
    imp.add_argument(
        "--as",
        dest="new_id",
        metavar="ID",
        help="the new session's id (default: the id in the file)",
    )
    imp.add_argument("--no-check", action="store_true", help="import even if the log fails check")

    render = command("render", "render the scene and its traced rays to a PNG")
    render.add_argument("output", metavar="OUT.png", help="the picture to write")
    render.add_argument(
        "--to",
        type=_version,
        default=HEAD,
        metavar="VERSION",
        help="after this version (default head)",
    )
    render.add_argument(
        "--size",
        type=_size,
        default=(1200, 800),
        metavar="WxH",
        help="picture size in pixels (default 1200x800)",
    )

    bis = command("bisect", "find the first version at which a Python check turns false")
    bis.add_argument(
        "--good", type=_version, required=True, metavar="V1", help="a version where the check holds"
    )
    bis.add_argument(
        "--bad",
        type=_version,
        required=True,
        metavar="V2",
        help="a later version where it does not",
    )
    bis.add_argument(
        "--check",
        dest="expression",
        required=True,
        metavar="EXPR",
        help="a Python expression over scene, components, version, math, trace; "
        "it runs as arbitrary Python, so only pass your own",
    )

    client = commands.add_parser(
        "check-client",
        help="re-run a client recording and report where it diverges from the server",
        description="Re-run a client's --record file through a fresh client engine and "
        "report the first point where it differs from the recording or the server's log.",
    )
    client.add_argument("recording", metavar="RECORDING", help="a client's --record file")
    client.add_argument("source", metavar="SOURCE", help="the server's log: store or log file")
    client.add_argument("--session", metavar="ID", help="the session, in a store")
    return parser


# --- progress -----------------------------------------------------------------


class _Progress:
    """``replaying 1234/5000`` on a terminal's stderr, after a short delay, at most 10/s."""

    DELAY = 0.5
    INTERVAL = 0.1

    def __init__(self, stream: IO[str], label: str) -> None:
        self.stream = stream
        self.label = label
        self.enabled = stream.isatty()
        self.started = time.monotonic()
        self.last = 0.0
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.started < self.DELAY or now - self.last < self.INTERVAL:
            return
        self.last = now
        text = (
            f"{self.label} {done}/{total} ({100 * done // total}%)"
            if total
            else (f"{self.label} {done}")
        )
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


# --- commands -----------------------------------------------------------------


class _Context:
    def __init__(self, args: argparse.Namespace, out: IO[str], err: IO[str]) -> None:
        self.args = args
        self.out = out
        self.err = err
        self.progress_bars: list[_Progress] = []
        self.sources: list[JsonLinesSource | StoreSource] = []

    def progress(self, label: str = "replaying") -> Progress:
        bar = _Progress(self.err, label)
        self.progress_bars.append(bar)
        return bar

    def source(self) -> JsonLinesSource | StoreSource:
        src = open_source(self.args.source, self.args.session)
        self.sources.append(src)
        return src

    def log(self) -> Log:
        return read_log(self.source())

    def close(self) -> None:
        for bar in self.progress_bars:
            bar.done()
        for src in self.sources:
            if isinstance(src, StoreSource):
                src.close()
        self.sources.clear()


def _resolve(log: Log, version: int) -> int:
    return log.head if version == HEAD else version


def _cmd_show(ctx: _Context) -> int:
    log = ctx.log()
    start = _resolve(log, ctx.args.start)
    stop = _resolve(log, ctx.args.stop)
    check_range(log, start, stop)
    versions = f"versions 1..{log.head}" if log.head else "no versions yet"
    ctx.out.write(f"session {log.session}: {versions}, {len(log.snapshots)} snapshot(s)\n")
    for row in log_table(log.entries[start:stop]):
        ctx.out.write(row + "\n")
    return EXIT_OK


def _cmd_scene(ctx: _Context) -> int:
    log = ctx.log()
    version = (
        version_at_time(log, ctx.args.at) if ctx.args.at is not None else _resolve(log, ctx.args.to)
    )
    scene = scene_at(log, version, ctx.progress())
    if ctx.args.output:
        try:
            save_scene(scene, ctx.args.output)
        except OSError as exc:
            raise SourceError(f"cannot write {ctx.args.output!r}: {exc.strerror}") from None
        ctx.err.write(
            f"wrote {ctx.args.output}: session {log.session} at version {version} "
            f"({len(scene)} components)\n"
        )
    else:
        ctx.out.write(json.dumps(scene_to_data(scene), indent=2, allow_nan=False) + "\n")
    return EXIT_OK


def _cmd_check(ctx: _Context) -> int:
    source = ctx.source()
    total = source.head if isinstance(source, StoreSource) else 0
    report = check(source, ctx.progress(), total)
    for bar in ctx.progress_bars:
        bar.done()
    if report.problem is not None:
        ctx.out.write(f"FAIL: session {report.session}: {report.problem}\n")
        return EXIT_FAILED
    ctx.out.write(
        f"OK: session {report.session}: {report.versions} versions replayed, "
        f"{report.snapshots} snapshot(s) equal the replay\n"
    )
    return EXIT_OK


def _cmd_diff(ctx: _Context) -> int:
    log = ctx.log()
    a, b = _resolve(log, ctx.args.a), _resolve(log, ctx.args.b)
    diffs = diff(log, a, b, ctx.progress())
    if ctx.args.json:
        ctx.out.write(json.dumps(unstructure(diffs), indent=2, allow_nan=False) + "\n")
    else:
        for bar in ctx.progress_bars:
            bar.done()
        ctx.out.write(f"session {log.session}: version {a} -> version {b}\n")
        for line in format_diff(diffs, a, b):
            ctx.out.write(line + "\n")
    return EXIT_OK


def _cmd_export(ctx: _Context) -> int:
    log = ctx.log()
    if not ctx.args.output:
        write_jsonl(log, ctx.out)
        return EXIT_OK
    target = Path(ctx.args.output)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            lines = write_jsonl(log, handle)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SourceError(f"cannot write {ctx.args.output!r}: {exc.strerror}") from None
    ctx.err.write(f"wrote {target}: session {log.session}, {log.head} versions, {lines} lines\n")
    return EXIT_OK


def _cmd_import(ctx: _Context) -> int:
    args = ctx.args
    source = JsonLinesSource(args.file)
    if not args.no_check:
        report = check(source, ctx.progress("checking"))
        if report.problem is not None:
            ctx.out.write(f"FAIL: {args.file}: {report.problem}\n")
            ctx.out.write("not imported (use --no-check to import it anyway)\n")
            return EXIT_FAILED
    log = read_log(source)
    if not args.store.startswith("sqlite:"):
        raise SourceError(
            f"import writes to a SQLite store (sqlite:///path.db), not {args.store!r}"
        )
    session = args.new_id or log.session
    import_into_store(log, args.store, session)
    ctx.out.write(
        f"imported session {session} into {args.store}: {log.head} versions, "
        f"{len(log.snapshots)} snapshot(s)\n"
    )
    return EXIT_OK


def _cmd_render(ctx: _Context) -> int:
    from optiverse.replay.render import render_png

    log = ctx.log()
    version = _resolve(log, ctx.args.to)
    scene = scene_at(log, version, ctx.progress())
    width, height = ctx.args.size
    render_png(scene, ctx.args.output, width, height)
    ctx.err.write(f"wrote {ctx.args.output}: session {log.session} at version {version}\n")
    return EXIT_OK


def _cmd_bisect(ctx: _Context) -> int:
    predicate = compile_check(ctx.args.expression)
    log = ctx.log()
    good, bad = _resolve(log, ctx.args.good), _resolve(log, ctx.args.bad)
    result = bisect(log, good, bad, predicate, ctx.progress())
    for bar in ctx.progress_bars:
        bar.done()
    for version, ok in result.steps:
        ctx.out.write(f"version {version}: {'true' if ok else 'false'}\n")
    entry = result.entry
    ctx.out.write(
        f"first bad version: {result.version} by {format_user(entry.user)} ({entry.origin}): "
        f"{summarize_op(entry.op)}\n"
    )
    return EXIT_OK


def _cmd_check_client(ctx: _Context) -> int:
    from optiverse.replay.client_check import check_client, read_numbered

    log = ctx.log()
    report = check_client(read_numbered(ctx.args.recording), log, ctx.progress("lines"))
    for bar in ctx.progress_bars:
        bar.done()
    who = f"client {report.client}" if report.client else "the client"
    if report.divergence is not None:
        ctx.out.write(f"FAIL: {who}: {report.divergence}\n")
        return EXIT_FAILED
    ctx.out.write(
        f"OK: {who}: {report.lines} lines re-run, the scene matched the server's "
        f"at {report.versions_checked} point(s)\n"
    )
    return EXIT_OK


_COMMANDS: dict[str, Callable[[_Context], int]] = {
    "show": _cmd_show,
    "scene": _cmd_scene,
    "check": _cmd_check,
    "diff": _cmd_diff,
    "export": _cmd_export,
    "import": _cmd_import,
    "render": _cmd_render,
    "bisect": _cmd_bisect,
    "check-client": _cmd_check_client,
}


def main(
    argv: Sequence[str] | None = None, out: IO[str] | None = None, err: IO[str] | None = None
) -> int:
    """Run the CLI; returns the exit status (see the module docstring)."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    args = build_parser().parse_args(argv)
    ctx = _Context(args, out, err)
    try:
        return _COMMANDS[args.command](ctx)
    except (ReplayError, OptiverseError) as exc:
        ctx.close()
        err.write(f"{PROG}: error: {_one_line(str(exc))}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        ctx.close()
        err.write(f"{PROG}: interrupted\n")
        return 130
    except BrokenPipeError:
        # `optiverse-replay show ... | head`: the reader left; that is not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    finally:
        ctx.close()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _entrypoint() -> NoReturn:
    sys.exit(main())


if __name__ == "__main__":
    _entrypoint()
