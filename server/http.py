"""Plain HTTP on the WebSocket port: ``GET /health``, ``GET /metrics``, 404 otherwise.

websockets calls :func:`make_process_request`'s function before every
handshake; a request that asks for a WebSocket upgrade goes on to the
protocol (on any path), anything else gets an HTTP answer here.
"""

from __future__ import annotations

import http
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from server.metrics import CONTENT_TYPE

__all__ = ["make_process_request"]

ProcessRequest = Callable[[ServerConnection, Request], Response | None]


def _response(status: http.HTTPStatus, body: str, content_type: str) -> Response:
    data = body.encode("utf-8")
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
            ("Connection", "close"),
        ]
    )
    return Response(status.value, status.phrase, headers, data)


def make_process_request(
    health: Callable[[], dict[str, Any]], metrics: Callable[[], str]
) -> ProcessRequest:
    """The ``process_request`` hook: ``health()`` gives /health's JSON, ``metrics()`` /metrics."""

    def process_request(_connection: ServerConnection, request: Request) -> Response | None:
        if "websocket" in request.headers.get("Upgrade", "").lower():
            return None
        path = request.path.split("?", 1)[0]
        if path == "/health":
            return _response(http.HTTPStatus.OK, json.dumps(health()) + "\n", "application/json")
        if path == "/metrics":
            return _response(http.HTTPStatus.OK, metrics(), CONTENT_TYPE)
        return _response(
            http.HTTPStatus.NOT_FOUND,
            "not found: this server answers WebSocket upgrades, /health and /metrics\n",
            "text/plain; charset=utf-8",
        )

    return process_request
