"""Resident memory: reading it, and sizing a replay's entity caches to a budget.

An entity's state costs several times its encoded size in Python objects (measured on
W1 with the 7 example features: about 4.2 KB resident per entity against 580 B encoded),
and how much depends on the features and on the data, so a cache sized in entities
either wastes memory or overruns it. :class:`CacheBudget` sizes the caches of a replay by
the process's resident memory instead: while it is below ``grow_below`` of the limit and a
cache is full, the cache may hold more entities; when it is above ``shrink_above`` and
still growing, the caches hold fewer (the next spill evicts down to the new size).
Memory freed by evicted states is reused by the allocator rather than returned, so
resident memory stays flat after a shrink instead of falling; shrinking again only once
it has grown by another 2 % of the limit stops the caches from shrinking to nothing.
Whatever else grows (the answers of a training set) is counted too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import Protocol

from streamfeat.errors import DefinitionError

__all__ = ["CacheBudget", "parse_size", "resident_bytes"]

#: A cache this close to its capacity is full: it has been spilling (a replay's spill
#: leaves it at 90 %), so a larger capacity would save loads.
_FULL = 0.85

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB|K|M|G)?\s*$", re.IGNORECASE)
_FACTORS = {
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "k": 2**10, "m": 2**20, "g": 2**30,
}


def parse_size(value: str | int, *, what: str = "size") -> int:
    """Bytes of ``"4GiB"``, ``"3.5G"`` (G, M, K: binary units), ``"500MB"`` or an int."""
    if isinstance(value, bool):
        raise DefinitionError(f"{what}: expected a size like '4GiB', got {value!r}")
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.match(value)
        if match is None:
            raise DefinitionError(f"{what}: cannot read size {value!r}; write e.g. '4GiB', '3.5G' or '800MB'")
        size = int(float(match.group(1)) * _FACTORS[(match.group(2) or "b").lower()])
    if size <= 0:
        raise DefinitionError(f"{what}: must be positive, got {value!r}")
    return size


def resident_bytes() -> int | None:
    """The process's resident memory now (Linux ``/proc/self/statm``), or ``None`` where
    it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class SizedCache(Protocol):
    """What :class:`CacheBudget` adjusts (an :class:`~streamfeat.state.EntityStateCache`)."""

    capacity: int

    @property
    def resident_count(self) -> int: ...


class CacheBudget:
    """Call :meth:`after_batch` between batches; see the module docstring."""

    def __init__(
        self,
        limit_bytes: int,
        caches: Sequence[SizedCache],
        *,
        grow_below: float = 0.75,
        shrink_above: float = 0.85,
        step: float = 1.25,
        floor: int = 1_000,
        rss: Callable[[], int | None] = resident_bytes,
    ) -> None:
        if isinstance(limit_bytes, bool) or not isinstance(limit_bytes, int) or limit_bytes <= 0:
            raise DefinitionError(f"memory limit must be a positive number of bytes, got {limit_bytes!r}")
        if not 0 < grow_below < shrink_above <= 1:
            raise DefinitionError(f"need 0 < grow_below < shrink_above <= 1, got {grow_below}, {shrink_above}")
        self.limit_bytes = limit_bytes
        self.caches = list(caches)
        self.grow_below = grow_below
        self.shrink_above = shrink_above
        self.step = step
        self.floor = floor
        self._rss = rss
        self._last_shrink_rss = 0
        self.peak_bytes = 0

    def after_batch(self) -> None:
        rss = self._rss()
        if rss is None:
            return
        self.peak_bytes = max(self.peak_bytes, rss)
        if rss > self.shrink_above * self.limit_bytes:
            if rss > self._last_shrink_rss + self.limit_bytes // 50:  # still growing: hold fewer entities
                self._last_shrink_rss = rss
                for cache in self.caches:
                    cache.capacity = max(self.floor, int(min(cache.capacity, cache.resident_count) / self.step))
        elif rss < self.grow_below * self.limit_bytes:
            for cache in self.caches:
                if cache.resident_count >= _FULL * cache.capacity:
                    cache.capacity = int(cache.capacity * self.step)
