"""A deterministic stream of synthetic card transactions for tests and benchmarks.

The stream a :class:`WorkloadSpec` describes:

* ``events`` event times drawn uniformly from ``[start_ms, start_ms + days)`` (integer
  milliseconds) and sorted;
* each event has a user drawn from a bounded Zipf law (``P(rank r) ∝ r^-zipf_s`` over
  ranks ``1..users``, mapped to user indices through a seeded permutation so the heavy
  users are spread over the index range), a merchant drawn uniformly from
  ``0..merchants-1`` and an amount (lognormal, median about 20, rounded to cents);
* ``arrival = event_time + Exp(delivery_delay_ms)``, and for a fraction ``out_of_order``
  of the events ``+ Exp(lateness_mean_ms)`` more (delays floored to whole ms);
* the stream is the events stably sorted by arrival, so ``arrival`` never decreases.

Every random draw comes from ``np.random.PCG64`` generators seeded from ``spec.seed``;
the same spec always gives the same stream, bit for bit, on any machine.

The stream is generated block by block rather than all at once: the time range is cut
into equal blocks (about 65k events each), a multinomial draw decides how many events
fall in each block (which is exactly how many a uniform draw over the whole range puts
there), and each block draws its events from its own generator. An event can be emitted
once its arrival is before the start of the next block, since no later event can arrive
earlier. Memory therefore stays proportional to one block plus the events still in
flight, and ``limit`` only generates the blocks its prefix needs — the prefix of
``limit`` events is exactly the first ``limit`` events of the full stream.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.random  # numpy imports it on first use otherwise: mid-run, where a Ctrl-C landing in
import orjson  # the import machinery is lost ("Exception ignored in ... _get_module_lock"; stop 30)

from streamfeat.clock import DAY_MS
from streamfeat.errors import WorkloadError

__all__ = ["DAY_MS", "EventBatch", "W1", "WorkloadSpec", "generate", "iter_batches", "write_jsonl"]

#: Expected events per generation block; part of the stream's definition (changing it
#: changes which random numbers each event gets), so it is a constant, not a parameter.
_BLOCK_EVENTS = 65_536
#: Lognormal amount parameters: median e**3 ≈ 20.09, mean e**3.5 ≈ 33.
_AMOUNT_MU = 3.0
_AMOUNT_SIGMA = 1.0

_INT_FIELDS = ("users", "events", "days", "merchants", "lateness_mean_ms", "delivery_delay_ms", "start_ms", "seed")


@dataclass(frozen=True, kw_only=True)
class WorkloadSpec:
    """Parameters of a synthetic transaction stream; validated on creation."""

    users: int = 1_000_000
    events: int = 20_000_000
    days: int = 400
    merchants: int = 50_000
    #: User activity skew: bounded Zipf exponent over ranks ``1..users``.
    zipf_s: float = 1.1
    #: Fraction of events whose delivery is delayed by an extra ``Exp(lateness_mean_ms)``.
    out_of_order: float = 0.01
    #: Mean extra delay of out-of-order events; some exceed a 5-minute allowed lateness.
    lateness_mean_ms: int = 120_000
    #: Mean normal delay from event time to arrival.
    delivery_delay_ms: int = 200
    #: First possible event time; 2023-11-15T00:00Z, a UTC midnight.
    start_ms: int = 1_700_006_400_000
    seed: int = 42

    def __post_init__(self) -> None:
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise WorkloadError(f"WorkloadSpec.{name} must be an int, not {value!r}")
        for name in ("users", "events", "days", "merchants"):
            if getattr(self, name) <= 0:
                raise WorkloadError(f"WorkloadSpec.{name} must be positive, got {getattr(self, name)}")
        for name in ("lateness_mean_ms", "delivery_delay_ms", "seed"):
            if getattr(self, name) < 0:
                raise WorkloadError(f"WorkloadSpec.{name} must be >= 0, got {getattr(self, name)}")
        if not isinstance(self.zipf_s, (int, float)) or not math.isfinite(self.zipf_s) or self.zipf_s <= 0:
            raise WorkloadError(f"WorkloadSpec.zipf_s must be a finite number > 0, got {self.zipf_s!r}")
        oo = self.out_of_order
        if not isinstance(oo, (int, float)) or not 0 <= oo <= 1:
            raise WorkloadError(f"WorkloadSpec.out_of_order must be a fraction in [0, 1], got {oo!r}")

    @property
    def end_ms(self) -> int:
        """Exclusive end of the event-time range."""
        return self.start_ms + self.days * DAY_MS


#: The standard benchmark workload: 1M users, 20M events over 400 days, 1% out of order.
W1 = WorkloadSpec()


@dataclass(frozen=True)
class EventBatch:
    """A run of consecutive events of the stream, as columns, in arrival order."""

    user: np.ndarray  # int64 user index, 0..users-1
    merchant: np.ndarray  # int64 merchant index, 0..merchants-1
    amount: np.ndarray  # float64, positive, whole cents
    event_time: np.ndarray  # int64 ms
    arrival: np.ndarray  # int64 ms, non-decreasing

    def __len__(self) -> int:
        return len(self.user)

    def slice(self, start: int, stop: int) -> EventBatch:
        """Events ``start`` to ``stop`` (exclusive, clipped to the batch), as a batch of
        views of these columns (no copy)."""
        return EventBatch(**{name: getattr(self, name)[start:stop] for name in _COLUMNS})

    def user_ids(self) -> list[str]:
        """User keys as strings, ``"u{index}"``."""
        return [f"u{i}" for i in self.user.tolist()]

    def merchant_ids(self) -> list[str]:
        """Merchant keys as strings, ``"m{index}"``."""
        return [f"m{i}" for i in self.merchant.tolist()]

    def records(self) -> Iterator[dict[str, Any]]:
        """The events as source records: ``user_id, merchant_id, amount, ts, arrival``."""
        for user, merchant, amount, ts, arrival in zip(
            self.user_ids(),
            self.merchant_ids(),
            self.amount.tolist(),
            self.event_time.tolist(),
            self.arrival.tolist(),
        ):
            yield {"user_id": user, "merchant_id": merchant, "amount": amount, "ts": ts, "arrival": arrival}


_COLUMNS = ("user", "merchant", "amount", "event_time", "arrival")


def _empty() -> EventBatch:
    i64 = np.empty(0, dtype=np.int64)
    return EventBatch(user=i64, merchant=i64, amount=np.empty(0, dtype=np.float64), event_time=i64, arrival=i64)


def _concat(parts: list[EventBatch]) -> EventBatch:
    if len(parts) == 1:
        return parts[0]
    return EventBatch(**{c: np.concatenate([getattr(p, c) for p in parts]) for c in _COLUMNS})


def _take(batch: EventBatch, index: np.ndarray | slice) -> EventBatch:
    return EventBatch(**{c: getattr(batch, c)[index] for c in _COLUMNS})


class _Plan:
    """What every block shares: block boundaries and counts, the Zipf CDF, the rank permutation."""

    def __init__(self, spec: WorkloadSpec) -> None:
        rng = np.random.Generator(np.random.PCG64(spec.seed))
        total_ms = spec.days * DAY_MS
        blocks = max(1, min(total_ms, -(-spec.events // _BLOCK_EVENTS)))
        offsets = (np.arange(blocks + 1, dtype=np.int64) * total_ms) // blocks  # exact: fits int64
        self.bounds = spec.start_ms + offsets
        self.counts = rng.multinomial(spec.events, np.diff(offsets) / total_ms)
        weights = np.arange(1, spec.users + 1, dtype=np.float64) ** -float(spec.zipf_s)
        cdf = np.cumsum(weights)
        cdf /= cdf[-1]
        self.cdf = cdf
        self.rank_to_user = rng.permutation(spec.users).astype(np.int64)


def _block(spec: WorkloadSpec, plan: _Plan, k: int) -> EventBatch:
    """Block ``k``'s events in event-time order."""
    n = int(plan.counts[k])
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(spec.seed, spawn_key=(k,))))
    event_time = rng.integers(plan.bounds[k], plan.bounds[k + 1], size=n, dtype=np.int64)
    event_time.sort()
    rank = np.searchsorted(plan.cdf, rng.random(n), side="right")
    user = plan.rank_to_user[np.minimum(rank, spec.users - 1)]
    merchant = rng.integers(0, spec.merchants, size=n, dtype=np.int64)
    amount = np.maximum(np.round(rng.lognormal(_AMOUNT_MU, _AMOUNT_SIGMA, size=n) * 100.0), 1.0) / 100.0
    arrival = event_time + np.floor(rng.exponential(spec.delivery_delay_ms, size=n)).astype(np.int64)
    delayed = rng.random(n) < spec.out_of_order
    extra = np.floor(rng.exponential(spec.lateness_mean_ms, size=n)).astype(np.int64)
    arrival += np.where(delayed, extra, 0)
    return EventBatch(user=user, merchant=merchant, amount=amount, event_time=event_time, arrival=arrival)


