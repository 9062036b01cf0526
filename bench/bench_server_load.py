"""Load generator for bench_server.py; runs in its own process, prints one JSON object.

    python bench/bench_server_load.py throughput URL --clients 10 --seconds 10 --window 8
    python bench/bench_server_load.py latency URL --clients 10 --rate 30 --seconds 10
    python bench/bench_server_load.py populate URL --sessions 1000 --components 50
    python bench/bench_server_load.py idle URL --sessions-file F   (connect one idle client each)
    python bench/bench_server_load.py drag URL --rate 30 --seconds 10 [--presence]

URL may be several comma-separated URLs (server processes sharing a store):
a session is created on the first, and clients are spread over them round-robin
(client ``i`` on URL ``i % n``).

It speaks the wire protocol with bare websockets clients (default
compression, as the app would) and parses only what it must, so that the
generator is not the bottleneck of the measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import PerMessageDeflate


def _hello(client: str, session: str | None) -> str:
    msg: dict[str, Any] = {
        "type": "hello",
        "protocol": 1,
        "client": client,
        "user": {"id": f"u-{client}", "name": f"Bench {client}", "color": "#3366CC"},
    }
    if session is None:
        msg["create"] = True
    else:
        msg["session"] = session
    return json.dumps(msg)


def _create(cid: str, x: float = 0.0) -> dict[str, Any]:
    return {"type": "create", "id": cid, "kind": "lens", "props": {"x_mm": x}}


def _set(cid: str, x: float, y: float) -> dict[str, Any]:
    return {"type": "set", "id": cid, "props": {"x_mm": x, "y_mm": y}}


class Peer:
    """One joined connection with a version it keeps up to date."""

    def __init__(self, ws: ClientConnection, name: str, session: str, version: int) -> None:
        self.ws = ws
        self.name = name
        self.session = session
        self.version = version
        self.seq = 0

    @classmethod
    async def join(cls, url: str, name: str, session: str | None = None) -> Peer:
        # No client keepalive: the fast readers of the throughput run do not
        # hand pongs back to websockets (they answer the server's pings).
        ws = await connect(url, max_size=None, open_timeout=30, ping_interval=None)
        await ws.send(_hello(name, session))
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome", welcome
        return cls(ws, name, welcome["session"], welcome["version"])

    async def submit(self, op: dict[str, Any]) -> int:
        self.seq += 1
        await self.ws.send(
            json.dumps({"type": "submit", "seq": self.seq, "base": self.version, "op": op})
        )
        return self.seq

    async def commit(self, op: dict[str, Any]) -> int:
        seq = await self.submit(op)
        while True:
            msg = json.loads(await self.ws.recv())
            if msg["type"] == "ack" and msg["seq"] == seq:
                self.version = max(self.version, msg["version"])
                return int(msg["version"])
            if msg["type"] == "op":
                self.version = max(self.version, msg["version"])
            if msg["type"] == "error":
                raise RuntimeError(msg)


async def _close_all(peers: list[Peer]) -> None:
    async def close(p: Peer) -> None:
        reader = asyncio.create_task(_discard(p.ws))
        await p.ws.close()
        await reader

    await asyncio.gather(*(close(p) for p in peers))


async def _discard(ws: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            pass


def _url(urls: list[str], i: int) -> str:
    """Client ``i``'s server: round-robin, client 0 (who creates the session) on the first."""
    return urls[i % len(urls)]


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- sustained throughput -----------------------------------------------------


