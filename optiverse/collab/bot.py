"""``optiverse-bot``: a headless client that makes random edits, for demos and load.

    optiverse-bot --url ws://127.0.0.1:8765 --create --rate 20 --duration 10
    optiverse-bot --session S --name Bob --seed 7 --record bob.jsonl

The bot joins a session (or creates one and prints its id), makes random
valid edits at ``--rate`` per second for ``--duration`` seconds, waits until
the server has acknowledged everything, prints a summary and exits 0.  A
failure (cannot connect, refused hello, not synced at the end) is one line
on stderr and exit status 1.

:class:`EditGenerator` and :func:`random_edit` make the edits; tests and
the server benchmark import them.  Edits look like a user's: mostly drags
(runs of small moves of one component), sometimes a rotation, a property
edit, a create, a delete or a multi-component batch.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import sys
import time
from collections.abc import Callable, Sequence

import attrs

from optiverse.collab.aio import AsyncClient, ClientFailed, new_client_id
from optiverse.collab.messages import MAX_NAME, User
from optiverse.collab.recording import Recorder
from optiverse.commands import Batch, Create, Delete, Op, Set
from optiverse.commands.ops import LeafOp
from optiverse.scene import KINDS, PropSpec, PropValue, Scene, prop_specs
from optiverse.scene.zorder import DIGITS

__all__ = ["BotResult", "EditGenerator", "main", "random_edit", "random_value", "run_bot"]

# Values stay in a bench-sized box, well inside every property's range.
_SPAN = 500.0
_KIND_NAMES = sorted(KINDS)
_POSITION = ("x_mm", "y_mm", "angle_deg")


def random_value(spec: PropSpec, rng: random.Random) -> PropValue:
    """A valid value for a property of ``spec``."""
    if spec.type in ("float", "int"):
        lo = max(spec.lo if spec.lo is not None else -_SPAN, -_SPAN)
        hi = min(spec.hi if spec.hi is not None else _SPAN, _SPAN)
        if spec.type == "int":
            return rng.randint(int(lo), int(hi))
        value = round(rng.uniform(lo, hi), 3)
        if (spec.lo_open and value <= lo) or (spec.nonzero and value == 0):
            value = hi
        return value
    if spec.type == "bool":
        return rng.random() < 0.5
    if spec.type == "color":
        return f"#{rng.randrange(1 << 24):06X}"
    if spec.type == "zkey":
        # An integer part "a?" and a short fraction that does not end in "0".
        fraction = "".join(rng.choice(DIGITS) for _ in range(rng.randint(0, 2)))
        return "a" + rng.choice(DIGITS) + fraction.rstrip(DIGITS[0])
    return f"part {rng.randrange(1000)}"


def _create(scene: Scene, rng: random.Random, new_id: Callable[[], str]) -> Create:
    kind = rng.choice(_KIND_NAMES)
    props: dict[str, PropValue] = {
        "x_mm": round(rng.uniform(-_SPAN, _SPAN), 3),
        "y_mm": round(rng.uniform(-_SPAN, _SPAN), 3),
        "angle_deg": round(rng.uniform(-180, 180), 3),
        "z": random_value(prop_specs(kind)["z"], rng),
    }
    return Create(new_id(), kind, props)


def _move(scene: Scene, cid: str, rng: random.Random, step: float) -> Set:
    comp = scene.components[cid]
    x = min(_SPAN, max(-_SPAN, comp.x_mm + rng.uniform(-step, step)))
    y = min(_SPAN, max(-_SPAN, comp.y_mm + rng.uniform(-step, step)))
    return Set(cid, {"x_mm": round(x, 3), "y_mm": round(y, 3)})


def _rotate(scene: Scene, cid: str, rng: random.Random) -> Set:
    angle = scene.components[cid].angle_deg + rng.uniform(-30, 30)
    return Set(cid, {"angle_deg": round(max(-360.0, min(360.0, angle)), 3)})


def _set_props(scene: Scene, cid: str, rng: random.Random) -> Set:
    specs = prop_specs(scene.components[cid].kind)
    names = rng.sample([n for n in specs if n not in _POSITION], rng.randint(1, 2))
    return Set(cid, {n: random_value(specs[n], rng) for n in names})


def random_edit(scene: Scene, rng: random.Random, new_id: Callable[[], str]) -> Op:
    """One random edit valid on ``scene`` (no drag state); ``new_id`` names new components."""
    ids = sorted(scene.components)
    if not ids:
        return _create(scene, rng, new_id)
    cid = rng.choice(ids)
    roll = rng.random()
    if roll < 0.45:
        return _move(scene, cid, rng, 20.0)
    if roll < 0.55:
        return _rotate(scene, cid, rng)
    if roll < 0.67:
        return _set_props(scene, cid, rng)
    if roll < 0.80:
        return _create(scene, rng, new_id)
    if roll < 0.88:
        return Delete(cid)
    return _batch(scene, rng, new_id)


def _batch(scene: Scene, rng: random.Random, new_id: Callable[[], str]) -> Batch:
    ids = sorted(scene.components)
    ops: list[LeafOp] = []
    if rng.random() < 0.5 and len(ids) >= 2:
        # A multi-select drag: several components moved by one delta.
        dx, dy = rng.uniform(-10, 10), rng.uniform(-10, 10)
        for cid in rng.sample(ids, min(len(ids), rng.randint(2, 4))):
            comp = scene.components[cid]
            x = min(_SPAN, max(-_SPAN, comp.x_mm + dx))
            y = min(_SPAN, max(-_SPAN, comp.y_mm + dy))
            ops.append(Set(cid, {"x_mm": round(x, 3), "y_mm": round(y, 3)}))
    else:
        # A paste, sometimes replacing what was selected.
        if ids and rng.random() < 0.3:
            ops.append(Delete(rng.choice(ids)))
        for _ in range(rng.randint(2, 3)):
            ops.append(_create(scene, rng, new_id))
    return Batch(tuple(ops))


@attrs.define
class EditGenerator:
    """Random edits as a user makes them; call it with the client's current scene.

    Keeps the scene near ``target_size`` components.  About three quarters
    of the edits are drag moves: runs of 3-15 small moves of one component,
    as a mouse drag sends them.
    """

    rng: random.Random
    id_prefix: str
    target_size: int = 20
    _counter: int = 0
    _drag: str | None = None
    _drag_left: int = 0

    def new_id(self) -> str:
        self._counter += 1
        return f"{self.id_prefix}-{self._counter}"

    def __call__(self, scene: Scene) -> Op:
        rng = self.rng
        size = len(scene)
        if self._drag is not None and self._drag_left > 0 and self._drag in scene:
            self._drag_left -= 1
            return _move(scene, self._drag, rng, 3.0)
        self._drag = None
        if size == 0 or (size < self.target_size // 2 and rng.random() < 0.5):
            return _create(scene, rng, self.new_id)
        if size > self.target_size and rng.random() < 0.25:
            return Delete(rng.choice(sorted(scene.components)))
        if rng.random() < 0.15:
            # With runs of 3-15 moves this makes about 3/4 of all edits drag moves.
            self._drag = rng.choice(sorted(scene.components))
            self._drag_left = rng.randint(2, 14)
            return _move(scene, self._drag, rng, 3.0)
        return random_edit(scene, rng, self.new_id)


# --- the CLI ------------------------------------------------------------------


@attrs.frozen
class BotResult:
    session: str
    client: str
    edits: int
    edits_acked: int
    submits: int
    refused: int
    remote_ops: int
    reconnects: int
    version: int
    synced: bool


async def run_bot(
    url: str,
    *,
    session: str | None = None,
    create: bool = False,
    password: str | None = None,
    name: str = "bot",
    rate: float = 10.0,
    duration: float = 10.0,
    seed: int | None = None,
    recorder: Recorder | None = None,
    on_session: Callable[[str], None] | None = None,
    sync_timeout: float = 30.0,
) -> BotResult:
    """Join, edit at ``rate`` per second for ``duration`` seconds, wait for acks; see the CLI."""
    rng = random.Random(seed)
    client_id = new_client_id() if seed is None else f"b{seed:x}{rng.randrange(1 << 24):06x}"
    user = User(client_id, name[:MAX_NAME] or "bot")
    client = AsyncClient(user, client_id=client_id, recorder=recorder)
    await client.start(url, session=session, create=create, password=password)
    assert client.session is not None
    if on_session is not None:
        on_session(client.session)
    generate = EditGenerator(rng, client_id)
    try:
        start = time.monotonic()
        next_at = start
        interval = 1.0 / rate if rate > 0 else None
        while interval is not None and time.monotonic() - start < duration:
            client.edit(generate(client.scene))
            if client.failure is not None:
                raise client.failure
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if interval is None:
            await asyncio.sleep(duration)
        with contextlib.suppress(TimeoutError):  # reported as synced=False
            await client.wait_synced(sync_timeout)
        stats = client.stats
        return BotResult(
            session=client.session,
            client=client_id,
            edits=stats.edits,
            edits_acked=stats.edits_acked,
            submits=stats.submits,
            refused=stats.refused,
            remote_ops=stats.remote_ops,
            reconnects=max(0, stats.connections - 1),
            version=client.version,
            synced=client.synced,
        )
    finally:
        await client.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="optiverse-bot",
        description="Join an Optiverse session and make random edits (demos and load tests).",
    )
    parser.add_argument("--url", default="ws://127.0.0.1:8765", help="server URL (%(default)s)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--session", help="id of the session to join")
    which.add_argument("--create", action="store_true", help="create a session and print its id")
    parser.add_argument("--password", help="the session's password")
    parser.add_argument("--name", default="bot", help="display name (%(default)s)")
    parser.add_argument(
        "--rate", type=float, default=10.0, help="edits per second (%(default)s; 0: none)"
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of editing (%(default)s)"
    )
    parser.add_argument("--seed", type=int, help="random seed, for reproducible edits")
    parser.add_argument("--record", metavar="FILE", help="write a JSON-lines recording")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="optiverse-bot: %(message)s")
    if args.rate < 0 or args.duration < 0:
        print("optiverse-bot: --rate and --duration must be >= 0", file=sys.stderr)
        return 2
    recorder = Recorder(args.record) if args.record else None

    def announce(session: str) -> None:
        if args.create:
            print(f"session {session}", flush=True)

    try:
        result = asyncio.run(
            run_bot(
                args.url,
                session=args.session,
                create=args.create,
                password=args.password,
                name=args.name,
                rate=args.rate,
                duration=args.duration,
                seed=args.seed,
                recorder=recorder,
                on_session=announce,
            )
        )
    except ClientFailed as exc:
        print(f"optiverse-bot: {args.url}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if recorder is not None:
            recorder.close()
    print(
        f"client {result.client} session {result.session}: {result.edits} edits sent, "
        f"{result.edits_acked} acked, {result.refused} refused, "
        f"{result.remote_ops} remote ops applied, {result.reconnects} reconnects, "
        f"final version {result.version}"
    )
    if not result.synced:
        print("optiverse-bot: not synced with the server at the end", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
