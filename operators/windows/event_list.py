"""Sorted lists of ``(event_time, seq, value)`` — shared by the strategies that keep raw events."""

from __future__ import annotations

from bisect import bisect_right, insort
from operator import itemgetter
from typing import Any

from operators.codec import DECODE_ERRORS, Reader, Writer, corrupt, decode_events, encode_events

Event = tuple[int, int, Any]  # (event_time, seq, value)

event_time_of = itemgetter(0)


class EventQueue:
    """Events sorted by ``(event_time, seq)``; ``events[:head]`` have expired.

    Expiring moves ``head`` instead of deleting from the front of the list (which
    would copy the whole window per eviction for a busy entity); the dead prefix is
    dropped once it is at least half the list, so the cost is amortised O(1).
    """

    __slots__ = ("events", "head")

    def __init__(self, events: list[Event] | None = None) -> None:
        self.events: list[Event] = events if events is not None else []
        self.head = 0

    def __len__(self) -> int:
        return len(self.events) - self.head

    def live(self) -> list[Event]:
        return self.events[self.head :]

    def push(self, item: Event) -> None:
        """Insert keeping order; O(1) for in-order arrivals."""
        events = self.events
        if len(events) > self.head:
            last = events[-1]
            if item[0] < last[0] or (item[0] == last[0] and item[1] < last[1]):
                insort(events, item, lo=self.head, key=order_key)
                return
        events.append(item)

    def oldest_time(self) -> int | None:
        return self.events[self.head][0] if len(self.events) > self.head else None

    def index_after(self, t: int) -> int:
        """Index of the first live event with ``event_time > t``."""
        events, head = self.events, self.head
        if head == len(events) or events[head][0] > t:
            return head
        return bisect_right(events, t, lo=head, key=event_time_of)

    def first_time_after(self, t: int) -> int | None:
        """The oldest live event time ``> t``, ``None`` when there is none."""
        index = self.index_after(t)
        return self.events[index][0] if index < len(self.events) else None

    def expire(self, bound: int) -> tuple[int, int]:
        """Mark events with ``event_time <= bound`` expired; returns the ``events`` index
        range that just expired (valid until the next call of :meth:`compact`)."""
        start = self.head
        self.head = stop = self.index_after(bound)
        return start, stop

    def compact(self) -> None:
        head = self.head
        if head > 32 and 2 * head >= len(self.events):
            del self.events[:head]
            self.head = 0


def order_key(item: Event) -> tuple[int, int]:
    """The sort key of an event: ``(event_time, seq)``."""
    return (item[0], item[1])


def write_events(w: Writer, events: list[Event]) -> None:
    """Append ``events`` in the layout of :func:`operators.codec.encode_events`."""
    w.raw(encode_events(events))


def read_events(r: Reader) -> list[Event]:
    """Events written by :func:`write_events`."""
    try:
        events, pos = decode_events(r.data, r.pos)
    except DECODE_ERRORS as exc:
        raise corrupt("events", exc) from exc
    r.pos = pos
    return events
