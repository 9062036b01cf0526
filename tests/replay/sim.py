"""A seeded multi-client session in one process: real engines, a real Sequencer, real Recorders.

Messages travel as JSON text through per-client queues that are delivered in
random order (each queue stays FIFO, like a socket), clients disconnect and
reconnect, and users undo and redo their own edits.  The server side stores
a snapshot every ``snapshot_every`` versions, the way the real server does,
and remembers its scene at every version so replays can be compared with it.
"""

from __future__ import annotations

import random
from collections import deque
from pathlib import Path

import attrs

from optiverse.collab.engine import ClientEngine, ConnState
from optiverse.collab.messages import (
    Ack,
    ErrorMsg,
    Hello,
    OpMsg,
    Submit,
    User,
    Welcome,
    decode_client,
    decode_server,
    encode,
)
from optiverse.collab.recording import Recorder
from optiverse.commands import Batch, Create, Delete, Op, Set
from optiverse.commands.undo import revert
from optiverse.errors import OptiverseError
from optiverse.replay.log import Log, StoredSnapshot
from optiverse.scene import Scene
from optiverse.scene.fileformat import scene_to_data
from server.sequencer import Accepted, Duplicate, Rejected, Sequencer

T0 = 1_790_000_000.0
KINDS = ["source", "lens", "mirror", "beamsplitter", "block"]
COLORS = ["#DC143C", "#00FF00", "#0000FF", "#FFA500"]


@attrs.define
class SimResult:
    log: Log
    scenes: list[Scene]
    """``scenes[v]``: the sequencer's scene right after version ``v``."""
    recordings: dict[str, Path]
    users: dict[str, User]


@attrs.define
class _Client:
    engine: ClientEngine
    recorder: Recorder
    done: list[Op] = attrs.field(factory=list)
    undone: list[Op] = attrs.field(factory=list)
    created: int = 0


