"""Command line and start-up: ``optiverse [FILE] [--join INVITE --name NAME ...] [--record F]``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from PyQt6.QtWidgets import QApplication

from optiverse.collab.recording import Recorder
from optiverse.optics import start_warm_up
from optiverse.ui.invite import InviteError, parse_invite
from optiverse.ui.main_window import MainWindow
from optiverse.ui.share_dialog import JoinRequest, server_url

__all__ = ["build_parser", "create_window", "run"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="optiverse",
        description="Optiverse: a collaborative optical-bench editor.",
    )
    parser.add_argument("file", nargs="?", type=Path, help="a scene file to open")
    parser.add_argument(
        "--join",
        metavar="INVITE",
        help="join a shared session at once, e.g. optiverse://192.168.1.20:8765/AbCd",
    )
    parser.add_argument("--name", help="your name, shown to the others (default: your login)")
    parser.add_argument("--password", help="the session's password, if it has one")
    parser.add_argument(
        "--server",
        metavar="URL",
        help="server for sessions you create (default: host them in this app, on the LAN)",
    )
    parser.add_argument(
        "--local-only",
        action="store_true",
        help="host sessions on 127.0.0.1 only, not on the LAN",
    )
    parser.add_argument(
        "--record",
        metavar="FILE",
        type=Path,
        help="record what this app sends and receives in sessions, and its local edits, undos "
        "and redos, to FILE (JSON lines, for optiverse-replay check-client)",
    )
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    return parser


def _checked(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    try:
        if args.join:
            args.join = parse_invite(args.join)
        if args.server:
            args.server = server_url(args.server)
    except InviteError as exc:
        parser.error(str(exc))
    if args.join and args.file:
        parser.error("give a file or --join, not both: joining replaces the open scene")
    return args


def create_window(args: argparse.Namespace, recorder: Recorder | None = None) -> MainWindow:
    """The main window for parsed arguments: the file opened, or the session being joined.

    ``recorder`` (opened on ``args.record`` by :func:`run`) records every session.
    """
    window = MainWindow(
        name=args.name, server=args.server, lan=not args.local_only, recorder=recorder
    )
    window.show()
    if args.file is not None:
        window.open_path(args.file)
    if args.join is not None:
        invite = args.join
        window.join(
            JoinRequest(invite.server_url, invite.session, window.document.user.name, args.password)
        )
    return window


def display_problem(environ: Mapping[str, str], platform: str) -> str | None:
    """Why Qt could not open a window here, or None if it can."""
    if not platform.startswith("linux") or environ.get("QT_QPA_PLATFORM"):
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "no display: DISPLAY and WAYLAND_DISPLAY are unset. Run it on a desktop, or under "
        "xvfb-run, or set QT_QPA_PLATFORM=offscreen to run without a window; the "
        "collaboration server alone needs no display (make server)."
    )


def run(argv: Sequence[str] | None = None) -> int:
    """Start the application; returns its exit status."""
    parser = build_parser()
    args = _checked(parser, parser.parse_args(argv))
    logging.basicConfig(
        level=str(args.log_level).upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    problem = display_problem(os.environ, sys.platform)
    if problem is not None and QApplication.instance() is None:
        # Without this Qt aborts the process (SIGABRT) with a plugin error.
        print(f"optiverse: {problem}", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Optiverse")
    app.setOrganizationName("Optiverse")
    try:
        recorder = Recorder(args.record) if args.record is not None else None
    except OSError as exc:
        parser.error(f"cannot write the recording {str(args.record)!r}: {exc.strerror}")
    try:
        window = create_window(args, recorder)
        # The compiled tracer takes over from the vectorized one when this is
        # done (about 10 s the first time on a machine, then from numba's cache).
        start_warm_up()
        # Closing the window closed its document (left the session, stopped its
        # thread, emptied the undo stack), so the window may be destroyed
        # whenever Python lets go of it.
        status = app.exec()
        del window
    finally:
        if recorder is not None:
            recorder.close()
    return status
