"""Fixtures of the online-store tests: every contract test runs on both stores.

``redis_url`` is the real Redis server of ``tests/services/fixtures.py``; each test
gets its own key prefix and removes its keys afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from streamfeat.online import EmbeddedStore, OnlineStore, RedisStore
from tests.services.fixtures import redis_url  # noqa: F401  (pytest finds fixtures by name)


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:  # noqa: F811
    """A key prefix no other test uses; its keys are deleted afterwards."""
    prefix = f"sf-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + ":*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(params=["embedded", "redis"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    """``make(**options)`` opens a store of the kind the test is parametrized with."""
    kind = request.param
    opened: list[OnlineStore] = []

    def make(**options) -> OnlineStore:
        if kind == "embedded":
            store: OnlineStore = EmbeddedStore(tmp_path / "online.db", **options)
        else:
            url = request.getfixturevalue("redis_url")
            prefix = request.getfixturevalue("redis_prefix")
            store = RedisStore(url, key_prefix=prefix, **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
