"""Monotonic queue: exact sliding minimum and maximum from the events that can still win.

The classic ascending-minima idea (Lemire, "Streaming maximum-minimum filter using no
more than three comparisons per element", 2006), kept per entity. An event is
*dominated* when a later event (in ``(event_time, seq)`` order) has a strictly better
value — greater for max, smaller for min: every window ``(lo, hi]`` that holds it
also holds the later one, so it can never be the answer. The queue keeps only the
undominated events: sorted by time, values non-increasing (max) or non-decreasing
(min). The answer over ``(lo, hi]`` is the first kept event after ``lo``; ties keep
the earlier event, exactly as folding the window's events in time order does, so a
read returns the very value (``0.0`` or ``-0.0``, ``1`` or ``1.0``) two-stacks and
the event log return.

For random values a window of ``n`` events keeps about ``ln n`` of them (two-stacks
keeps all ``n``): a user with 150,000 events in a 30-day window stores a dozen, which
is what makes the state small enough to write every batch.

Like sliding HyperLogLog, it answers *suffix* windows: a read ``(lo, hi]`` is exact
only when no kept event is newer than ``hi``, which :class:`operators.feature.FeatureOperator`
guarantees (see :mod:`operators.windows.sliding_hll`); :meth:`MonotonicStrategy.partial`
checks it and raises :class:`~operators.base.ReadBeforeNewestEventError` otherwise.

Values are compared with ``<``/``>``; NaN compares false with everything, so a window
holding NaN has no well-defined minimum or maximum (two-stacks and the log fold it in
different orders and can disagree too).
"""

from __future__ import annotations

import operator
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from operators.aggregations.extremes import Max, Min
from operators.base import NEG_INF, Aggregator, ReadBeforeNewestEventError
from operators.codec import (
    DECODE_ERRORS,
    StateFormatError,
    bad_version,
    check_end,
    corrupt,
    decode_events,
    encode_events,
)
from operators.windows.event_list import EventQueue, order_key
from operators.windows.two_stacks import TwoStacksStrategy

__all__ = ["MonotonicStrategy"]

#: 17: a first byte no two-stacks layout uses (they start with 2), so that two-stacks
#: state written under the same view fingerprint (before this strategy became the
#: default for min and max on exact sliding windows) is recognised and converted.
_VERSION = 17
_V = bytes((_VERSION,))
_TWO_STACKS_VERSION = b"\x02"  # operators.windows.two_stacks._VERSION


class MonotonicStrategy:
    """The undominated events of a min or max window, oldest first (see the module docstring)."""

    name = "monotonic"
    tile_aligned = False

    def __init__(self, aggregator: Aggregator) -> None:
        if type(aggregator) is Max:
            self._better: Callable[[Any, Any], bool] = operator.gt
        elif type(aggregator) is Min:
            self._better = operator.lt
        else:
            raise TypeError(f"a monotonic queue answers min or max, not {aggregator.name}")
        self.aggregator = aggregator

    def new_state(self) -> EventQueue:
        return EventQueue()

    def insert(self, state: EventQueue, event_time: int, seq: int, value: Any, bound: int) -> None:
        events = state.events
        if len(events) > state.head and events[state.head][0] <= bound:
            self.evict(state, bound)
        better = self._better
        head = state.head
        last = events[-1] if len(events) > head else None
        if last is None or event_time > last[0] or (event_time == last[0] and seq > last[1]):
            # In order (the common case): drop the newest kept events this one beats.
            while len(events) > head and better(value, events[-1][2]):
                events.pop()
            events.append((event_time, seq, value))
            return
        # Out of order: dominated if the first kept event after it is strictly better
        # (it is the best of all later events); otherwise it beats the kept events just
        # before its place whose values are strictly worse.
        position = bisect_right(events, (event_time, seq), lo=head, key=order_key)
        if position < len(events) and better(events[position][2], value):
            return
        start = position
        while start > head and better(value, events[start - 1][2]):
            start -= 1
        events[start:position] = [(event_time, seq, value)]

    def evict(self, state: EventQueue, bound: int) -> None:
        state.expire(bound)
        state.compact()

    def partial(self, state: EventQueue, lo: int, hi: int) -> Any:
        """The intermediate over ``lo < event_time <= hi`` (``hi`` at or after every kept event)."""
        events = state.events
        if len(events) > state.head and events[-1][0] > hi:
            raise ReadBeforeNewestEventError(
                f"a monotonic queue answers windows ending at or after its newest event ({events[-1][0]}); "
                f"asked for one ending at {hi}"
            )
        agg = self.aggregator
        index = state.index_after(lo)
        if index == len(events):
            return agg.init()
        event_time, seq, value = events[index]
        return agg.add(agg.init(), value, event_time, seq)

    def oldest_after(self, state: EventQueue, lo: int) -> int | None:
        # Only kept events change the answer when they leave; the first one after ``lo`` is it.
        return state.first_time_after(lo)

    def is_empty(self, state: EventQueue) -> bool:
        return not len(state)

    # -- bytes -----------------------------------------------------------------------------

    def to_bytes(self, state: EventQueue) -> bytes:
        """Version, then the kept events as columns (:func:`operators.codec.encode_events`)."""
        return _V + encode_events(state.live())

    def from_bytes(self, data: bytes) -> EventQueue:
        """Reads this strategy's layout, and two-stacks' (keeping its undominated events)."""
        if data[:1] == _TWO_STACKS_VERSION:
            return self._from_two_stacks(data)
        if data[:1] != _V:
            raise bad_version(data, _VERSION, "monotonic queue")
        try:
            events, pos = decode_events(data, 1)
        except DECODE_ERRORS as exc:
            raise corrupt("monotonic queue", exc) from exc
        check_end(data, pos, "monotonic queue")
        better = self._better
        for earlier, later in zip(events, events[1:]):
            if order_key(earlier) >= order_key(later) or better(later[2], earlier[2]):
                raise StateFormatError("monotonic queue: events out of order or dominated")
        return EventQueue(events)

    def _from_two_stacks(self, data: bytes) -> EventQueue:
        """State two-stacks wrote for the same feature: insert its events, oldest first."""
        old = TwoStacksStrategy(self.aggregator).from_bytes(data)
        state = EventQueue()
        for event_time, seq, value, _ in [*reversed(old.front), *old.back]:
            self.insert(state, event_time, seq, value, NEG_INF)
        return state
