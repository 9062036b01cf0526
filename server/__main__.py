"""``optiverse-server`` / ``python -m server``: the command line of the collaboration server.

Once it listens, the server prints exactly one line to standard output,
``optiverse-server listening on ws://HOST:PORT``, so a parent process (the
test fixtures, the benchmark) can learn the port it got with ``--port 0``.
Logs go to standard error.  SIGINT and SIGTERM shut down gracefully
(docs/server.md, "Shutdown") and the exit status is 0; SIGUSR1 dumps the
stacks of all threads to standard error.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence

from server.app import OptiverseServer
from server.config import DEFAULT_STORE, Limits, LogFormat, ServerConfig
from server.store import StoreError, open_store

__all__ = ["build_parser", "config_from_args", "main", "run"]

_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


def build_parser() -> argparse.ArgumentParser:
    d = ServerConfig()
    lim = Limits()
    p = argparse.ArgumentParser(
        prog="optiverse-server",
        description="Optiverse collaboration server: sequences, stores and relays the "
        "operations of shared optical-bench sessions over WebSocket (protocol v1). "
        "The same port answers GET /health and GET /metrics.",
    )
    p.add_argument("--host", default=d.host, help="interface to listen on (default %(default)s)")
    p.add_argument(
        "--port",
        type=int,
        default=d.port,
        help="TCP port; 0 picks a free one (default %(default)s)",
    )
    p.add_argument(
        "--store",
        default=DEFAULT_STORE,
        help="where sessions are kept: sqlite:///relative.db, sqlite:////absolute.db, "
        "redis://host:port/db[?prefix=NAME] (shared by several server processes), or "
        "memory:// (lost on exit) (default %(default)s, relative to the working directory)",
    )
    p.add_argument(
        "--log-level",
        default=d.log_level,
        type=str.upper,
        choices=_LEVELS,
        help="log threshold (default %(default)s)",
    )
    p.add_argument(
        "--log-format",
        default=d.log_format,
        choices=["text", "json"],
        help="text lines, or one JSON object per line (default %(default)s)",
    )
    p.add_argument(
        "--snapshot-every",
        type=int,
        default=d.snapshot_every,
        metavar="N",
        help="store a scene snapshot every N operations per session (default %(default)s)",
    )
    p.add_argument(
        "--max-message-bytes",
        type=int,
        default=lim.max_message_bytes,
        metavar="BYTES",
        help="largest accepted message; a larger one closes the connection with 1009 "
        "(default %(default)s)",
    )
    p.add_argument(
        "--max-ops-per-second",
        type=float,
        default=lim.ops_per_second,
        metavar="RATE",
        help="operations per second per connection; excess submits get error rate_limited "
        "(default %(default)s, burst twice that)",
    )
    p.add_argument(
        "--max-clients-per-session",
        type=int,
        default=lim.clients_per_session,
        metavar="N",
        help="connections per session; the next gets error session_full and close 4006 "
        "(default %(default)s)",
    )
    p.add_argument(
        "--max-components",
        type=int,
        default=lim.max_components,
        metavar="N",
        help="components per scene; a submit that would exceed it gets error scene_full "
        "(default %(default)s)",
    )
    p.add_argument(
        "--max-presence-per-second",
        type=float,
        default=lim.presence_per_second,
        metavar="RATE",
        help="presence relays per second per connection; faster updates are coalesced "
        "(default %(default)s)",
    )
    p.add_argument(
        "--rate-limit-strikes",
        type=int,
        default=lim.rate_limit_strikes,
        metavar="N",
        help="close a connection with 4029 after N submits in a row were refused as "
        "rate_limited (default %(default)s)",
    )
    p.add_argument(
        "--idle-unload-seconds",
        type=float,
        default=d.idle_unload_seconds,
        metavar="S",
        help="keep a session with no client in memory this long (default %(default)s)",
    )
    p.add_argument(
        "--roster-seconds",
        type=float,
        default=d.roster_seconds,
        metavar="S",
        help="with a store shared by several servers (redis://): re-announce this server's "
        "members every S seconds, and drop another server's after 3 S without news "
        "(default %(default)s)",
    )
    p.add_argument(
        "--no-compression",
        action="store_true",
        help="do not offer permessage-deflate (compression is on by default)",
    )
    return p


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    limits = Limits(
        max_message_bytes=args.max_message_bytes,
        ops_per_second=args.max_ops_per_second,
        ops_burst=max(1, int(args.max_ops_per_second * 2)),
        presence_per_second=args.max_presence_per_second,
        rate_limit_strikes=args.rate_limit_strikes,
        clients_per_session=args.max_clients_per_session,
        max_components=args.max_components,
    )
    log_format: LogFormat = args.log_format
    return ServerConfig(
        host=args.host,
        port=args.port,
        store=args.store,
        limits=limits,
        snapshot_every=args.snapshot_every,
        idle_unload_seconds=args.idle_unload_seconds,
        roster_seconds=args.roster_seconds,
        compression=not args.no_compression,
        log_level=args.log_level,
        log_format=log_format,
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out)


def setup_logging(level: str, fmt: LogFormat) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # websockets logs every handshake at INFO; that is noise at our INFO.
    logging.getLogger("websockets").setLevel(max(logging.WARNING, root.level))


async def run(config: ServerConfig) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully."""
    store = open_store(config.store)
    # Reach the store before listening: a wrong URL or a Redis that is down is
    # a clear error now, not an `internal` error at the first hello.
    try:
        await store.list_sessions()
    except StoreError:
        await store.close()
        raise
    server = OptiverseServer(config, store)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    url = f"ws://{config.host}:{server.port}"
    logging.getLogger("server").info("listening on %s, store %s", url, config.store)
    print(f"optiverse-server listening on {url}", flush=True)
    await stop.wait()
    await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"optiverse-server: error: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log_level, config.log_format)
    # `kill -USR1 <pid>` dumps every thread's stack to stderr: for a server that hangs.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        asyncio.run(run(config))
    except StoreError as exc:
        print(f"optiverse-server: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"optiverse-server: error: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
