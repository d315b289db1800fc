"""Stores on ``tmp_path``, opened by a factory and always closed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streamfeat.state import RocksDBStateStore

StoreFactory = Callable[..., RocksDBStateStore]


@pytest.fixture
def store_factory(tmp_path: Path) -> Iterator[StoreFactory]:
    """``store_factory(name="db", sync=False)`` opens (or reopens) a store under ``tmp_path``."""
    opened: list[RocksDBStateStore] = []

    def open_store(name: str = "db", *, sync: bool = False) -> RocksDBStateStore:
        store = RocksDBStateStore(tmp_path / name, sync=sync)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()
