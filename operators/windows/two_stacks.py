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
from operators.codec import Reader, Writer
from operators.windows.event_list import Event, read_events, write_events

_VERSION = 1

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

    def is_empty(self, state: TwoStacks) -> bool:
        return not state.front and not state.back

    def to_bytes(self, state: TwoStacks) -> bytes:
        w = Writer()
        w.u8(_VERSION)
        write_events(w, [(et, seq, value) for et, seq, value, _ in state.front])
        write_events(w, [(et, seq, value) for et, seq, value, _ in state.back])
        return w.getvalue()

    def from_bytes(self, data: bytes) -> TwoStacks:
        r = Reader(data)
        r.version(_VERSION, "two-stacks")
        state = TwoStacks()
        state.front = [(et, seq, value, None) for et, seq, value in read_events(r)]
        state.back = [(et, seq, value, None) for et, seq, value in read_events(r)]
        r.done()
        self._rebuild_front(state.front, 0)
        self._rebuild_back(state.back, 0)
        return state


def _insert_position(back: list[Element], key: tuple[int, int]) -> int:
    position = len(back)
    while position and _order(back[position - 1]) > key:
        position -= 1
    return position
