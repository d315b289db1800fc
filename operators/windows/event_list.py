"""Sorted lists of ``(event_time, seq, value)`` — shared by the strategies that keep raw events."""

from __future__ import annotations

from bisect import bisect_right, insort
from operator import itemgetter
from typing import Any

from operators.codec import Reader, Writer

Event = tuple[int, int, Any]  # (event_time, seq, value)

event_time_of = itemgetter(0)


def insert_sorted(events: list[Event], item: Event) -> None:
    """Insert keeping ``(event_time, seq)`` order; O(1) for in-order arrivals."""
    if events:
        last = events[-1]
        if item[0] < last[0] or (item[0] == last[0] and item[1] < last[1]):
            insort(events, item, key=_order_key)
            return
    events.append(item)


def _order_key(item: Event) -> tuple[int, int]:
    return (item[0], item[1])


def count_at_or_before(events: list[Event], bound: int) -> int:
    """Number of leading events with ``event_time <= bound``."""
    if not events or events[0][0] > bound:
        return 0
    return bisect_right(events, bound, key=event_time_of)


def write_events(w: Writer, events: list[Event]) -> None:
    w.u32(len(events))
    for event_time, seq, value in events:
        w.i64(event_time)
        w.i64(seq)
        w.value(value)


def read_events(r: Reader) -> list[Event]:
    return [(r.i64(), r.i64(), r.value()) for _ in range(r.u32())]