class _FastReader(asyncio.Protocol):
    """Reads a joined connection's frames directly, after the handshake.

    websockets' asyncio connection costs a future, a queue and a task wake-up
    per message; at tens of thousands of deliveries a second that, not the
    server, would bound the measurement on a 2-core machine.  This parses the
    server's frames (never masked or fragmented), inflates permessage-deflate
    payloads with the connection's own decompressor, answers pings, and hands
    each message's bytes to ``on_message``.  Sending stays websockets' (its
    compressor, its masking).
    """

    def __init__(self, ws: ClientConnection, on_message: Any) -> None:
        self.ws = ws
        self.on_message = on_message
        self.buffer = bytearray()
        self.decoder = None
        for ext in ws.protocol.extensions:
            if isinstance(ext, PerMessageDeflate):
                assert not ext.remote_no_context_takeover
                self.decoder = ext.decoder
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        pos, end = 0, len(buf)
        while end - pos >= 2:
            head, size = buf[pos], buf[pos + 1] & 0x7F
            start = pos + 2
            if size == 126:
                size, start = int.from_bytes(buf[pos + 2 : pos + 4]), pos + 4
            elif size == 127:
                size, start = int.from_bytes(buf[pos + 2 : pos + 10]), pos + 10
            if end < start + size:
                break
            payload = bytes(buf[start : start + size])
            pos = start + size
            opcode = head & 0x0F
            if opcode == 1:
                assert head & 0x80, "the server does not fragment"
                if head & 0x40:
                    assert self.decoder is not None
                    payload = self.decoder.decompress(payload + b"\x00\x00\xff\xff")
                self.on_message(payload)
            elif opcode == 9:
                self.ws.protocol.send_pong(payload)
                self.ws.transport.write(b"".join(self.ws.protocol.data_to_send()))
            elif opcode == 8:
                break
        del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, text: str) -> None:
        self.ws.protocol.send_text(text.encode())
        self.ws.transport.write(b"".join(self.ws.protocol.data_to_send()))


async def throughput(urls: list[str], clients: int, seconds: float, window: int) -> dict[str, Any]:
    first = await Peer.join(urls[0], "t0")
    peers = [first] + [
        await Peer.join(_url(urls, i), f"t{i}", first.session) for i in range(1, clients)
    ]
    # Op k of a client moves its component k % window: pipelined ops of one
    # client touch different components, as a multi-selection drag would, so
    # the server's transforms are the cheap different-id kind.
    for p in peers:
        for k in range(window):
            await p.commit(_create(f"{p.name}-{k}"))
    # Every peer reads up to the head, so no message is left half-read in
    # websockets' buffers when the fast readers take over.
    head = clients * window
    for p in peers:
        while p.version < head:
            text = await p.ws.recv()
            if isinstance(text, str) and text.startswith('{"version":'):
                p.version = max(p.version, int(text[11 : text.index(",", 11)]))
    acked = 0
    delivered = 0
    errors = 0
    counting = False
    stop_at = 0.0
    ack_ms: list[float] = []

    def start(p: Peer) -> tuple[_FastReader, asyncio.Event, list[int]]:
        room = asyncio.Event()
        room.set()
        state = [0, 0]  # in flight, x
        sent: dict[int, float] = {}
        p.sent = sent  # type: ignore[attr-defined]

        def on_message(data: bytes) -> None:
            nonlocal acked, delivered, errors
            # Only the version is needed; it is the first field of op and the last of ack.
            if data.startswith(b'{"version":'):
                delivered += counting
                p.version = max(p.version, int(data[11 : data.index(b",", 11)]))
                return
            if b'"type":"ack"' in data:
                acked += counting
                sent_at = sent.pop(int(data[7 : data.index(b",", 7)]), None)
                if sent_at is not None and counting:
                    ack_ms.append((time.perf_counter() - sent_at) * 1000)
                at = data.index(b'"version":') + 10
                p.version = max(p.version, int(data[at : data.index(b",", at)]))
            elif b'"type":"error"' in data:
                errors += 1
            else:
                return
            state[0] -= 1
            room.set()

        reader = _FastReader(p.ws, on_message)
        p.ws.transport.set_protocol(reader)
        return reader, room, state

    async def run(p: Peer, reader: _FastReader, room: asyncio.Event, state: list[int]) -> None:
        x = 0
        while time.monotonic() < stop_at:
            while state[0] >= window:
                room.clear()
                await room.wait()
            x += 1
            state[0] += 1
            p.seq += 1
            p.sent[p.seq] = time.perf_counter()  # type: ignore[attr-defined]
            op = _set(f"{p.name}-{x % window}", float(x % 1000), float(x % 7))
            reader.send(json.dumps({"type": "submit", "seq": p.seq, "base": p.version, "op": op}))
            if x % 64 == 0:
                await asyncio.sleep(0)  # let the readers run between bursts
        deadline = time.monotonic() + 10
        while state[0] > 0 and time.monotonic() < deadline:
            room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(room.wait(), 1)

    started_readers = [start(p) for p in peers]
    await asyncio.sleep(0.2)
    counting = True
    started = time.monotonic()
    stop_at = started + seconds
    await asyncio.gather(*(run(p, *r) for p, r in zip(peers, started_readers, strict=True)))
    elapsed = time.monotonic() - started
    for p in peers:
        p.ws.transport.abort()
    return {
        "clients": clients,
        "window": window,
        # Little's law: submits in flight per client, averaged over the run.
        "mean_in_flight_per_client": round(
            acked / elapsed * statistics.fmean(ack_ms or [0.0]) / 1000 / clients, 2
        ),
        "ack_p50_ms": round(_percentile(ack_ms, 0.50), 2),
        "ack_p99_ms": round(_percentile(ack_ms, 0.99), 2),
        "seconds": round(elapsed, 2),
        "acked": acked,
        "ops_per_second": round(acked / elapsed),
        "deliveries_per_second": round(delivered / elapsed),
        "errors": errors,
    }


