"""Exact event log: keep every event of the window, fold on read.

The reference strategy: works for every aggregation, exact at both edges, and the
most expensive to read (O(events in window)) and to store.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from operators.base import Aggregator
from operators.codec import Reader, Writer
from operators.windows.event_list import EventQueue, event_time_of, read_events, write_events

_VERSION = 1


class ExactLogStrategy:
    """Sorted queue of raw events; ``partial`` folds the events in range."""

    name = "log"
    tile_aligned = False

    def __init__(self, aggregator: Aggregator) -> None:
        self.aggregator = aggregator

    def new_state(self) -> EventQueue:
        return EventQueue()

    def insert(self, state: EventQueue, event_time: int, seq: int, value: Any, bound: int) -> None:
        events = state.events
        if len(events) > state.head and events[state.head][0] <= bound:
            state.expire(bound)
            state.compact()
        state.push((event_time, seq, value))

    def evict(self, state: EventQueue, bound: int) -> None:
        state.expire(bound)
        state.compact()

    def partial(self, state: EventQueue, lo: int, hi: int) -> Any:
        events = state.events
        start = state.index_after(lo)
        stop = bisect_right(events, hi, lo=start, key=event_time_of)
        agg = self.aggregator
        acc = agg.init()
        for event_time, seq, value in events[start:stop]:
            acc = agg.add(acc, value, event_time, seq)
        return acc

    def is_empty(self, state: EventQueue) -> bool:
        return not len(state)

    def to_bytes(self, state: EventQueue) -> bytes:
        w = Writer()
        w.u8(_VERSION)
        write_events(w, state.live())
        return w.getvalue()

    def from_bytes(self, data: bytes) -> EventQueue:
        r = Reader(data)
        r.version(_VERSION, "event log")
        state = EventQueue(read_events(r))
        r.done()
        return state
