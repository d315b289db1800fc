"""Fixtures of the online-store tests: every contract test runs on every store.

``redis_url`` is the real Redis server of ``tests/services/fixtures.py``; each test
gets its own key prefix and removes its keys afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streamfeat.online import EmbeddedStore, LmdbStore, OnlineStore, RedisStore
from tests.services.fixtures import redis_prefix, redis_url  # noqa: F401  (pytest finds fixtures by name)


@pytest.fixture(params=["lmdb", "lmdb-py-lmdb", "embedded", "embedded-sqlite3-writes", "redis",
                        "redis-one-row-per-call"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    """``make(**options)`` opens a store of the kind the test is parametrized with."""
    kind = request.param
    opened: list[OnlineStore] = []

    def make(**options) -> OnlineStore:
        if kind.startswith("lmdb"):
            if kind == "lmdb-py-lmdb":  # without the native extension
                options.setdefault("native", False)
            store: OnlineStore = LmdbStore(tmp_path / "online.lmdb", **options)
        elif kind.startswith("embedded"):
            if kind == "embedded-sqlite3-writes":  # without the native batch writer
                options.setdefault("native_writes", False)
            store = EmbeddedStore(tmp_path / "online.db", **options)
        else:
            url = request.getfixturevalue("redis_url")
            prefix = request.getfixturevalue("redis_prefix")
            if kind == "redis-one-row-per-call":  # the single-key script a Redis Cluster would use
                options.setdefault("rows_per_call", 1)
            store = RedisStore(url, key_prefix=prefix, **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
