"""Logs of the collab fuzz network (tests/collab/sim.py) replay to every durable scene.

The fuzz network's server commits in random groups, loses its uncommitted
tail on restarts and rebuilds from its durable log; clients drop, resend,
get rate-limited, undo and redo.  At every commit its durable scene (built
incrementally by the simulated server) is stored as a snapshot, as the real
server does, and ``check`` must find the log equal to all of them.
"""

from __future__ import annotations

import pytest

from optiverse.replay.log import Log, StoredSnapshot
from optiverse.replay.replay import check, scene_at
from optiverse.scene.fileformat import scene_to_data
from tests.collab.sim import SESSION, Network
from tests.collab.test_sim_fuzz import start


def _run(seed: int, steps: int = 150) -> tuple[Network, Log]:
    net = start(seed)
    server = net.server
    snapshots: dict[int, StoredSnapshot] = {}
    commit = server.commit

    def commit_and_snapshot() -> None:
        commit()
        snapshots[server.durable] = StoredSnapshot(
            server.durable, scene_to_data(server.durable_scene), float(server.durable)
        )

    server.commit = commit_and_snapshot  # type: ignore[method-assign]
    for _ in range(steps):
        net.step()
    net.drain()
    net.check_converged()
    log = Log(SESSION, tuple(server.log), tuple(snapshots[v] for v in sorted(snapshots)))
    return net, log


@pytest.mark.parametrize("first", range(0, 40, 10), ids=lambda s: f"seeds{s}-{s + 9}")
def test_fuzzed_logs_reproduce_every_durable_scene(first: int) -> None:
    restarts = 0
    for seed in range(first, first + 10):
        net, log = _run(seed)
        restarts += net.server.restarts
        report = check(log)
        assert report.ok, f"seed {seed}: {report.problem}"
        assert report.snapshots == len(log.snapshots) > 0
        final = scene_at(log, log.head)
        assert all(c.engine.confirmed == final for c in net.clients), seed
    assert restarts > 0, "no server restart in these seeds: the test lost its point"
