"""Small pure pieces: metrics exposition, password hashes, token bucket, config."""

from __future__ import annotations

import re

import pytest

from server.config import Limits, ServerConfig
from server.metrics import Registry
from server.passwords import hash_password, verify_password
from server.session import TokenBucket


def test_metrics_render_prometheus_text() -> None:
    reg = Registry()
    c = reg.counter("x_total", "Things.")
    c.inc()
    c.inc(2, code="a")
    reg.gauge("y", "Now.", lambda: 3)
    h = reg.histogram("z_seconds", "Time.", [0.1, 1])
    for v in (0.05, 0.5, 5):
        h.observe(v)
    text = reg.render()
    assert "# TYPE x_total counter\nx_total 1\n" in text
    assert 'x_total{code="a"} 2' in text
    assert "# TYPE y gauge\ny 3\n" in text
    assert 'z_seconds_bucket{le="0.1"} 1\n' in text
    assert 'z_seconds_bucket{le="1"} 2\n' in text
    assert 'z_seconds_bucket{le="+Inf"} 3\n' in text
    assert "z_seconds_sum 5.55\nz_seconds_count 3\n" in text
    with pytest.raises(ValueError):
        reg.counter("x_total", "again")


def test_passwords_are_salted_hashes() -> None:
    a, b = hash_password("hunter2"), hash_password("hunter2")
    assert a != b and "hunter2" not in a
    assert verify_password("hunter2", a) and verify_password("hunter2", b)
    assert not verify_password("hunter3", a)
    assert not verify_password("hunter2", "garbage")
    assert not verify_password("hunter2", "md5$1$2$3$x$y")


def test_token_bucket() -> None:
    bucket = TokenBucket(rate=10, burst=3)
    bucket.stamp = 0.0
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.1) and not bucket.take(0.1)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]


def test_config_validates_and_tells_clients_its_limits() -> None:
    assert ServerConfig().limits.for_client()["max_message_bytes"] == 1 << 20
    with pytest.raises(ValueError):
        Limits(ops_per_second=0)
    with pytest.raises(ValueError):
        ServerConfig(snapshot_every=0)


def test_session_ids_are_url_safe_unique_and_never_look_like_an_option() -> None:
    # token_urlsafe ids start with '-' one time in 64; a CLI would take
    # `--session -abc` for an unknown option (a CI run met one).
    from server.app import new_session_id

    ids = [new_session_id() for _ in range(3000)]
    assert len(set(ids)) == len(ids)
    assert all(len(sid) == 16 and re.fullmatch(r"[A-Za-z0-9_-]+", sid) for sid in ids)
    assert not any(sid.startswith("-") for sid in ids)
