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

A young pass still traverses every object the batch left alive (the new states): about
a tenth of a 7-feature backfill's time (measured: 5.7 s of 49.8 s over 2M W1 events),
and in those 40 passes it found no garbage at all. So a young pass that finds nothing
doubles the number of batches frozen *without* a pass before the next one (1, 2, 4, …
up to ``max_skip``), and one that finds garbage goes back to a pass every batch. Cyclic
garbage made during a skipped batch is frozen with the survivors and waits for the next
full pass: at most what ``max_skip`` batches made, and only in a flow that makes cycles
rarely (one that makes them every batch gets a pass every batch).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

__all__ = ["BatchCollector"]

#: Default seconds between full passes.
FULL_EVERY_S = 1800.0
#: Default most batches frozen without a young pass in a row.
MAX_SKIP = 32


class BatchCollector:
    """Call :meth:`after_batch` between batches; the automatic collector stays off from
    construction until :meth:`close` (which restores it and unfreezes everything).
    ``clock``: monotonic seconds (injectable for tests). ``max_skip``: most batches in a
    row frozen without a young pass (0: a young pass after every batch)."""

    def __init__(
        self,
        *,
        full_every_s: float | None = FULL_EVERY_S,
        max_skip: int = MAX_SKIP,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if full_every_s is not None and not full_every_s > 0:
            raise ValueError(f"full_every_s must be > 0 seconds or None, got {full_every_s!r}")
        if isinstance(max_skip, bool) or not isinstance(max_skip, int) or max_skip < 0:
            raise ValueError(f"max_skip must be an int >= 0, got {max_skip!r}")
        self.full_every_s = full_every_s
        self.max_skip = max_skip
        self.batches = 0
        self.full_passes = 0
        self.young_passes = 0
        self._skip_next = 0  # batches to freeze without a young pass, from now on
        self._backoff = 0  # batches skipped after the last young pass
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
            self._skip_next = self._backoff = 0
        elif self._skip_next:
            self._skip_next -= 1
        else:
            found = gc.collect(1)
            self.young_passes += 1
            self._backoff = 0 if found else min(max(1, 2 * self._backoff), self.max_skip)
            self._skip_next = self._backoff
        gc.freeze()

    def close(self) -> None:
        gc.unfreeze()
        if self._was_enabled:
            gc.enable()