def _stream(spec: WorkloadSpec, limit: int | None) -> Iterator[EventBatch]:
    """Arrival-ordered chunks of the stream (one per block, possibly empty), cut at ``limit``."""
    remaining = spec.events if limit is None else min(limit, spec.events)
    if remaining <= 0:
        return
    plan = _Plan(spec)
    carry = _empty()  # generated, not yet emitted, sorted by (arrival, index)
    blocks = len(plan.counts)
    for k in range(blocks):
        # Carry events precede the block's in index order, so a stable sort keeps ties in index order.
        pending = _concat([carry, _block(spec, plan, k)])
        pending = _take(pending, np.argsort(pending.arrival, kind="stable"))
        if k + 1 < blocks:
            # Every later event has event_time (hence arrival) >= the next block's start.
            ready = int(np.searchsorted(pending.arrival, plan.bounds[k + 1], side="left"))
        else:
            ready = len(pending)
        ready = min(ready, remaining)
        carry = _take(pending, slice(ready, None))
        if ready:
            yield _take(pending, slice(0, ready))
            remaining -= ready
            if remaining == 0:
                return


def _check_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise WorkloadError(f"limit must be a non-negative int or None, got {limit!r}")


def generate(spec: WorkloadSpec, *, limit: int | None = None) -> EventBatch:
    """The whole stream in memory, or its first ``limit`` events in arrival order.

    A prefix is the same events the full stream starts with; only the blocks it needs
    are generated. W1 in full takes about 1 GB (five 20M-element columns).
    """
    _check_limit(limit)
    n = spec.events if limit is None else min(limit, spec.events)
    out = {c: np.empty(n, dtype=np.float64 if c == "amount" else np.int64) for c in _COLUMNS}
    at = 0
    for chunk in _stream(spec, n):
        for c in _COLUMNS:
            out[c][at : at + len(chunk)] = getattr(chunk, c)
        at += len(chunk)
    return EventBatch(**out)


