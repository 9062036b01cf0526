"""A simulated network and server for driving many SceneDocuments in one thread, fast.

:class:`SimServer` speaks protocol v1 (as JSON text, through the real
encoder and decoders) on top of the real :class:`server.sequencer.Sequencer`:
hello/welcome (with the ops since ``since``, else a snapshot), submit/ack/op
broadcast, duplicates, refusals, joined/left.  Messages wait in one queue per
direction per client until a test delivers them, so a test decides every
interleaving.  :meth:`SimServer.restart` rebuilds the sequencer from its log,
as the real server rebuilds a session from its store.

:class:`SimSync` is a :class:`~optiverse.collab.qt.QtSyncClient` whose
transport is that simulation; pass ``sync_factory=net.sync_factory`` to a
SceneDocument and its ``share()`` works unchanged.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from optiverse.collab.engine import ClientEngine, ConnState
from optiverse.collab.messages import (
    Ack,
    ErrorMsg,
    Hello,
    Joined,
    Left,
    OpMsg,
    Presence,
    ServerMessage,
    Submit,
    User,
    Welcome,
    decode_client,
    decode_server,
    encode,
)
from optiverse.collab.qt import QtSyncClient
from optiverse.commands import apply
from optiverse.scene import Scene
from optiverse.scene.fileformat import scene_to_data
from server.sequencer import Accepted, Duplicate, Sequencer

SESSION = "sim-session"


class SimSync(QtSyncClient):
    """A QtSyncClient whose connection is a pair of queues in a :class:`SimServer`."""

    def __init__(self, engine: ClientEngine, url: str, *, net: SimServer, **kwargs: Any) -> None:
        kwargs.pop("delays", None)
        super().__init__(engine, url, submit_rate=0, **kwargs)
        self.net = net
        self.connected = False

    @property
    def client(self) -> str:
        return self.engine.client_id

    def start(self) -> None:
        self._set_state("connecting")
        self.net.clients[self.client] = self

    def stop(self, timeout: float = 0.0) -> None:
        self._stopped = True
        if self.connected:
            self.net.disconnect(self.client)
        self.net.clients.pop(self.client, None)
        self._set_state("offline")

    def drop_connection(self) -> None:
        if self.connected:
            self.net.disconnect(self.client)

    def flush(self) -> None:
        for message in self.engine.messages_to_send():
            if self.connected:
                self.net.up[self.client].append(encode(message))
        events = self.engine.events_received()
        if events:
            self._dispatch(events)

    # Called by the SimServer.

    def opened(self) -> None:
        self.connected = True
        session, create, password = self._join
        if self.engine.session is not None:
            session, create = self.engine.session, False
        self.engine.connect(session, create=create, password=password)
        self.flush()

    def closed(self) -> None:
        self.connected = False
        if self.engine.state is not ConnState.OFFLINE:
            self.engine.disconnected()
        if not self._stopped:
            self._set_state("reconnecting" if self._welcomed_once else "connecting")

    def received(self, text: str) -> None:
        self.engine.receive(decode_server(text))
        self.flush()


class SimServer:
    """One session on the real Sequencer, with every message queued; see the module docstring."""

    def __init__(self) -> None:
        self.sequencer = Sequencer(Scene(), 0)
        self.log: list[OpMsg] = []
        self.clients: dict[str, SimSync] = {}
        self.users: dict[str, User] = {}  # joined members
        self.up: dict[str, deque[str]] = {}
        self.down: dict[str, deque[str]] = {}
        self.refused: list[ErrorMsg] = []
        self.restarts = 0

    def sync_factory(self, engine: ClientEngine, url: str, **kwargs: Any) -> SimSync:
        return SimSync(engine, url, net=self, **kwargs)

    @property
    def scene(self) -> Scene:
        return self.sequencer.scene

    # --- the network --------------------------------------------------------------

    def connect(self, client: str) -> None:
        sync = self.clients[client]
        if sync.connected:
            return
        self.up[client] = deque()
        self.down[client] = deque()
        sync.opened()

    def disconnect(self, client: str) -> None:
        sync = self.clients[client]
        if not sync.connected:
            return
        self.up.pop(client, None)
        self.down.pop(client, None)
        user = self.users.pop(client, None)
        sync.closed()
        if user is not None:
            self._to_others(client, Left(user, client))

    def deliver_up(self, client: str) -> bool:
        queue = self.up.get(client)
        if not queue:
            return False
        self._handle(client, queue.popleft())
        return True

    def deliver_down(self, client: str) -> bool:
        queue = self.down.get(client)
        if not queue:
            return False
        self.clients[client].received(queue.popleft())
        return True

    def drain(self) -> None:
        """Connect everyone and deliver every message until nothing moves."""
        for client in list(self.clients):
            self.connect(client)
        moved = True
        while moved:
            moved = False
            for client in list(self.clients):
                while self.deliver_up(client):
                    moved = True
                while self.deliver_down(client):
                    moved = True

    def restart(self) -> None:
        """Drop every connection and rebuild the session from the log (a durable store)."""
        for client in list(self.clients):
            self.up.pop(client, None)
            self.down.pop(client, None)
            self.users.pop(client, None)
            self.clients[client].closed()
        scene = Scene()
        seqs: dict[str, tuple[int, int]] = {}
        for entry in self.log:
            apply(scene, entry.op)
            seqs[entry.client] = (entry.seq, entry.version)
        self.sequencer = Sequencer(scene, len(self.log), self.log[-64:], seqs, tail_size=64)
        self.restarts += 1

    # --- the server -----------------------------------------------------------------

    def _handle(self, client: str, text: str) -> None:
        message = decode_client(text)
        if isinstance(message, Hello):
            self._hello(client, message)
        elif isinstance(message, Submit):
            self._submit(client, message)
        elif isinstance(message, Presence):
            pass

    def _hello(self, client: str, hello: Hello) -> None:
        assert hello.create or hello.session == SESSION, hello
        version = self.sequencer.version
        since = hello.since
        ops = tuple(self.log[since:]) if since is not None and since <= version else None
        self.users[client] = hello.user
        self._send(
            client,
            Welcome(
                session=SESSION,
                version=version,
                users=tuple({u.id: u for u in self.users.values()}.values()),
                snapshot=scene_to_data(self.sequencer.scene) if ops is None else None,
                ops=ops,
            ),
        )
        self._to_others(client, Joined(hello.user, client))

    def _submit(self, client: str, submit: Submit) -> None:
        user = self.users[client]
        result = self.sequencer.submit(
            client, submit.seq, submit.base, submit.op, user, submit.origin, history=self.log
        )
        if isinstance(result, Accepted):
            self.log.append(result.entry)
            self._send(client, Ack(submit.seq, result.entry.version))
            self._to_others(client, result.entry)
        elif isinstance(result, Duplicate):
            self._send(client, Ack(submit.seq, result.version))
        else:
            error = ErrorMsg(result.code.value, result.message, submit.seq)
            self.refused.append(error)
            self._send(client, error)

    def _send(self, client: str, message: ServerMessage) -> None:
        self.down[client].append(encode(message))

    def _to_others(self, sender: str, message: ServerMessage) -> None:
        text = encode(message)
        for client, queue in self.down.items():
            if client != sender and client in self.users:
                queue.append(text)
