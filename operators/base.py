"""The two protocols every operator implements.

* :class:`Aggregator` — *what* is computed: a monoid over an explicit intermediate
  value (``init/add/merge/value``), ``retract`` where it is exact, and a compact
  versioned byte form (``to_bytes/from_bytes``). Aggregators are stateless objects;
  the intermediate values they operate on are plain Python data.
* :class:`WindowStrategy` — *how* a window's events are kept: a data structure that
  receives events, forgets events no future query can need, and answers the
  aggregate of the events in an event-time range ``(lo, hi]``.

Contracts that make streaming, backfill and serving agree bit for bit:

* ``add`` and ``retract`` may mutate ``acc`` and return it (or return a new value for
  immutable intermediates); callers always use the returned value.
* ``merge(a, b)`` is pure: it never mutates ``a`` or ``b``.
* ``WindowStrategy.partial`` returns an intermediate the caller owns (it may mutate it).
* Given the same sequence of calls, every method returns the same bits: there is no
  hidden randomness, no dependence on ``hash()`` salting and no wall clock.
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

__all__ = ["Aggregator", "WindowStrategy", "NEG_INF", "POS_INF", "ReadBeforeNewestEventError"]

A = TypeVar("A")
S = TypeVar("S")

#: Event times are int64 milliseconds; these stand for "unbounded".
NEG_INF = -(2**62)
POS_INF = 2**62


class ReadBeforeNewestEventError(ValueError):
    """A read whose upper edge is before a stored event, asked of a strategy that keeps
    only what reads at or after its newest event need (sliding HLL, monotonic queue)."""


@runtime_checkable
class Aggregator(Protocol[A]):
    """A mergeable aggregation over event values."""

    #: Short operation name used in output names, e.g. ``"sum"``.
    name: str
    #: True when :meth:`retract` exactly undoes :meth:`add` (up to float rounding).
    invertible: bool

    def init(self) -> A:
        """The intermediate value of an empty set of events."""

    def add(self, acc: A, value: Any, event_time: int, seq: int) -> A:
        """Fold one event in. ``seq`` is the entity's arrival sequence number (ties)."""

    def merge(self, a: A, b: A) -> A:
        """Combine two intermediates (``a`` holding the earlier part when order matters)."""

    def retract(self, acc: A, value: Any, event_time: int, seq: int) -> A:
        """Undo :meth:`add` of the same event. Only for ``invertible`` aggregators."""

    def value(self, acc: A) -> Any:
        """The feature value an intermediate represents."""

    def to_bytes(self, acc: A) -> bytes:
        """Compact versioned encoding of an intermediate."""

    def from_bytes(self, data: bytes) -> A:
        """Inverse of :meth:`to_bytes`; raises StateFormatError on bad input."""


class WindowStrategy(Protocol, Generic[S]):
    """A data structure holding the events of one (entity, feature)."""

    #: Strategy name used in benchmarks and the state-key fingerprint.
    name: str
    #: True when the structure can only answer queries whose upper edge ``hi`` is a
    #: tile boundary or at/after the newest event (tiles); False when it keeps every
    #: event and can cut anywhere.
    tile_aligned: bool

    def new_state(self) -> S: ...

    def insert(self, state: S, event_time: int, seq: int, value: Any, bound: int) -> None:
        """Add one accepted event (events may arrive out of event-time order).

        ``bound``: no future query covers events at or before it, so the strategy may
        forget them now or later (reads filter by range either way). When it does so
        depends only on the sequence of calls, keeping state bit-identical between
        runs that apply the same events."""

    def evict(self, state: S, bound: int) -> None:
        """Forget events with ``event_time <= bound``; no future query covers them."""

    def partial(self, state: S, lo: int, hi: int) -> Any:
        """Aggregator intermediate over events with ``lo < event_time <= hi``."""

    def is_empty(self, state: S) -> bool: ...

    # Strategies for exact sliding windows also answer
    # ``oldest_after(state, lo) -> int | None``: the oldest stored event time ``> lo``
    # (when the window's value changes next). Without it, cached values never outlive
    # the instant they were computed at (``FeatureOperator.next_change``).

    def to_bytes(self, state: S) -> bytes: ...

    def from_bytes(self, data: bytes) -> S: ...