class _Sim:
    def __init__(self, rng: random.Random, tmp: Path, clients: int, snapshot_every: int) -> None:
        self.rng = rng
        self.session = "sim"
        self.now = T0
        self.seq = Sequencer(Scene(), 0, tail_size=1_000_000)
        self.scenes = [Scene()]
        self.snapshots: list[StoredSnapshot] = []
        self.snapshot_every = snapshot_every
        self.to_server: dict[str, deque[str]] = {}
        self.to_client: dict[str, deque[str]] = {}
        self.clients: dict[str, _Client] = {}
        self.paths: dict[str, Path] = {}
        self.users: dict[str, User] = {}
        self.joined: set[str] = set()
        for i in range(clients):
            cid = f"client{i}"
            user = User(f"u{i}", ["Ann", "Bob", "Cyd", "Dee"][i % 4], COLORS[i % 4])
            path = tmp / f"{cid}.jsonl"
            recorder = Recorder(path, clock=self.clock)
            engine = ClientEngine(cid, user)
            recorder.start(cid, user, engine.scene)
            self.clients[cid] = _Client(engine, recorder)
            self.paths[cid] = path
            self.users[cid] = user
            self.to_server[cid] = deque()
            self.to_client[cid] = deque()

    def clock(self) -> float:
        return self.now

    # --- client side ----------------------------------------------------------

    def pump(self, cid: str) -> None:
        client = self.clients[cid]
        for msg in client.engine.messages_to_send():
            text = encode(msg)
            client.recorder.sent(text)
            self.to_server[cid].append(text)
        client.engine.events_received()

    def connect(self, cid: str) -> None:
        client = self.clients[cid]
        client.engine.connect(self.session)
        client.recorder.connect(self.session, False, False)
        self.pump(cid)

    def disconnect(self, cid: str) -> None:
        client = self.clients[cid]
        client.engine.disconnected()
        client.recorder.disconnected(1006, "simulated drop")
        self.to_server[cid].clear()
        self.to_client[cid].clear()
        self.joined.discard(cid)

    def edit(self, cid: str, op: Op, origin: str) -> Op | None:
        client = self.clients[cid]
        try:
            applied = client.engine.local(op, origin)  # type: ignore[arg-type]
        except OptiverseError as exc:
            client.recorder.edit(op, origin, error=str(exc))
            return None
        pending = client.engine.pending
        client.recorder.edit(op, origin, applied=applied, seq=pending[-1].seq if pending else None)
        self.pump(cid)
        return applied

    def random_edit(self, cid: str) -> None:
        client = self.clients[cid]
        scene = client.engine.scene
        rng = self.rng
        choice = rng.random()
        if choice < 0.12 and client.done:
            op = revert(client.done.pop(), scene)
            if op is not None and (applied := self.edit(cid, op, "undo")) is not None:
                client.undone.append(applied)
            return
        if choice < 0.18 and client.undone:
            op = revert(client.undone.pop(), scene)
            if op is not None and (applied := self.edit(cid, op, "redo")) is not None:
                client.done.append(applied)
            return
        if choice < 0.35 or not scene.components:
            client.created += 1
            kind = rng.choice(KINDS)
            props: dict[str, object] = {
                "x_mm": round(rng.uniform(-200, 200), 3),
                "y_mm": round(rng.uniform(-200, 200), 3),
            }
            if kind == "source":
                props["color"] = rng.choice(COLORS)
            new: Op = Create(f"{cid}-{client.created}", kind, props)  # type: ignore[arg-type]
            if rng.random() < 0.2:
                new = Batch.of([new, Create(f"{cid}-{client.created}b", "lens", {"x_mm": 5.0})])
            op = new
        else:
            target = rng.choice(sorted(scene.components))
            if rng.random() < 0.1:
                op = Delete(target)
            else:
                key = rng.choice(["x_mm", "y_mm", "angle_deg", "name", "locked"])
                value: object = {
                    "x_mm": round(rng.uniform(-300, 300), 2),
                    "y_mm": round(rng.uniform(-300, 300), 2),
                    "angle_deg": round(rng.uniform(-90, 90), 1),
                    "name": rng.choice(["", "M1", "L2", "split"]),
                    "locked": rng.random() < 0.5,
                }[key]
                op = Set(target, {key: value})  # type: ignore[dict-item]
        if (applied := self.edit(cid, op, "edit")) is not None:
            client.done.append(applied)
            client.undone.clear()

    def deliver_to_client(self, cid: str) -> None:
        text = self.to_client[cid].popleft()
        client = self.clients[cid]
        client.recorder.received(text)
        client.engine.receive(decode_server(text))
        self.pump(cid)

    # --- server side ------------------------------------------------------------

    def deliver_to_server(self, cid: str) -> None:
        msg = decode_client(self.to_server[cid].popleft())
        if isinstance(msg, Hello):
            self.joined.add(cid)
            ops = self.seq.ops_since(msg.since) if msg.since is not None else None
            welcome = Welcome(
                self.session,
                self.seq.version,
                tuple(self.users.values()),
                snapshot=scene_to_data(self.seq.scene) if ops is None else None,
                ops=tuple(ops) if ops is not None else None,
            )
            self.send(cid, welcome)
        elif isinstance(msg, Submit):
            result = self.seq.submit(
                cid, msg.seq, msg.base, msg.op, self.users[cid], msg.origin, now=self.now
            )
            if isinstance(result, Accepted):
                self.accepted(cid, result.entry)
            elif isinstance(result, Duplicate):
                self.send(cid, Ack(msg.seq, result.version))
            elif isinstance(result, Rejected):
                self.send(cid, ErrorMsg(result.code, result.message, msg.seq))

    def accepted(self, cid: str, entry: OpMsg) -> None:
        self.scenes.append(self.seq.scene.copy())
        if entry.version % self.snapshot_every == 0:
            self.snapshots.append(
                StoredSnapshot(entry.version, scene_to_data(self.seq.scene), self.now)
            )
        self.send(cid, Ack(entry.seq, entry.version))
        for other in self.joined - {cid}:
            self.send(other, entry)

    def send(self, cid: str, msg: Welcome | Ack | OpMsg | ErrorMsg) -> None:
        self.to_client[cid].append(encode(msg))

    # --- the run ----------------------------------------------------------------

    def step(self) -> None:
        self.now += 0.25
        rng = self.rng
        offline = [c for c, cl in self.clients.items() if cl.engine.state is ConnState.OFFLINE]
        online = [c for c in self.clients if c not in offline]
        roll = rng.random()
        if roll < 0.4:
            self.random_edit(rng.choice(sorted(self.clients)))
        elif roll < 0.43 and online:
            self.disconnect(rng.choice(online))
        elif roll < 0.5 and offline:
            self.connect(rng.choice(offline))
        else:
            self.deliver_one()

    def deliver_one(self) -> bool:
        queues = [("s", c) for c, q in self.to_server.items() if q]
        queues += [("c", c) for c, q in self.to_client.items() if q]
        if not queues:
            return False
        way, cid = self.rng.choice(queues)
        if way == "s":
            self.deliver_to_server(cid)
        else:
            self.deliver_to_client(cid)
        return True

    def settle(self) -> None:
        for cid, client in self.clients.items():
            if client.engine.state is ConnState.OFFLINE:
                self.connect(cid)
        while self.deliver_one():
            self.now += 0.01
        for client in self.clients.values():
            assert client.engine.synced, client.engine.debug_state()
            assert client.engine.scene == self.seq.scene
            client.recorder.close()


def simulate(
    seed: int, tmp: Path, *, clients: int = 3, steps: int = 300, snapshot_every: int = 10
) -> SimResult:
    """Run one session; every engine ends synced with the server (asserted)."""
    sim = _Sim(random.Random(seed), tmp, clients, snapshot_every)
    for cid in sim.clients:
        sim.connect(cid)
    for _ in range(steps):
        sim.step()
    sim.settle()
    log = Log(sim.session, tuple(sim.seq.tail), tuple(sim.snapshots), T0)
    assert log.head == sim.seq.version == len(sim.scenes) - 1
    return SimResult(log, sim.scenes, sim.paths, sim.users)
