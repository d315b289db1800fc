"""Subtract-on-evict: a running aggregate plus the raw events, retracted as they expire.

For invertible aggregations (count, sum, mean, variance, distinct, quantile sketch):
O(1) amortised per event and O(expired since last update) per read.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from operators.base import Aggregator
from operators.codec import Reader, Writer
from operators.windows.event_list import (
    Event,
    count_at_or_before,
    event_time_of,
    insert_sorted,
    read_events,
    write_events,
)

_VERSION = 1


class RunningLog:
    __slots__ = ("events", "acc")

    def __init__(self, events: list[Event], acc: Any) -> None:
        self.events = events
        self.acc = acc


class SubtractOnEvictStrategy:
    """Raw events sorted by time plus the aggregate of all of them."""

    name = "subtract"
    tile_aligned = False

    def __init__(self, aggregator: Aggregator) -> None:
        if not aggregator.invertible:
            raise ValueError(f"subtract-on-evict needs an invertible aggregation, not {aggregator.name}")
        self.aggregator = aggregator

    def new_state(self) -> RunningLog:
        return RunningLog([], self.aggregator.init())

    def insert(self, state: RunningLog, event_time: int, seq: int, value: Any, bound: int) -> None:
        if state.events and state.events[0][0] <= bound:
            self.evict(state, bound)
        state.acc = self.aggregator.add(state.acc, value, event_time, seq)
        insert_sorted(state.events, (event_time, seq, value))

    def evict(self, state: RunningLog, bound: int) -> None:
        events = state.events
        if events and events[0][0] <= bound:
            cut = count_at_or_before(events, bound)
            retract = self.aggregator.retract
            acc = state.acc
            for event_time, seq, value in events[:cut]:
                acc = retract(acc, value, event_time, seq)
            del events[:cut]
            # An empty window restarts from the exact empty value, shedding float drift.
            state.acc = acc if events else self.aggregator.init()

    def partial(self, state: RunningLog, lo: int, hi: int) -> Any:
        agg = self.aggregator
        events = state.events
        start = count_at_or_before(events, lo)
        if start == len(events):
            return agg.init()  # nothing left in range: the exact empty value
        acc = agg.merge(agg.init(), state.acc)  # a copy the caller owns
        for event_time, seq, value in events[:start]:
            acc = agg.retract(acc, value, event_time, seq)
        if events and events[-1][0] > hi:
            stop = bisect_right(events, hi, lo=start, key=event_time_of)
            for event_time, seq, value in events[max(stop, start) :]:
                acc = agg.retract(acc, value, event_time, seq)
        return acc

    def is_empty(self, state: RunningLog) -> bool:
        return not state.events

    def to_bytes(self, state: RunningLog) -> bytes:
        w = Writer()
        w.u8(_VERSION)
        w.blob(self.aggregator.to_bytes(state.acc))
        write_events(w, state.events)
        return w.getvalue()

    def from_bytes(self, data: bytes) -> RunningLog:
        r = Reader(data)
        r.version(_VERSION, "subtract-on-evict")
        acc = self.aggregator.from_bytes(r.blob())
        state = RunningLog(read_events(r), acc)
        r.done()
        return state
