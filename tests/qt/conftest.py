"""Fixtures for the Qt client tests: documents sharing sessions on a real server.

The server is the real ``python -m server`` subprocess from
``tests/server/conftest.py``.  Documents reconnect fast here (tens of ms
instead of seconds) so that restarts and drops do not slow the suite.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot
from websockets.asyncio.client import connect

from optiverse.collab.backoff import backoff
from optiverse.collab.messages import PROTOCOL_VERSION, Hello, User, encode
from optiverse.collab.recording import Recorder
from optiverse.scene import Scene
from optiverse.scene.fileformat import scene_from_data
from optiverse.ui.document import SceneDocument
from tests.server.conftest import ServerProcess, server, server_proc, shared_server

__all__ = ["server", "server_proc", "shared_server"]

WAIT_MS = 10_000


def fast_delays() -> Iterator[float]:
    return backoff(initial=0.02, max_delay=0.3)


DocFactory = Callable[..., SceneDocument]


@pytest.fixture
def make_doc(qtbot: QtBot) -> Iterator[DocFactory]:
    """``make_doc(name, recorder=None, **sync_options) -> SceneDocument`` with fast reconnects.

    Every document is closed at teardown (it leaves its session and stops its thread).
    """
    docs: list[SceneDocument] = []

    def make(
        name: str = "user", *, recorder: Recorder | None = None, **options: object
    ) -> SceneDocument:
        n = len(docs) + 1
        doc = SceneDocument(
            User(f"u{n}-{name}", name),
            sync_options={"delays": fast_delays, **options},
            recorder=recorder,
        )
        docs.append(doc)
        return doc

    yield make
    for doc in docs:
        doc.close()


def share_all(qtbot: QtBot, url: str, docs: list[SceneDocument]) -> str:
    """The first document creates a session, the others join it; returns its id."""
    first, *others = docs
    first.share(url, create=True, name=first.user.name)
    qtbot.waitUntil(lambda: first.connection_state == "connected", timeout=WAIT_MS)
    session = first.session_id
    assert session is not None
    for doc in others:
        doc.share(url, create=False, session=session, name=doc.user.name)
    qtbot.waitUntil(lambda: all(d.connection_state == "connected" for d in others), timeout=WAIT_MS)
    return session


def wait_converged(qtbot: QtBot, docs: list[SceneDocument], timeout: int = WAIT_MS) -> None:
    """Wait until every document is connected, has nothing pending and shows the same scene."""

    def converged() -> bool:
        if not all(d.synced for d in docs):
            return False
        versions = {d.engine.version for d in docs}
        return len(versions) == 1 and all(d.scene == docs[0].scene for d in docs)

    qtbot.waitUntil(converged, timeout=timeout)


def server_snapshot(url: str, session: str) -> tuple[int, Scene]:
    """(version, scene) of ``session`` as the server has it, read by a fresh join."""

    async def fetch() -> tuple[int, Scene]:
        async with connect(url, open_timeout=5) as ws:
            hello = Hello(
                protocol=PROTOCOL_VERSION,
                user=User("snapshot-reader", "reader"),
                client="snapshot-reader",
                session=session,
            )
            await ws.send(encode(hello))
            while True:
                data = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if data["type"] == "welcome":
                    return data["version"], scene_from_data(data["snapshot"])

    return asyncio.run(fetch())


__all__ += ["ServerProcess", "make_doc"]
