"""Smoke test of a real Redis server (from the ``redis_url`` fixture) with redis-py.

Keys are namespaced per run and removed afterwards, so a shared server is fine.
"""

from __future__ import annotations

import time
import uuid

import pytest
import redis


@pytest.fixture
def client(redis_url: str):
    r = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=10)
    prefix = f"streamfeat-smoke:{uuid.uuid4().hex[:12]}:"
    yield r, prefix
    keys = list(r.scan_iter(match=prefix + "*", count=1000))
    if keys:
        r.delete(*keys)
    r.close()


def test_ping_set_get(client) -> None:
    r, p = client
    assert r.ping() is True
    assert r.set(p + "a", "1") is True
    assert r.get(p + "a") == "1"
    assert r.incrby(p + "a", 41) == 42
    assert r.get(p + "missing") is None
    assert r.set(p + "a", "x", nx=True) is None  # NX on an existing key does nothing
    assert r.get(p + "a") == "42"


def test_pipeline(client) -> None:
    r, p = client
    with r.pipeline(transaction=True) as pipe:
        for i in range(100):
            pipe.hset(p + "h", f"f{i}", i)
        pipe.hlen(p + "h")
        pipe.hget(p + "h", "f99")
        results = pipe.execute()
    assert results[:100] == [1] * 100
    assert results[100:] == [100, "99"]
    assert r.hgetall(p + "h") == {f"f{i}": str(i) for i in range(100)}


def test_expire(client) -> None:
    r, p = client
    r.set(p + "ttl", "v", ex=60)
    assert 0 < r.ttl(p + "ttl") <= 60
    r.set(p + "short", "v")
    assert r.ttl(p + "short") == -1  # no expiry
    assert r.pexpire(p + "short", 150) is True
    assert 0 < r.pttl(p + "short") <= 150
    deadline = time.monotonic() + 5
    while r.exists(p + "short") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.exists(p + "short") == 0
    assert r.get(p + "short") is None
    assert r.persist(p + "ttl") is True
    assert r.ttl(p + "ttl") == -1
