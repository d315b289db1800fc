"""Garbage collection for long runs that keep millions of live objects.

The runtime and backfill replays hold every cached entity's state — millions of
small, acyclic Python objects — and replace many of them each batch. CPython's
automatic collector then runs full passes over all of them every few batches
(measured: about a tenth of a 7-feature run's time), and each full pass stops the
flow for as long as it takes (measured: 270-745 ms per pass after 60k-300k events,
growing with the state — the worst delays of a run's freshness).

:class:`BatchCollector` turns the automatic collector off and, between batches,
collects what the batch allocated (the young generations), then *freezes* the
survivors (``gc.freeze``): later passes skip them, so each costs what one batch
allocated, not what the process holds. States are acyclic and freed by reference
counting when replaced or evicted, frozen or not; only cyclic garbage among frozen
objects waits for the next full pass, which comes every ``full_every_s`` seconds
(default 30 min) and stops the flow as long as a full pass takes (the figures above),
rarely. ``full_every_s=None`` never runs one.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

__all__ = ["BatchCollector"]

#: Default seconds between full passes.
FULL_EVERY_S = 1800.0


class BatchCollector:
    """Call :meth:`after_batch` between batches; the automatic collector stays off from
    construction until :meth:`close` (which restores it and unfreezes everything).
    ``clock``: monotonic seconds (injectable for tests)."""

    def __init__(
        self, *, full_every_s: float | None = FULL_EVERY_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if full_every_s is not None and not full_every_s > 0:
            raise ValueError(f"full_every_s must be > 0 seconds or None, got {full_every_s!r}")
        self.full_every_s = full_every_s
        self.batches = 0
        self.full_passes = 0
        self._clock = clock
        self._last_full = clock()
        self._was_enabled = gc.isenabled()
        gc.disable()

    def after_batch(self) -> None:
        self.batches += 1
        now = self._clock()
        if self.full_every_s is not None and now - self._last_full >= self.full_every_s:
            gc.unfreeze()
            gc.collect(2)
            self.full_passes += 1
            self._last_full = now
        else:
            gc.collect(1)
        gc.freeze()

    def close(self) -> None:
        gc.unfreeze()
        if self._was_enabled:
            gc.enable()
