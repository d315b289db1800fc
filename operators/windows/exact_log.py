"""Exact event log: keep every event of the window, fold on read.

The reference strategy: works for every aggregation, exact at both edges, and the
most expensive to read (O(events in window)) and to store.
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


class EventLog:
    __slots__ = ("events",)

    def __init__(self, events: list[Event] | None = None) -> None:
        self.events: list[Event] = events if events is not None else []


class ExactLogStrategy:
    """Sorted list of raw events; ``partial`` folds the events in range."""

    name = "log"
    tile_aligned = False

    def __init__(self, aggregator: Aggregator) -> None:
        self.aggregator = aggregator

    def new_state(self) -> EventLog:
        return EventLog()

    def insert(self, state: EventLog, event_time: int, seq: int, value: Any, bound: int) -> None:
        events = state.events
        if events and events[0][0] <= bound:
            del events[: count_at_or_before(events, bound)]
        insert_sorted(events, (event_time, seq, value))

    def evict(self, state: EventLog, bound: int) -> None:
        events = state.events
        if events and events[0][0] <= bound:
            del events[: count_at_or_before(events, bound)]

    def partial(self, state: EventLog, lo: int, hi: int) -> Any:
        events = state.events
        start = count_at_or_before(events, lo)
        stop = bisect_right(events, hi, lo=start, key=event_time_of)
        agg = self.aggregator
        acc = agg.init()
        for event_time, seq, value in events[start:stop]:
            acc = agg.add(acc, value, event_time, seq)
        return acc

    def is_empty(self, state: EventLog) -> bool:
        return not state.events

    def to_bytes(self, state: EventLog) -> bytes:
        w = Writer()
        w.u8(_VERSION)
        write_events(w, state.events)
        return w.getvalue()

    def from_bytes(self, data: bytes) -> EventLog:
        r = Reader(data)
        r.version(_VERSION, "event log")
        state = EventLog(read_events(r))
        r.done()
        return state
