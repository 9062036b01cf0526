"""A simulated network: N ClientEngines and one Sequencer-backed server, no sockets.

The simulated server follows the real server's rules (``server/session.py``):

* hello → welcome with the ops after ``since`` when it has them, else a
  snapshot (``scene_to_data``); ``joined`` to the others;
* a submit is sequenced at once, but its ack (to the submitting connection)
  and its ``op`` (to every other joined connection) wait until a *commit*
  makes it durable; commits happen at random steps (the group commit);
* a duplicate ``(client, seq)`` is acked again with its original version,
  at once if durable, else at the commit;
* a rejected submit gets ``error`` with its seq; a random ``rate_limited``
  error stands for the token bucket;
* a restart loses everything not committed and rebuilds the sequencer from
  the durable log; every connection drops.

``welcome_at_head`` chooses what a welcome includes: True is what
``server/session.py`` does today (entries still being committed count),
False welcomes at the durable version only.

Frames cross the simulated wire as JSON text, so the wire format is
exercised too.  Each client has its own FIFO queue each way; a
disconnect drops both (optionally delivering what was already on its way
to the server first, as a real socket may).
"""

from __future__ import annotations

import random
from collections import deque

import attrs

from optiverse.collab.bot import EditGenerator
from optiverse.collab.engine import Acked, ClientEngine, ConnState, Refused, Throttled
from optiverse.collab.messages import (
    Ack,
    ErrorCode,
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
from optiverse.commands import Op, apply
from optiverse.commands.undo import revert
from optiverse.scene import Scene
from optiverse.scene.fileformat import scene_to_data
from server.sequencer import Accepted, Duplicate, Sequencer

SESSION = "sim-session"


class SimConn:
    """The server's end of one connection."""

    def __init__(self, client: str, outbox: deque[str]) -> None:
        self.client = client
        self.outbox = outbox
        self.user: User | None = None
        self.joined = False
        self.open = True

    def send(self, message: ServerMessage) -> None:
        if self.open:
            self.outbox.append(encode(message))


class SimServer:
    """One session, the real server's rules, no I/O; see the module docstring."""

    def __init__(
        self,
        rng: random.Random,
        *,
        max_components: int = 14,
        tail_size: int = 16,
        snapshot_p: float = 0.2,
        rate_limit_p: float = 0.05,
        welcome_at_head: bool = False,
    ) -> None:
        self.rng = rng
        self.max_components = max_components
        self.tail_size = tail_size
        self.snapshot_p = snapshot_p
        self.rate_limit_p = rate_limit_p
        self.welcome_at_head = welcome_at_head
        self.created = False
        self.log: list[OpMsg] = []  # sequenced, in version order: durable prefix + pending
        self.durable = 0
        self.durable_scene = Scene()
        self.conns: list[SimConn] = []
        # version -> connections owed an ack at its commit (the submitter, duplicates)
        self.ack_to: dict[int, list[SimConn]] = {}
        self.restarts = 0
        self.sequencer = self._new_sequencer(Scene(), [])

    def _new_sequencer(self, scene: Scene, log: list[OpMsg]) -> Sequencer:
        clients = {e.client: (e.seq, e.version) for e in log}
        return Sequencer(
            scene,
            len(log),
            log[-self.tail_size :],
            clients,
            tail_size=self.tail_size,
            max_components=self.max_components,
        )

    # --- connections ----------------------------------------------------------

    def open(self, client: str, outbox: deque[str]) -> SimConn:
        conn = SimConn(client, outbox)
        self.conns.append(conn)
        return conn

    def close(self, conn: SimConn) -> None:
        conn.open = False
        self.conns.remove(conn)
        if conn.joined and conn.user is not None:
            for other in self.conns:
                if other.joined:
                    other.send(Left(conn.user, conn.client))

    def receive(self, conn: SimConn, text: str) -> None:
        message = decode_client(text)
        if isinstance(message, Hello):
            self._hello(conn, message)
        elif isinstance(message, Submit):
            assert conn.joined, "the engine submitted before its welcome"
            self._submit(conn, message)
        else:
            assert isinstance(message, Presence)

    def _hello(self, conn: SimConn, hello: Hello) -> None:
        assert not conn.joined
        if hello.create:
            assert not self.created, "the simulation has one session"
            self.created = True
        else:
            assert hello.session == SESSION and self.created
        head = self.sequencer.version if self.welcome_at_head else self.durable
        since = hello.since
        # A client ahead of the server saw entries a crash lost (possible only
        # with welcome_at_head): like the server, answer with a snapshot.
        if since is not None and since <= head and self.rng.random() >= self.snapshot_p:
            welcome = Welcome(SESSION, head, (), ops=tuple(self.log[since:head]))
        else:
            scene = self.sequencer.scene if self.welcome_at_head else self.durable_scene
            welcome = Welcome(SESSION, head, (), snapshot=scene_to_data(scene))
        conn.user = hello.user
        conn.joined = True
        conn.send(welcome)
        for other in self.conns:
            if other is not conn and other.joined:
                other.send(Joined(hello.user, conn.client))

    def _submit(self, conn: SimConn, msg: Submit) -> None:
        assert conn.user is not None
        if self.rng.random() < self.rate_limit_p:
            conn.send(ErrorMsg(ErrorCode.RATE_LIMITED.value, "slow down", msg.seq))
            return
        history = self.log if self.sequencer.needs_history(msg.base) else None
        result = self.sequencer.submit(
            conn.client, msg.seq, msg.base, msg.op, conn.user, msg.origin, now=0.0, history=history
        )
        if isinstance(result, Accepted):
            self.log.append(result.entry)
            self.ack_to[result.entry.version] = [conn]
        elif isinstance(result, Duplicate):
            if result.version <= self.durable:
                conn.send(Ack(msg.seq, result.version))
            else:
                self.ack_to[result.version].append(conn)
        else:
            conn.send(ErrorMsg(result.code.value, result.message, msg.seq))

    # --- durability -------------------------------------------------------------

    def commit(self) -> None:
        """Make every sequenced entry durable, then ack and broadcast them in order."""
        for entry in self.log[self.durable :]:
            apply(self.durable_scene, entry.op)
            owed = self.ack_to.pop(entry.version)
            for conn in self.conns:
                if not conn.joined:
                    continue
                if conn in owed:
                    conn.send(Ack(entry.seq, entry.version))
                else:
                    conn.send(entry)
        self.durable = len(self.log)

    def restart(self) -> None:
        """Crash: lose what was not committed and reload from the durable log."""
        self.restarts += 1
        for conn in self.conns:
            conn.open = False
        self.conns = []
        self.ack_to = {}
        del self.log[self.durable :]
        scene = Scene()
        for entry in self.log:
            apply(scene, entry.op)
        assert scene == self.durable_scene
        self.sequencer = self._new_sequencer(scene, self.log)


@attrs.define(eq=False)
class SimClient:
    engine: ClientEngine
    edits: EditGenerator
    to_server: deque[str] | None = None
    to_client: deque[str] | None = None
    conn: SimConn | None = None
    done: list[Op] = attrs.Factory(list)  # my applied edits, newest last, for undo
    undone: list[Op] = attrs.Factory(list)
    acked: list[tuple[int, int]] = attrs.Factory(list)  # (seq, version) of Acked events
    refused: list[int] = attrs.Factory(list)
    throttled: bool = False

    @property
    def id(self) -> str:
        return self.engine.client_id


class Network:
    """The clients, the server and the wire between them; one method per step kind."""

    def __init__(self, seed: int, n_clients: int, **server_options: object) -> None:
        self.rng = random.Random(seed)
        self.server = SimServer(random.Random(seed * 7919 + 1), **server_options)  # type: ignore[arg-type]
        self.clients: list[SimClient] = []
        for i in range(n_clients):
            cid = f"u{i}"
            engine = ClientEngine(cid, User(cid, f"user {i}"))
            self.clients.append(SimClient(engine, EditGenerator(random.Random(seed + i), cid, 6)))

    # --- connection steps -----------------------------------------------------

    def connect(self, c: SimClient, *, create: bool = False) -> None:
        assert c.engine.state is ConnState.OFFLINE and c.conn is None
        c.to_server, c.to_client = deque(), deque()
        c.conn = self.server.open(c.id, c.to_client)
        c.engine.connect(None if create else SESSION, create=create)
        self.pump(c)

    def disconnect(self, c: SimClient, *, deliver_first: bool) -> None:
        """The connection drops; what was already on its way to the server may still arrive."""
        assert c.conn is not None and c.to_server is not None
        if deliver_first and c.conn.open:
            while c.to_server:
                self.server.receive(c.conn, c.to_server.popleft())
        if c.conn.open:
            self.server.close(c.conn)
        c.conn = c.to_server = c.to_client = None
        c.engine.disconnected()
        c.throttled = False

    def restart_server(self) -> None:
        self.server.restart()
        for c in self.clients:
            if c.conn is not None:
                c.conn = c.to_server = c.to_client = None
                c.engine.disconnected()
                c.throttled = False

    # --- message steps --------------------------------------------------------

    def to_server(self, c: SimClient) -> bool:
        if not c.to_server or c.conn is None:
            return False
        self.server.receive(c.conn, c.to_server.popleft())
        return True

    def to_client(self, c: SimClient) -> bool:
        if not c.to_client:
            return False
        message = decode_server(c.to_client.popleft())
        c.engine.receive(message)
        self.pump(c)
        if isinstance(message, OpMsg) and len(c.engine.pending) <= 8:
            # Where the transforms happen; long offline queues would make it slow.
            self.check_client(c)
        return True

    def pump(self, c: SimClient) -> None:
        for message in c.engine.messages_to_send():
            assert c.to_server is not None, "the engine queued a message while offline"
            c.to_server.append(encode(message))
        for event in c.engine.events_received():
            if isinstance(event, Acked):
                c.acked.append((event.seq, event.version))
            elif isinstance(event, Refused):
                c.refused.append(event.seq)
            elif isinstance(event, Throttled):
                c.throttled = True

    def resend(self, c: SimClient) -> None:
        c.throttled = False
        c.engine.resend()
        self.pump(c)

    # --- local steps ----------------------------------------------------------

    def edit(self, c: SimClient) -> None:
        applied = c.engine.local(c.edits(c.engine.scene))
        c.done.append(applied)
        c.undone.clear()
        self.pump(c)

    def undo(self, c: SimClient) -> None:
        while c.done:
            op = revert(c.done.pop(), c.engine.scene)
            if op is not None:
                c.undone.append(c.engine.local(op, "undo"))
                self.pump(c)
                return

    def redo(self, c: SimClient) -> None:
        while c.undone:
            op = revert(c.undone.pop(), c.engine.scene)
            if op is not None:
                c.done.append(c.engine.local(op, "redo"))
                self.pump(c)
                return

    # --- driving --------------------------------------------------------------

    def step(self) -> None:
        """One random step: deliver, edit, undo, commit, disconnect, reconnect or restart."""
        rng = self.rng
        c = rng.choice(self.clients)
        roll = rng.random()
        if roll < 0.30:
            self.to_client(c) or self.to_server(c)
        elif roll < 0.55:
            self.to_server(c) or self.to_client(c)
        elif roll < 0.75:
            self.edit(c)
        elif roll < 0.78:
            self.undo(c)
        elif roll < 0.80:
            self.redo(c)
        elif roll < 0.90:
            self.server.commit()
        elif roll < 0.93:
            if c.conn is not None:
                self.disconnect(c, deliver_first=rng.random() < 0.5)
        elif roll < 0.97:
            if c.conn is None:
                self.connect(c)
        elif roll < 0.98:
            if c.throttled:
                self.resend(c)
        elif roll < 0.985:
            self.restart_server()

    def check_client(self, c: SimClient) -> None:
        """``scene`` is ``confirmed`` with my pending ops applied on top (the diamond's side)."""
        work = c.engine.confirmed.copy()
        for pending in c.engine.pending:
            apply(work, pending.op)
        assert work == c.engine.scene, f"{c.id}: scene != confirmed + pending"

    def drain(self, max_rounds: int = 10_000) -> None:
        """Reconnect everyone, stop rate limiting, deliver everything until quiet."""
        self.server.rate_limit_p = 0.0
        for c in self.clients:
            if c.conn is None:
                self.connect(c)
        for _ in range(max_rounds):
            moved = False
            for c in self.clients:
                while self.to_server(c):
                    moved = True
            if self.server.durable < len(self.server.log):
                self.server.commit()
                moved = True
            for c in self.clients:
                while self.to_client(c):
                    moved = True
                if c.throttled:
                    self.resend(c)
                    moved = True
            if not moved:
                return
        raise AssertionError("the network did not go quiet")

    def check_converged(self) -> None:
        """Everyone synced on the server's durable scene; the log replays to it; no ack lost."""
        server = self.server
        assert server.durable == len(server.log) == server.sequencer.version
        replayed = Scene()
        for version, entry in enumerate(server.log, 1):
            assert entry.version == version
            apply(replayed, entry.op)
        assert replayed == server.durable_scene == server.sequencer.scene
        logged = {(e.client, e.seq): e.version for e in server.log}
        for c in self.clients:
            engine = c.engine
            assert engine.synced, f"{c.id}: not synced: {engine.debug_state()}"
            assert engine.version == server.durable, f"{c.id}: version {engine.version}"
            assert engine.confirmed == server.durable_scene, f"{c.id}: confirmed differs"
            assert engine.scene == engine.confirmed, f"{c.id}: scene differs from confirmed"
            for seq, version in c.acked:
                assert logged.get((c.id, seq)) == version, (
                    f"{c.id}: seq {seq} was acked at version {version} but the log has "
                    f"{logged.get((c.id, seq))}"
                )
