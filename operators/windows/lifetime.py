"""Lifetime: one running aggregate, never evicted. O(1) state and time."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from itertools import repeat
from typing import Any

from operators.base import Aggregator
from operators.codec import DECODE_ERRORS, bad_version, check_end, corrupt, decode_varints, encode_varints

#: 2 (stop 39): the event count as a varint, then the aggregate (the rest of the blob).
#: 1 (still read): the count as an int64 and the aggregate after a u32 length.
_VERSION = 2
_V = bytes((_VERSION,))
_V1 = b"\x01"
_HEAD_V1 = struct.Struct(">BqI")  # version, events, aggregate blob size


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
        self._counts = getattr(aggregator, "step", None) == "one"  # acc + 1 per event: an int

    def new_state(self) -> Running:
        return Running(self.aggregator.init())

    def insert(self, state: Running, event_time: int, seq: int, value: Any, bound: int) -> None:
        state.acc = self.aggregator.add(state.acc, value, event_time, seq)
        state.events += 1

    def insert_run(
        self, state: Running, times: Sequence[int], seqs: Sequence[int], values: Sequence[Any] | None, bounds: Any
    ) -> None:
        """``insert`` per event, in order; a count adds the run's length in one step."""
        if self._counts:
            state.acc += len(times)
        else:
            add = self.aggregator.add
            acc = state.acc
            for event_time, seq, value in zip(times, seqs, repeat(None) if values is None else values):
                acc = add(acc, value, event_time, seq)
            state.acc = acc
        state.events += len(times)

    def evict(self, state: Running, bound: int) -> None:
        return None

    def partial(self, state: Running, lo: int, hi: int) -> Any:
        agg = self.aggregator
        return agg.merge(agg.init(), state.acc)

    def is_empty(self, state: Running) -> bool:
        return state.events == 0

    def to_bytes(self, state: Running) -> bytes:
        return b"".join((_V, encode_varints((state.events,)), self.aggregator.to_bytes(state.acc)))

    def from_bytes(self, data: bytes) -> Running:
        version = data[:1]
        try:
            if version == _V:
                (events,), start = decode_varints(data, 1, 1)
            elif version == _V1:
                _, events, size = _HEAD_V1.unpack_from(data, 0)
                start = _HEAD_V1.size
                check_end(data, start + size, "lifetime")
            else:
                raise bad_version(data, _VERSION, "lifetime")
        except DECODE_ERRORS as exc:
            raise corrupt("lifetime", exc) from exc
        return Running(self.aggregator.from_bytes(data[start:]), events)
