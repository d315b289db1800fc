"""Subtract-on-evict: a running aggregate plus the raw events, retracted as they expire.

For invertible aggregations (count, sum, mean, variance, distinct, quantile sketch):
O(1) amortised per event and O(min(events in range, events expired since the last update)) per read.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections.abc import Sequence
from itertools import repeat
from typing import Any

from operators.base import Aggregator
from operators.codec import DECODE_ERRORS, bad_version, check_end, corrupt, decode_events, read_blob
from operators.windows.event_list import EventLog, event_time_of

#: 2: events as columns (operators.codec.encode_events).
_VERSION = 2
_V = bytes((_VERSION,))
_HEAD = struct.Struct(">BI")  # version, aggregate blob size


class RunningLog(EventLog):
    """The window's events plus the aggregate of the live ones."""

    __slots__ = ("acc",)

    def __init__(self, events: list, acc: Any) -> None:
        super().__init__(events)
        self.acc = acc


class SubtractOnEvictStrategy:
    """Raw events sorted by time plus the aggregate of all live ones."""

    name = "subtract"
    tile_aligned = False

    def __init__(self, aggregator: Aggregator) -> None:
        if not aggregator.invertible:
            raise ValueError(f"subtract-on-evict needs an invertible aggregation, not {aggregator.name}")
        self.aggregator = aggregator
        # Counts: folding or retracting k events is adding or subtracting k (same result).
        self._counts = getattr(aggregator, "step", None) == "one"

    def new_state(self) -> RunningLog:
        return RunningLog([], self.aggregator.init())

    def insert(self, state: RunningLog, event_time: int, seq: int, value: Any, bound: int) -> None:
        events = state.events
        if len(events) > state.head and events[state.head][0] <= bound:
            self.evict(state, bound)
        state.acc = self.aggregator.add(state.acc, value, event_time, seq)
        state.push((event_time, seq, value))

    def insert_run(
        self, state: RunningLog, times: Sequence[int], seqs: Sequence[int], values: Sequence[Any] | None,
        bounds: Sequence[int],
    ) -> None:
        """``insert`` per event, in order (``bounds`` non-decreasing, each event after its
        bound). A count's aggregate is the number of live events however evictions
        interleave, and the live events are those after the last bound: the run is pushed,
        counted and evicted once."""
        if not self._counts:
            insert = self.insert
            for event_time, seq, value, bound in zip(times, seqs, repeat(None) if values is None else values, bounds):
                insert(state, event_time, seq, value, bound)
            return
        push = state.push
        for event in zip(times, seqs, repeat(None) if values is None else values):
            push(event)
        state.acc += len(times)
        events = state.events
        bound = bounds[-1]
        if len(events) > state.head and events[state.head][0] <= bound:
            self.evict(state, bound)

    def evict(self, state: RunningLog, bound: int) -> None:
        start, stop = state.expire(bound)
        if stop == start:
            return
        if stop == len(state.events):
            # An empty window restarts from the exact empty value, shedding float drift.
            state.acc = self.aggregator.init()
        else:
            retract = self.aggregator.retract
            acc = state.acc
            for event_time, seq, value in state.events[start:stop]:
                acc = retract(acc, value, event_time, seq)
            state.acc = acc
        state.compact()

    def partial(self, state: RunningLog, lo: int, hi: int) -> Any:
        """The aggregate over ``lo < event_time <= hi``: the running aggregate minus the
        live events outside the range, or — when fewer events lie inside the range than
        outside it (a read long after the entity's last update, when most of its window
        has expired since) — the events inside folded from the empty value. Either way
        O(min(inside, outside)); the choice depends only on the live events, ``lo`` and
        ``hi``, so a state and its copy restored from bytes answer bit for bit alike."""
        agg = self.aggregator
        events = state.events
        start = state.index_after(lo)
        end = len(events)
        if start == end:
            return agg.init()  # nothing left in range: the exact empty value
        stop = end if events[-1][0] <= hi else bisect_right(events, hi, lo=start, key=event_time_of)
        if self._counts:
            return stop - start
        if stop - start < start - state.head + end - stop:
            acc = agg.init()
            add = agg.add
            for event_time, seq, value in events[start:stop]:
                acc = add(acc, value, event_time, seq)
            return acc
        acc = agg.merge(agg.init(), state.acc)  # a copy the caller owns
        retract = agg.retract
        for event_time, seq, value in events[state.head : start]:
            acc = retract(acc, value, event_time, seq)
        for event_time, seq, value in events[stop:]:
            acc = retract(acc, value, event_time, seq)
        return acc

    def oldest_after(self, state: RunningLog, lo: int) -> int | None:
        return state.first_time_after(lo)

    def is_empty(self, state: RunningLog) -> bool:
        return not len(state)

    def to_bytes(self, state: RunningLog) -> bytes:
        acc = self.aggregator.to_bytes(state.acc)
        return b"".join((_HEAD.pack(_VERSION, len(acc)), acc, state.encoded()))

    def from_bytes(self, data: bytes) -> RunningLog:
        if data[:1] != _V:
            raise bad_version(data, _VERSION, "subtract-on-evict")
        try:
            acc, pos = read_blob(data, 1)
            events, pos = decode_events(data, pos)
        except DECODE_ERRORS as exc:
            raise corrupt("subtract-on-evict", exc) from exc
        check_end(data, pos, "subtract-on-evict")
        return RunningLog(events, self.aggregator.from_bytes(acc))