def iter_batches(spec: WorkloadSpec, batch_size: int = 100_000, *, limit: int | None = None) -> Iterator[EventBatch]:
    """The stream (or its first ``limit`` events) in consecutive batches of ``batch_size``
    (the last may be shorter), generated lazily."""
    _check_limit(limit)
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise WorkloadError(f"batch_size must be a positive int, got {batch_size!r}")
    parts: list[EventBatch] = []
    held = 0
    for chunk in _stream(spec, limit):
        parts.append(chunk)
        held += len(chunk)
        if held < batch_size:
            continue
        merged = _concat(parts)
        start = 0
        while held - start >= batch_size:
            yield _take(merged, slice(start, start + batch_size))
            start += batch_size
        parts = [_take(merged, slice(start, None))] if start < held else []
        held -= start
    if held:
        yield _concat(parts)


def write_jsonl(
    spec: WorkloadSpec,
    path: str | os.PathLike[str],
    *,
    limit: int | None = None,
    after_batch: Callable[[int], None] | None = None,
) -> int:
    """Write the stream (or its first ``limit`` events) to ``path`` as JSON lines with the
    fields of :meth:`EventBatch.records`; returns the number of events written.
    ``after_batch`` is called with the count so far after each batch is written (an
    exception it raises ends the writing)."""
    dumps = orjson.dumps
    option = orjson.OPT_APPEND_NEWLINE
    count = 0
    with open(path, "wb") as out:
        for batch in iter_batches(spec, limit=limit):
            out.write(b"".join(dumps(record, option=option) for record in batch.records()))
            count += len(batch)
            if after_batch is not None:
                after_batch(count)
    return count
