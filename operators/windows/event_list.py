"""Sorted lists of ``(event_time, seq, value)`` — shared by the strategies that keep raw events."""

from __future__ import annotations

import struct
from bisect import bisect_right
from itertools import chain
from operator import itemgetter
from typing import Any

from operators.codec import (
    DECODE_ERRORS,
    Reader,
    Writer,
    corrupt,
    decode_events,
    encode_events,
    float_array,
    int_array,
)

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

    def push(self, item: Event) -> int | None:
        """Insert keeping order; O(1) for in-order arrivals. Returns where an out-of-order
        event went (``None``: appended)."""
        events = self.events
        if len(events) > self.head:
            last = events[-1]
            if item[0] < last[0] or (item[0] == last[0] and item[1] < last[1]):
                position = bisect_right(events, (item[0], item[1]), lo=self.head, key=order_key)
                events.insert(position, item)
                return position
        events.append(item)
        return None

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

    def compact(self) -> int:
        """Drop the expired prefix once it is at least half the list; returns how many
        events were dropped (indices into ``events`` move down by that much)."""
        head = self.head
        if head > 32 and 2 * head >= len(self.events):
            del self.events[:head]
            self.head = 0
            return head
        return 0


class EventLog(EventQueue):
    """An :class:`EventQueue` that keeps its byte form up to date as it changes.

    :meth:`encoded` returns exactly ``encode_events(self.live())``, but packs only the
    events added since its last call: the columns of ``events[_start:_stop]`` are kept
    packed (event times and seqs as int64, values as float64 or, for counts, nothing).
    The runtime encodes every touched entity's state after each batch, so for a busy
    entity with 40,000 events in its window that is a copy, not 40,000 packs.

    Change it only through :meth:`push`, :meth:`expire` and :meth:`compact`. An event
    inserted out of order has its packed bytes spliced in at its position (or, when its
    value is not of the packed kind, cuts the packed columns back to there); values that
    are neither all floats nor all ``None`` are encoded in full each time, and so are
    windows of fewer than ``PACK_FROM`` events, which then hold no packed bytes at all
    (most entities: the packed columns would cost them memory and save nothing).
    """

    #: Windows with fewer events are encoded in full (a few µs) and keep nothing packed.
    PACK_FROM = 64

    __slots__ = ("_start", "_stop", "_times", "_seqs", "_values", "_kind")

    def __init__(self, events: list[Event] | None = None) -> None:
        super().__init__(events)
        self._reset()

    def _reset(self, start: int = 0, kind: bytes | None = None) -> None:
        self._start = self._stop = start
        self._times = self._seqs = self._values = _NOTHING  # bytearrays from the first pack on
        self._kind = kind  # b"\x01" floats, b"\x03" Nones, b"" not packable, None: not chosen

    def push(self, item: Event) -> int | None:
        position = super().push(item)
        if position is not None and position < self._stop and not self._splice(position, item):
            self._cut(position)
        return position

    def _splice(self, position: int, item: Event) -> bool:
        """Insert the packed columns of an event that went in at ``position``, inside the
        packed range: a move of the bytes after it (C speed), where cutting back would
        pack every later event again — a late event of a busy entity lands minutes of
        events before the end. False when its value is not of the packed kind."""
        kind = self._kind
        if position < self._start or not (
            (kind == _FLOATS and type(item[2]) is float) or (kind == _NONES and item[2] is None)
        ):
            return False
        at = 8 * (position - self._start)
        self._times[at:at] = _Q.pack(item[0])
        self._seqs[at:at] = _Q.pack(item[1])
        if kind == _FLOATS:
            self._values[at:at] = _D.pack(item[2])
        self._stop += 1
        return True

    def _cut(self, position: int) -> None:
        """Keep the packed columns of ``events[_start:position]`` only."""
        keep = position - self._start
        if keep <= 0:
            self._reset(kind=self._kind if self._kind == b"" else None)
            return
        del self._times[8 * keep :]
        del self._seqs[8 * keep :]
        if self._kind == _FLOATS:
            del self._values[8 * keep :]
        self._stop = position

    def compact(self) -> int:
        dropped = super().compact()
        if dropped and self._kind:
            gone = dropped - self._start  # packed events that were dropped
            if gone > 0:
                del self._times[: 8 * gone]
                del self._seqs[: 8 * gone]
                if self._kind == _FLOATS:
                    del self._values[: 8 * gone]
            self._start = max(self._start - dropped, 0)
            self._stop = max(self._stop - dropped, 0)
        return dropped

    def encoded(self) -> bytes:
        """``encode_events(self.live())``, packing only what changed since the last call."""
        events, head = self.events, self.head
        n = len(events) - head
        if n < self.PACK_FROM or self._kind == b"":
            if n < self.PACK_FROM and self._kind is not None:
                self._reset()  # a small window keeps nothing packed, and may hold packable values again
            return encode_events(events[head:])
        if self._kind is None or self._stop <= head:
            self._reset(head)
        if self._stop < len(events) and not self._pack(events[self._stop :]):
            self._reset(kind=b"")
            return encode_events(events[head:])
        skip = 8 * (head - self._start)
        kind = self._kind
        values = self._values[skip:] if kind == _FLOATS else b""
        return b"".join((_COUNT.pack(n), self._times[skip:], self._seqs[skip:], kind, values))

    def _pack(self, new: list[Event]) -> bool:
        """Append ``new`` (the events after ``_stop``) to the packed columns; False when
        their values are not all floats or all ``None`` like those packed before."""
        k = len(new)
        flat = list(chain.from_iterable(new))
        if len(flat) != 3 * k:
            return False
        values = flat[2::3]
        kinds = set(map(type, values))
        kind = _FLOATS if kinds == _JUST_FLOAT else _NONES if kinds == _JUST_NONE else b""
        if not kind or (self._kind is not None and kind != self._kind):
            return False
        ints = int_array(k)
        if self._kind is None:  # the first pack since a reset
            self._times, self._seqs, self._values = bytearray(), bytearray(), bytearray()
        self._kind = kind
        self._times += ints.pack(*flat[0::3])
        self._seqs += ints.pack(*flat[1::3])
        if kind == _FLOATS:
            self._values += float_array(k).pack(*values)
        self._stop += k
        return True


_NOTHING = b""
_FLOATS = b"\x01"  # the value-run kinds of operators.codec.encode_values
_NONES = b"\x03"
_JUST_FLOAT = {float}
_JUST_NONE = {type(None)}
_COUNT = struct.Struct(">I")
_Q = struct.Struct(">q")  # one packed event time or seq (int_array's layout)
_D = struct.Struct(">d")  # one packed float value (float_array's layout)


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