# --- fan-out latency ----------------------------------------------------------


async def latency(urls: list[str], clients: int, rate: float, seconds: float) -> dict[str, Any]:
    first = await Peer.join(urls[0], "l0")
    peers = [first] + [
        await Peer.join(_url(urls, i), f"l{i}", first.session) for i in range(1, clients)
    ]
    for p in peers:
        await p.commit(_create(p.name))
    sent: dict[tuple[str, int], float] = {}
    fanout: list[float] = []
    acks: list[float] = []
    measuring = False

    async def reader(p: Peer) -> None:
        async for text in p.ws:
            now = time.perf_counter()
            msg = json.loads(text)
            kind = msg["type"]
            if kind == "op":
                p.version = max(p.version, msg["version"])
                t = sent.get((msg["client"], msg["seq"]))
                if t is not None and measuring:
                    fanout.append(now - t)
            elif kind == "ack":
                p.version = max(p.version, msg["version"])
                t = sent.get((p.name, msg["seq"]))
                if t is not None and measuring:
                    acks.append(now - t)

    readers = [asyncio.create_task(reader(p)) for p in peers]

    async def writer(p: Peer, offset: float) -> None:
        interval = 1.0 / rate
        next_at = time.perf_counter() + offset
        x = 0.0
        while time.perf_counter() < stop_at:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            x += 1.0
            sent[(p.name, p.seq + 1)] = time.perf_counter()
            await p.submit(_set(p.name, x, 0.0))
            next_at += interval

    await asyncio.sleep(1.0)  # warm-up of the connections, unmeasured
    measuring = True
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(*(writer(p, i / (rate * clients)) for i, p in enumerate(peers)))
    await asyncio.sleep(0.5)
    for r in readers:
        r.cancel()
    await _close_all(peers)
    ms = [v * 1000 for v in fanout]
    ack_ms = [v * 1000 for v in acks]
    return {
        "clients": clients,
        "rate_per_client": rate,
        "submits": len(acks),
        "deliveries": len(ms),
        "expected_deliveries": len(acks) * (clients - 1),
        "fanout_p50_ms": round(_percentile(ms, 0.50), 2),
        "fanout_p99_ms": round(_percentile(ms, 0.99), 2),
        "fanout_max_ms": round(max(ms), 2) if ms else None,
        "ack_p50_ms": round(_percentile(ack_ms, 0.50), 2),
        "ack_p99_ms": round(_percentile(ack_ms, 0.99), 2),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else None,
    }


# --- idle sessions ------------------------------------------------------------


async def populate(urls: list[str], sessions: int, components: int, out: str) -> dict[str, Any]:
    ids: list[str] = []
    sem = asyncio.Semaphore(20)
    started = time.monotonic()

    async def one(i: int) -> None:
        async with sem:
            p = await Peer.join(urls[0], f"p{i}")
            ops = [_create(f"c{k}", float(k)) for k in range(components)]
            for op in ops:
                await p.submit(op)
            got = 0
            while got < components:
                msg = json.loads(await p.ws.recv())
                if msg["type"] == "ack":
                    got += 1
                elif msg["type"] == "error":
                    raise RuntimeError(msg)
            ids.append(p.session)
            await _close_all([p])

    await asyncio.gather(*(one(i) for i in range(sessions)))
    with open(out, "w") as f:
        json.dump(ids, f)
    return {
        "sessions": len(ids),
        "components": components,
        "seconds": round(time.monotonic() - started, 1),
    }


