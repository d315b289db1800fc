"""Lifetime: one running aggregate, never evicted. O(1) state and time."""

from __future__ import annotations

from typing import Any

from operators.base import Aggregator
from operators.codec import Reader, Writer

_VERSION = 1


class Running:
    __slots__ = ("acc", "events")

    def __init__(self, acc: Any, events: int = 0) -> None:
        self.acc = acc
        self.events = events


class LifetimeStrategy:
    """Callers guarantee every inserted event is inside any later query's range
    (the feature operator keeps still-needed recent events aside until then)."""

    name = "lifetime"
    tile_aligned = False

    def __init__(self, aggregator: Aggregator) -> None:
        self.aggregator = aggregator

    def new_state(self) -> Running:
        return Running(self.aggregator.init())

    def insert(self, state: Running, event_time: int, seq: int, value: Any, bound: int) -> None:
        state.acc = self.aggregator.add(state.acc, value, event_time, seq)
        state.events += 1

    def evict(self, state: Running, bound: int) -> None:
        return None

    def partial(self, state: Running, lo: int, hi: int) -> Any:
        agg = self.aggregator
        return agg.merge(agg.init(), state.acc)

    def is_empty(self, state: Running) -> bool:
        return state.events == 0

    def to_bytes(self, state: Running) -> bytes:
        w = Writer()
        w.u8(_VERSION)
        w.i64(state.events)
        w.blob(self.aggregator.to_bytes(state.acc))
        return w.getvalue()

    def from_bytes(self, data: bytes) -> Running:
        r = Reader(data)
        r.version(_VERSION, "lifetime")
        events = r.i64()
        state = Running(self.aggregator.from_bytes(r.blob()), events)
        r.done()
        return state
