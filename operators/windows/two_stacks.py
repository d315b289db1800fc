"""Two-stacks sliding aggregation for operations that cannot retract (min, max, last, …).

A FIFO queue built from two stacks, each element carrying the aggregate of itself
and the elements beneath it (Tangwongsan, Hirzel & Schneider, "Sliding-window
aggregation algorithms", 2017): O(1) amortised insert and evict, and a read is one
``merge`` of two stored aggregates. Out-of-order events are inserted at their
place and the aggregates above them recomputed; for the slightly-late events a
stream carries that touches only the few newest elements.

``front`` holds the older events, newest at index 0 and oldest on top (the end);
``back`` holds the newer events, oldest at index 0 and newest on top. Stored
aggregates are a pure function of the two element lists, so a state restored from
bytes computes bit-identical values.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from operators.base import Aggregator
from operators.codec import (
    DECODE_ERRORS,
    StateFormatError,
    bad_version,
    check_end,
    corrupt,
    decode_events,
    encode_events,
)
from operators.windows.event_list import Event
from operators.windows.tiles import PLAIN_AGGREGATORS

#: 2: ``version, mode (u8)``, then the ``front`` and the ``back`` stack as event columns
#: (operators.codec.encode_events). Mode 1, for aggregators whose intermediates are plain
#: values (count, sum, min, max), stores each element's aggregate as a fourth column;
#: mode 0 stores the events only and recomputes the aggregates.
_VERSION = 2
_V = bytes((_VERSION,))
_EVENTS_ONLY = b"\x02\x00"
_WITH_AGGREGATES = b"\x02\x01"

Element = tuple[int, int, Any, Any]  # (event_time, seq, value, aggregate)


def _neg_time(element: Element) -> int:
    return -element[0]


def _time(element: Element) -> int:
    return element[0]


def _order(element: Element | Event) -> tuple[int, int]:
    return (element[0], element[1])


class TwoStacks:
    __slots__ = ("front", "back")

    def __init__(self) -> None:
        self.front: list[Element] = []
        self.back: list[Element] = []


class TwoStacksStrategy:
    name = "two_stacks"
    tile_aligned = False

    def __init__(self, aggregator: Aggregator) -> None:
        self.aggregator = aggregator

    def new_state(self) -> TwoStacks:
        return TwoStacks()

    def _lift(self, event_time: int, seq: int, value: Any) -> Any:
        agg = self.aggregator
        return agg.add(agg.init(), value, event_time, seq)

    def _rebuild_back(self, back: list[Element], start: int) -> None:
        merge = self.aggregator.merge
        for i in range(start, len(back)):
            et, seq, value, _ = back[i]
            own = self._lift(et, seq, value)
            back[i] = (et, seq, value, merge(back[i - 1][3], own) if i else own)

    def _rebuild_front(self, front: list[Element], start: int) -> None:
        merge = self.aggregator.merge
        for i in range(start, len(front)):
            et, seq, value, _ = front[i]
            own = self._lift(et, seq, value)
            front[i] = (et, seq, value, merge(own, front[i - 1][3]) if i else own)

    def insert(self, state: TwoStacks, event_time: int, seq: int, value: Any, bound: int) -> None:
        if (state.front and state.front[-1][0] <= bound) or (not state.front and state.back and state.back[0][0] <= bound):
            self.evict(state, bound)
        back, front = state.back, state.front
        key = (event_time, seq)
        if back and key >= _order(back[-1]):
            back.append((event_time, seq, value, self.aggregator.merge(back[-1][3], self._lift(event_time, seq, value))))
        elif (back and key > _order(back[0])) or not front or key > _order(front[0]):
            # Newer than everything in ``front``: its place is in ``back``.
            position = _insert_position(back, key)
            back.insert(position, (event_time, seq, value, None))
            self._rebuild_back(back, position)
        else:
            # Older than every element of ``back``: its place is in ``front`` (descending).
            position = len(front)
            while position and _order(front[position - 1]) < key:
                position -= 1
            front.insert(position, (event_time, seq, value, None))
            self._rebuild_front(front, position)

    def evict(self, state: TwoStacks, bound: int) -> None:
        while True:
            front = state.front  # re-read: a flip replaces the list
            while front and front[-1][0] <= bound:
                front.pop()
            if front or not state.back or state.back[0][0] > bound:
                return
            self._flip(state)

    def _flip(self, state: TwoStacks) -> None:
        state.front = [(et, seq, value, None) for et, seq, value, _ in reversed(state.back)]
        state.back = []
        self._rebuild_front(state.front, 0)

    def partial(self, state: TwoStacks, lo: int, hi: int) -> Any:
        front, back = state.front, state.back
        newest = back[-1][0] if back else front[0][0] if front else None
        if newest is None or newest <= lo:  # every stored event has left the window
            return self.aggregator.init()
        # Fast path: nothing in ``front`` is newer than ``hi`` and nothing in ``back`` is
        # as old as ``lo``: one stored aggregate from each stack answers the range.
        if (front and front[0][0] > hi) or (back and back[0][0] <= lo):
            return self._fold(state, lo, hi)
        agg = self.aggregator
        result = agg.init()
        if front:
            # ``front`` is newest-first: its first ``count`` elements have event_time > lo.
            count = bisect_right(front, -lo - 1, key=_neg_time)
            if count:
                result = agg.merge(result, front[count - 1][3])
        if back:
            stop = bisect_right(back, hi, key=_time)
            if stop:
                result = agg.merge(result, back[stop - 1][3])
        return result

    def _fold(self, state: TwoStacks, lo: int, hi: int) -> Any:
        agg = self.aggregator
        acc = agg.init()
        for et, seq, value, _ in [*reversed(state.front), *state.back]:
            if lo < et <= hi:
                acc = agg.add(acc, value, et, seq)
        return acc

    def oldest_after(self, state: TwoStacks, lo: int) -> int | None:
        front = state.front  # newest first; every element is older than all of ``back``
        count = bisect_right(front, -lo - 1, key=_neg_time)
        if count:
            return front[count - 1][0]
        back = state.back
        index = bisect_right(back, lo, key=_time)
        return back[index][0] if index < len(back) else None

    def is_empty(self, state: TwoStacks) -> bool:
        return not state.front and not state.back

    def to_bytes(self, state: TwoStacks) -> bytes:
        if type(self.aggregator) in PLAIN_AGGREGATORS:
            return b"".join((_WITH_AGGREGATES, encode_events(state.front, True), encode_events(state.back, True)))
        return b"".join((_EVENTS_ONLY, encode_events(state.front), encode_events(state.back)))

    def from_bytes(self, data: bytes) -> TwoStacks:
        if data[:1] != _V:
            raise bad_version(data, _VERSION, "two-stacks")
        try:
            mode = data[1]
            if mode == _WITH_AGGREGATES[1] and type(self.aggregator) in PLAIN_AGGREGATORS:
                front, pos = decode_events(data, 2, fourth=True)
                back, pos = decode_events(data, pos, fourth=True)
            elif mode == _EVENTS_ONLY[1]:
                front, pos = decode_events(data, 2, pad=True)
                back, pos = decode_events(data, pos, pad=True)
            else:
                raise StateFormatError(f"two-stacks: unknown encoding {mode} for {self.aggregator.name}")
        except DECODE_ERRORS as exc:
            raise corrupt("two-stacks", exc) from exc
        check_end(data, pos, "two-stacks")
        state = TwoStacks()
        state.front = front
        state.back = back
        if mode == _EVENTS_ONLY[1]:
            self._rebuild_front(front, 0)
            self._rebuild_back(back, 0)
        return state


def _insert_position(back: list[Element], key: tuple[int, int]) -> int:
    position = len(back)
    while position and _order(back[position - 1]) > key:
        position -= 1
    return position
