"""Sizing a replay's entity caches by resident memory."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from streamfeat.errors import DefinitionError
from streamfeat.memory import CacheBudget, parse_size, resident_bytes


def test_sizes():
    assert parse_size("4GiB") == 4 * 2**30
    assert parse_size("3.5G") == int(3.5 * 2**30)
    assert parse_size("800MB") == 800_000_000
    assert parse_size(" 512 mib ") == 512 * 2**20
    assert parse_size(1234) == 1234
    for bad in ("", "4 gigabytes", "-1G", "0", True, 0):
        with pytest.raises(DefinitionError):
            parse_size(bad)


def test_resident_bytes_reads_this_process():
    rss = resident_bytes()
    assert rss is not None and 10 * 2**20 < rss < 64 * 2**30


@dataclass
class FakeCache:
    capacity: int
    resident_count: int = 0


def test_caches_grow_while_full_and_under_the_budget_then_shrink_while_memory_keeps_growing():
    rss = [1_000]
    cache, idle = FakeCache(100, 100), FakeCache(100, 10)
    budget = CacheBudget(10_000, [cache, idle], rss=lambda: rss[0], floor=10)
    budget.after_batch()
    assert (cache.capacity, idle.capacity) == (125, 100)  # only a full cache grows
    cache.resident_count = 110  # spilled to 90 % of 125 after filling up: still full enough
    budget.after_batch()
    assert cache.capacity == 156
    rss[0] = 8_000  # between the thresholds: nothing changes
    budget.after_batch()
    assert cache.capacity == 156
    rss[0] = 9_000  # above 85 %: hold fewer than are resident now
    budget.after_batch()
    assert cache.capacity == 88
    cache.resident_count = 88
    budget.after_batch()  # memory did not fall (freed memory is reused, not returned): no further shrink
    assert cache.capacity == 88
    rss[0] = 9_300  # grew again by more than 2 % of the limit
    budget.after_batch()
    assert cache.capacity == 70
    assert budget.peak_bytes == 9_300
    rss[0] = 5_000  # far under again (the allocator returned memory): full caches grow
    cache.resident_count = 70
    budget.after_batch()
    assert cache.capacity == 87


def test_a_cache_never_shrinks_below_the_floor():
    cache = FakeCache(2_000, 2_000)
    budget = CacheBudget(100, [cache], rss=lambda: 99, floor=1_500)
    budget.after_batch()
    assert cache.capacity == 1_600
    with pytest.raises(DefinitionError):
        CacheBudget(0, [cache])
    with pytest.raises(DefinitionError):
        CacheBudget(100, [cache], grow_below=0.9, shrink_above=0.8)
