"""Exact event log: keep every event of the window, fold on read.

The reference strategy: works for every aggregation, exact at both edges, and the
most expensive to read (O(events in window)) and to store.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from operators.base import Aggregator
from operators.codec import DECODE_ERRORS, bad_version, check_end, corrupt, decode_events
from operators.windows.event_list import EventLog, event_time_of

#: 2: events as columns (operators.codec.encode_events).
_VERSION = 2
_V = bytes((_VERSION,))


class ExactLogStrategy:
    """Sorted queue of raw events; ``partial`` folds the events in range."""

    name = "log"
    tile_aligned = False

    def __init__(self, aggregator: Aggregator) -> None:
        self.aggregator = aggregator

    def new_state(self) -> EventLog:
        return EventLog()

    def insert(self, state: EventLog, event_time: int, seq: int, value: Any, bound: int) -> None:
        events = state.events
        if len(events) > state.head and events[state.head][0] <= bound:
            state.expire(bound)
            state.compact()
        state.push((event_time, seq, value))

    def evict(self, state: EventLog, bound: int) -> None:
        state.expire(bound)
        state.compact()

    def partial(self, state: EventLog, lo: int, hi: int) -> Any:
        events = state.events
        start = state.index_after(lo)
        stop = bisect_right(events, hi, lo=start, key=event_time_of)
        agg = self.aggregator
        acc = agg.init()
        for event_time, seq, value in events[start:stop]:
            acc = agg.add(acc, value, event_time, seq)
        return acc

    def oldest_after(self, state: EventLog, lo: int) -> int | None:
        return state.first_time_after(lo)

    def is_empty(self, state: EventLog) -> bool:
        return not len(state)

    def to_bytes(self, state: EventLog) -> bytes:
        return _V + state.encoded()

    def from_bytes(self, data: bytes) -> EventLog:
        if data[:1] != _V:
            raise bad_version(data, _VERSION, "event log")
        try:
            events, pos = decode_events(data, 1)
        except DECODE_ERRORS as exc:
            raise corrupt("event log", exc) from exc
        check_end(data, pos, "event log")
        return EventLog(events)