async def idle(urls: list[str], sessions_file: str, hold: float, ready_file: str) -> dict[str, Any]:
    with open(sessions_file) as f:
        ids: list[str] = json.load(f)
    sem = asyncio.Semaphore(50)
    peers: list[Peer] = []

    async def one(i: int, sid: str) -> None:
        async with sem:
            peers.append(await Peer.join(_url(urls, i), f"i{i}", sid))

    await asyncio.gather(*(one(i, s) for i, s in enumerate(ids)))
    readers = [asyncio.create_task(_discard(p.ws)) for p in peers]
    with open(ready_file, "w") as f:
        f.write("ready\n")
    await asyncio.sleep(hold)
    for r in readers:
        r.cancel()
    for p in peers:
        p.ws.transport.abort()
    return {"connected": len(peers)}


# --- bytes on the wire while dragging -------------------------------------------


class _Wire:
    """Counts the bytes of a connection's transport, both ways (WebSocket frames, not TCP/IP)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.sent = 0
        self.received = 0
        transport: Any = ws.transport
        write = transport.write
        receive = ws.data_received

        def counting_write(data: bytes) -> None:
            self.sent += len(data)
            write(data)

        def counting_receive(data: bytes) -> None:
            self.received += len(data)
            receive(data)

        transport.write = counting_write
        ws.data_received = counting_receive  # type: ignore[method-assign]

    def snapshot(self) -> tuple[int, int]:
        return self.sent, self.received


async def drag(urls: list[str], rate: float, seconds: float, presence: bool) -> dict[str, Any]:
    dragger = await Peer.join(urls[0], "dragger")
    watcher = await Peer.join(_url(urls, 1), "watcher", dragger.session)
    await dragger.commit(_create("M1"))
    wires = {"dragger": _Wire(dragger.ws), "watcher": _Wire(watcher.ws)}
    readers = [asyncio.create_task(_discard(p.ws)) for p in (watcher,)]

    async def dragger_reader() -> None:
        async for text in dragger.ws:
            if '"type":"ack"' in text:
                v = json.loads(text)["version"]
                dragger.version = max(dragger.version, v)

    readers.append(asyncio.create_task(dragger_reader()))
    await asyncio.sleep(0.3)
    before = {k: w.snapshot() for k, w in wires.items()}
    started = time.perf_counter()
    interval = 1.0 / rate
    n = 0
    while time.perf_counter() - started < seconds:
        n += 1
        # A smooth drag: small steps along a curve, as a mouse produces.
        x, y = round(10 + n * 0.37, 2), round(20 + 5 * (n % 40) * 0.11, 2)
        await dragger.submit(_set("M1", x, y))
        if presence:
            await dragger.ws.send(json.dumps({"type": "presence", "cursor": [x + 3.1, y - 1.7]}))
        await asyncio.sleep(max(0.0, started + n * interval - time.perf_counter()))
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.3)
    after = {k: w.snapshot() for k, w in wires.items()}
    for r in readers:
        r.cancel()
    await _close_all([dragger, watcher])
    out: dict[str, Any] = {"rate": rate, "seconds": round(elapsed, 2), "updates": n}
    for k in wires:
        sent = after[k][0] - before[k][0]
        received = after[k][1] - before[k][1]
        out[k] = {
            "sent_bytes_per_second": round(sent / elapsed),
            "received_bytes_per_second": round(received / elapsed),
            "total_bytes_per_second": round((sent + received) / elapsed),
        }
    out["compression"] = dragger.ws.response.headers.get("Sec-WebSocket-Extensions")  # type: ignore[union-attr]
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=["throughput", "latency", "populate", "idle", "drag"])
    p.add_argument("url", help="a server's ws:// URL, or several, comma-separated")
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--window", type=int, default=8)
    p.add_argument("--rate", type=float, default=30.0)
    p.add_argument("--sessions", type=int, default=1000)
    p.add_argument("--components", type=int, default=50)
    p.add_argument("--sessions-file", default="sessions.json")
    p.add_argument("--ready-file", default="idle.ready")
    p.add_argument("--hold", type=float, default=5.0)
    p.add_argument("--presence", action="store_true")
    a = p.parse_args()
    urls: list[str] = a.url.split(",")
    if a.scenario == "throughput":
        coro: Any = throughput(urls, a.clients, a.seconds, a.window)
    elif a.scenario == "latency":
        coro = latency(urls, a.clients, a.rate, a.seconds)
    elif a.scenario == "populate":
        coro = populate(urls, a.sessions, a.components, a.sessions_file)
    elif a.scenario == "idle":
        coro = idle(urls, a.sessions_file, a.hold, a.ready_file)
    else:
        coro = drag(urls, a.rate, a.seconds, a.presence)
    result = asyncio.run(coro)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
