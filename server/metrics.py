"""A tiny Prometheus text exposition (format 0.0.4), with no dependency.

Counters, gauges and histograms register on a :class:`Registry`;
:meth:`Registry.render` gives the text ``GET /metrics`` answers with.
Everything runs on the event loop thread, so there is no locking.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable
from typing import TypeVar

__all__ = ["CONTENT_TYPE", "Counter", "Gauge", "Histogram", "Registry"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LabelKey = tuple[tuple[str, str], ...]
_M = TypeVar("_M", bound="_Metric")


def _labels(key: LabelKey, extra: tuple[str, str] | None = None) -> str:
    items = [*key, extra] if extra is not None else list(key)
    if not items:
        return ""
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in items)
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str) -> None:
        self.name = name
        self.help = help_text

    def samples(self) -> Iterable[str]:
        raise NotImplementedError

    def render(self) -> str:
        head = f"# HELP {self.name} {self.help}\n# TYPE {self.name} {self.kind}\n"
        return head + "".join(line + "\n" for line in self.samples())


class Counter(_Metric):
    """A value that only goes up, optionally split by labels."""

    kind = "counter"

    def __init__(self, name: str, help_text: str) -> None:
        super().__init__(name, help_text)
        self.values: dict[LabelKey, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self.values[key] = self.values.get(key, 0.0) + amount

    def get(self, **labels: str) -> float:
        return self.values.get(tuple(sorted(labels.items())), 0.0)

    def samples(self) -> Iterable[str]:
        if not self.values:
            yield f"{self.name} 0"
        for key, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(key)} {_number(value)}"


class Gauge(_Metric):
    """A value read when rendered (a callback), so it is never stale."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        super().__init__(name, help_text)
        self.read = read

    def samples(self) -> Iterable[str]:
        yield f"{self.name} {_number(self.read())}"


class Histogram(_Metric):
    """Cumulative buckets, sum and count of observed values."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: Iterable[float]) -> None:
        super().__init__(name, help_text)
        self.bounds = sorted(buckets)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def samples(self) -> Iterable[str]:
        running = 0
        for bound, count in zip([*self.bounds, math.inf], self.counts, strict=True):
            running += count
            yield f"{self.name}_bucket{_labels((), ('le', _number(bound)))} {running}"
        yield f"{self.name}_sum {_number(self.sum)}"
        yield f"{self.name}_count {self.count}"


class Registry:
    """The metrics of one server, rendered in registration order."""

    def __init__(self) -> None:
        self.metrics: list[_Metric] = []

    def counter(self, name: str, help_text: str) -> Counter:
        return self._add(Counter(name, help_text))

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> Gauge:
        return self._add(Gauge(name, help_text, read))

    def histogram(self, name: str, help_text: str, buckets: Iterable[float]) -> Histogram:
        return self._add(Histogram(name, help_text, buckets))

    def _add(self, metric: _M) -> _M:
        if any(m.name == metric.name for m in self.metrics):
            raise ValueError(f"metric {metric.name!r} is already registered")
        self.metrics.append(metric)
        return metric

    def render(self) -> str:
        return "".join(m.render() for m in self.metrics)


# Seconds; sequencing latency is dominated by the group commit's fsync.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServerMetrics:
    """The server's metrics, on one registry; gauges read the live server state."""

    def __init__(self, clients: Callable[[], float], sessions: Callable[[], float]) -> None:
        self.registry = Registry()
        self.ops_sequenced = self.registry.counter(
            "optiverse_ops_sequenced_total", "Operations sequenced, persisted and broadcast."
        )
        self.ops_rejected = self.registry.counter(
            "optiverse_ops_rejected_total", "Submits refused by the sequencer, by error code."
        )
        self.errors = self.registry.counter(
            "optiverse_errors_sent_total", "error messages sent to clients, by error code."
        )
        self.duplicates = self.registry.counter(
            "optiverse_ops_duplicate_total", "Resubmitted (client, seq) acknowledged again."
        )
        self.lost_appends = self.registry.counter(
            "optiverse_appends_lost_total",
            "Group commits another server appended before (then caught up and retried).",
        )
        self.ops_adopted = self.registry.counter(
            "optiverse_ops_adopted_total",
            "Operations other servers sequenced, taken in by this one.",
        )
        self.registry.gauge("optiverse_connected_clients", "Joined WebSocket connections.", clients)
        self.registry.gauge("optiverse_sessions", "Sessions loaded in memory.", sessions)
        self.latency = self.registry.histogram(
            "optiverse_sequencing_latency_seconds",
            "From receiving a submit to sending its ack (sequence, commit, broadcast).",
            LATENCY_BUCKETS,
        )
        self.commit_seconds = self.registry.histogram(
            "optiverse_commit_seconds",
            "Duration of one group commit of a session.",
            LATENCY_BUCKETS,
        )
        self.commit_batch = self.registry.histogram(
            "optiverse_commit_batch_ops",
            "Operations per group commit.",
            (1, 2, 5, 10, 20, 50, 100, 200, 500),
        )
        self.connections = self.registry.counter(
            "optiverse_connections_total", "WebSocket connections opened."
        )
