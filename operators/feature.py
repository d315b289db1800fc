"""One feature of one entity: a window strategy plus the rules of ``docs/semantics.md``.

:class:`FeatureOperator` combines an aggregator, a window strategy, the window's
coverage and an optional refresh cadence into the per-(entity, feature) state
machine that streaming, backfill and serving all run:

* events whose event time is still within reach of a future query's *upper* edge
  (future-dated events, and for refreshed features everything newer than
  ``now - (every + lag)``) wait in a small sorted ``pending`` list and move into the
  strategy once ``now`` has passed them, so strategies only ever cut at their old edge;
* before an event arriving after a publication instant ``b + lag`` is applied, the
  value as of boundary ``b`` is sealed into a snapshot, so reads of refreshed
  features never see later arrivals;
* events no future query can cover are evicted.

Reads (:meth:`FeatureOperator.read`) never mutate state and are valid for any
``t`` at or after the entity's newest applied arrival.
"""

from __future__ import annotations

import struct
from bisect import insort
from collections.abc import Callable, Sequence
from itertools import count, repeat
from operator import sub
from typing import Any

from operators.base import NEG_INF, POS_INF, Aggregator, WindowStrategy
from operators.codec import (
    DECODE_ERRORS,
    StateFormatError,
    bad_version,
    check_end,
    corrupt,
    decode_events,
    encode_blob,
    encode_events,
    encode_length,
    read_blob,
    read_length,
)
from operators.windows.coverage import (
    Coverage,
    HoppingCoverage,
    LifetimeCoverage,
    Refresh,
    SlidingCoverage,
    TiledCoverage,
)
from operators.windows.event_list import Event

#: 3 (stop 39): the strategy's blob after a varint length, then one byte: 0 when nothing
#: is pending and no snapshot is sealed (most features, most of the time), else 1 and the
#: version-2 tail. 2 (still read): a u32 length and the tail always (pending events as
#: columns, operators.codec.encode_events; the int64 `sealed_at`; the snapshot's blob).
_VERSION = 3
_V = bytes((_VERSION,))
_V2 = b"\x02"
_HEAD_V2 = struct.Struct(">BI")  # version, strategy blob size
_Q = struct.Struct(">q")
_BARE_TAIL_V2 = encode_events(()) + _Q.pack(NEG_INF)  # nothing pending, no snapshot
_BARE = b"\x00"
_TAIL = b"\x01"


class ReadBeforeStateError(ValueError):
    """A read as of a time before the state's newest sealed publication."""


def _order_key(item: Event) -> tuple[int, int]:
    return (item[0], item[1])


class FeatureState:
    """Mutable state of one feature of one entity."""

    __slots__ = ("main", "pending", "sealed_at", "sealed")

    def __init__(self, main: Any) -> None:
        self.main = main
        self.pending: list[Event] | None = None
        self.sealed_at = NEG_INF  # boundary of the sealed snapshot, NEG_INF when none
        self.sealed: Any = None


class FeatureOperator:
    """Runtime of one compiled feature."""

    __slots__ = (
        "name",
        "field",
        "aggregator",
        "strategy",
        "coverage",
        "refresh",
        "_query_horizon",
        "_pending_horizon",
        "add",
        "add_run",
        "read_until",
    )

    def __init__(
        self,
        *,
        name: str,
        field: str | None,
        aggregator: Aggregator,
        strategy: WindowStrategy,
        coverage: Coverage,
        refresh: Refresh | None = None,
    ) -> None:
        self.name = name
        self.field = field
        self.aggregator = aggregator
        self.strategy = strategy
        self.coverage = coverage
        self.refresh = refresh
        # Reads can ask for any boundary down to ``now - horizon``.
        self._query_horizon = refresh.horizon if refresh is not None else 0
        # Tiles cut exactly at tile boundaries, which every boundary read is (the
        # definitions enforce ``every % tile == 0``); other strategies need events newer
        # than the oldest possible boundary kept aside.
        self._pending_horizon = 0 if strategy.tile_aligned else self._query_horizon
        #: Apply one accepted event that arrived at ``now`` (non-decreasing per entity):
        #: ``add(state, event_time, seq, value, now)``.
        self.add: Callable[[FeatureState, int, int, Any, int], None] = self._build_add()
        #: Apply a run of one entity's accepted events, in arrival order:
        #: ``add_run(state, event_times, first_seq, values, nows)`` — ``add`` per event with
        #: seqs ``first_seq, first_seq + 1, ...`` (``values`` ``None``: all ``None``), bit for bit.
        self.add_run: Callable[[FeatureState, Sequence[int], int, Sequence[Any] | None, Sequence[int]], None] = (
            self._build_add_run()
        )
        #: ``(read(state, t), next_change(state, t))`` in one call — what publishing values
        #: with their span needs: ``read_until(state, t)``.
        self.read_until: Callable[[FeatureState, int], tuple[Any, int]] = self._build_read_until()

    # -- updates ---------------------------------------------------------------------------

    def new_state(self) -> FeatureState:
        return FeatureState(self.strategy.new_state())

    def _seal(self, state: FeatureState, now: int) -> None:
        """Freeze the value of the newest boundary published before ``now``, if not yet done."""
        sealed = self.refresh.sealed_boundary(now)  # type: ignore[union-attr]
        if sealed > state.sealed_at:
            state.sealed = self._partial(state, sealed)
            state.sealed_at = sealed

    def _add_slow(self, state: FeatureState, event_time: int, seq: int, value: Any, now: int) -> None:
        """Apply one accepted event: the general path (see :meth:`_build_add`)."""
        if self.refresh is not None:
            self._seal(state, now)
        settled = now - self._pending_horizon
        bound = self.coverage.lo(now - self._query_horizon)
        pending = state.pending
        if pending:
            self._promote(state.main, pending, settled, bound)
        if event_time > settled:
            if pending is None:
                state.pending = pending = []
            insort(pending, (event_time, seq, value), key=_order_key)
        elif event_time > bound:
            self.strategy.insert(state.main, event_time, seq, value, bound)

    def _promote(self, main: Any, pending: list[Event], settled: int, bound: int) -> None:
        """Move pending events that ``now`` has passed into the strategy, oldest first."""
        count = 0
        insert = self.strategy.insert
        for event_time, seq, value in pending:
            if event_time > settled:
                break
            if event_time > bound:
                insert(main, event_time, seq, value, bound)
            count += 1
        if count:
            del pending[:count]

    def _build_add(self) -> Callable[[FeatureState, int, int, Any, int], None]:
        """The hot path of :meth:`add`, specialised per coverage and strategy.

        Events that are not future-dated, on a state with nothing pending, go straight
        to the strategy with an inline eviction bound; tiles of counts and sums update
        in place. Everything else takes :meth:`_add_slow`. Streaming, backfill, per-event
        and batch application all call this same function, so they agree bit for bit.
        """
        slow = self._add_slow
        refresh = self.refresh
        if refresh is not None and not self.strategy.tile_aligned:
            return slow
        insert = self.strategy.insert
        coverage = self.coverage
        seal = self._seal
        every, lag = (refresh.every, refresh.lag) if refresh is not None else (0, 0)
        if isinstance(coverage, LifetimeCoverage):

            def add_lifetime(state: FeatureState, event_time: int, seq: int, value: Any, now: int) -> None:
                if event_time > now or state.pending:
                    slow(state, event_time, seq, value, now)
                else:
                    insert(state.main, event_time, seq, value, NEG_INF)

            return add_lifetime if refresh is None else slow
        if isinstance(coverage, SlidingCoverage):
            size = coverage.size

            def add_sliding(state: FeatureState, event_time: int, seq: int, value: Any, now: int) -> None:
                if event_time > now or state.pending:
                    slow(state, event_time, seq, value, now)
                elif event_time > now - size:
                    insert(state.main, event_time, seq, value, now - size)

            return add_sliding
        # Tiles (sliding-tiled, hopping, tumbling): the strategy is TilesStrategy, whose
        # tile equals the coverage's tile or hop, so the eviction bound is inline arithmetic.
        strategy = self.strategy
        tile = strategy.tile
        size = coverage.size
        round_up = isinstance(coverage, TiledCoverage)  # hopping rounds down
        horizon = self._query_horizon
        step = getattr(self.aggregator, "step", None)  # "one" (count) / "value" (sum) / None
        agg_add = self.aggregator.add
        agg_init = self.aggregator.init
        evict = strategy.evict

        def add_tiles(state: FeatureState, event_time: int, seq: int, value: Any, now: int) -> None:
            if event_time > now or state.pending:
                slow(state, event_time, seq, value, now)
                return
            if every and ((now - lag - 1) // every) * every > state.sealed_at:
                seal(state, now)
            main = state.main
            tiles = main.tiles
            index = (event_time - 1) // tile
            acc = tiles.get(index)
            if acc is not None:
                if step == "one":
                    tiles[index] = acc + 1
                elif step == "value":
                    tiles[index] = acc + value
                else:
                    tiles[index] = agg_add(acc, value, event_time, seq)
                return
            # A new tile (TilesStrategy.insert, inlined): skip it if already expired,
            # and forget expired tiles now.
            t = now - horizon
            bound = (-((-t) // tile) if round_up else t // tile) * tile - size
            if event_time <= bound:
                return
            if step == "one":
                tiles[index] = 1
            elif step == "value":
                tiles[index] = agg_init() + value
            else:
                tiles[index] = agg_add(agg_init(), value, event_time, seq)
            oldest = main.oldest
            if oldest is None or index < oldest:
                main.oldest = index
            elif oldest < bound // tile:
                evict(main, bound)

        return add_tiles

    def _build_add_run(self) -> Callable[[FeatureState, Sequence[int], int, Sequence[Any] | None, Sequence[int]], None]:
        """:attr:`add_run`: where :meth:`_build_add` would go straight to the strategy for
        every event of the run (nothing pending, none future-dated, no refresh cadence, a
        lifetime or sliding coverage), the run goes to the strategy in one call
        (``insert_run`` when it has one); otherwise ``add`` per event."""
        add = self.add

        def add_each(
            state: FeatureState, times: Sequence[int], seq: int, values: Sequence[Any] | None, nows: Sequence[int]
        ) -> None:
            for s, event_time, value, now in zip(count(seq), times, repeat(None) if values is None else values, nows):
                add(state, event_time, s, value, now)

        coverage = self.coverage
        if self.refresh is not None or not isinstance(coverage, (LifetimeCoverage, SlidingCoverage)):
            return add_each
        strategy = self.strategy
        insert_run = getattr(strategy, "insert_run", None)
        if insert_run is None:
            insert = strategy.insert

            def insert_run(
                main: Any, times: Sequence[int], seqs: Sequence[int], values: Sequence[Any] | None, bounds: Sequence[int]
            ) -> None:
                for event_time, s, value, bound in zip(times, seqs, repeat(None) if values is None else values, bounds):
                    insert(main, event_time, s, value, bound)

        if isinstance(coverage, LifetimeCoverage):

            def add_run_lifetime(
                state: FeatureState, times: Sequence[int], seq: int, values: Sequence[Any] | None, nows: Sequence[int]
            ) -> None:
                if state.pending or max(map(sub, times, nows)) > 0:
                    add_each(state, times, seq, values, nows)
                else:
                    insert_run(state.main, times, range(seq, seq + len(times)), values, repeat(NEG_INF))

            return add_run_lifetime
        size = coverage.size

        def add_run_sliding(
            state: FeatureState, times: Sequence[int], seq: int, values: Sequence[Any] | None, nows: Sequence[int]
        ) -> None:
            ages = list(map(sub, times, nows))  # event time - now: > 0 future-dated, <= -size already expired
            if state.pending or max(ages) > 0:
                add_each(state, times, seq, values, nows)
                return
            bounds = [now - size for now in nows]
            seqs: Sequence[int] = range(seq, seq + len(times))
            if min(ages) <= -size:  # drop the events already out of every window, as add does
                kept = [i for i, age in enumerate(ages) if age > -size]
                times = [times[i] for i in kept]
                seqs = [seqs[i] for i in kept]
                values = None if values is None else [values[i] for i in kept]
                bounds = [bounds[i] for i in kept]
                if not kept:
                    return
            insert_run(state.main, times, seqs, values, bounds)

        return add_run_sliding

    # -- reads -----------------------------------------------------------------------------

    def _partial(self, state: FeatureState, t: int) -> Any:
        lo, hi = self.coverage.bounds(t)
        acc = self.strategy.partial(state.main, lo, hi)
        if state.pending:
            add = self.aggregator.add
            for event_time, seq, value in state.pending:
                if lo < event_time <= hi:
                    acc = add(acc, value, event_time, seq)
        return acc

    def intermediate(self, state: FeatureState, t: int) -> Any:
        """The aggregator intermediate the feature shows at ``t``."""
        refresh = self.refresh
        if refresh is None:
            return self._partial(state, t)
        boundary = refresh.boundary(t)
        if boundary == state.sealed_at:
            return self.aggregator.merge(self.aggregator.init(), state.sealed)
        if boundary > state.sealed_at:
            return self._partial(state, boundary)
        raise ReadBeforeStateError(
            f"feature {self.name!r}: read at {t} needs boundary {boundary}, "
            f"but the state has already sealed boundary {state.sealed_at}"
        )

    def read(self, state: FeatureState, t: int) -> Any:
        """The feature value as of ``t`` (``t`` >= the entity's newest applied arrival)."""
        return self.aggregator.value(self.intermediate(state, t))

    def next_change(self, state: FeatureState, t: int) -> int:
        """The earliest time after ``t`` at which :meth:`read` may answer differently from
        its answer at ``t`` if no event arrives meanwhile; ``POS_INF`` when never.

        Conservative: it may come before the true change, never after it, so a value
        read at ``t`` can be served unchanged for any time in ``[t, next_change)``.
        ``t`` as for :meth:`read`.
        """
        refresh = self.refresh
        if refresh is not None:  # constant between publication instants
            return refresh.boundary(t) + refresh.every + refresh.lag
        coverage = self.coverage
        if isinstance(coverage, HoppingCoverage):  # constant until the next window ends
            return (t // coverage.hop + 1) * coverage.hop
        pending = state.pending or ()
        entering = next((event_time for event_time, _, _ in pending if event_time > t), POS_INF)
        if isinstance(coverage, LifetimeCoverage):
            return entering
        if isinstance(coverage, TiledCoverage):  # the old edge moves past a tile boundary
            return min(entering, -((-t) // coverage.tile) * coverage.tile + 1)
        lo = coverage.lo(t)
        leaving = next((event_time for event_time, _, _ in pending if event_time > lo), None)
        oldest_after = getattr(self.strategy, "oldest_after", None)
        if oldest_after is None:
            return t + 1  # a strategy that cannot tell: no promise beyond t
        stored = oldest_after(state.main, lo)
        if stored is not None and (leaving is None or stored < leaving):
            leaving = stored
        if leaving is not None and leaving + coverage.size < entering:
            return leaving + coverage.size  # the oldest event in the window leaves it
        return entering

    def _read_until(self, state: FeatureState, t: int) -> tuple[Any, int]:
        """:attr:`read_until`, the general path."""
        return self.read(state, t), self.next_change(state, t)

    def _build_read_until(self) -> Callable[[FeatureState, int], tuple[Any, int]]:
        """The hot path of :attr:`read_until`, specialised per coverage like :meth:`_build_add`:
        without a refresh cadence and with nothing pending, the window's bounds, the
        strategy's partial aggregate and the next change come from one inline computation
        (the same arithmetic as :meth:`read` and :meth:`next_change`, which the tests
        compare it with). Everything else takes the general path."""
        general = self._read_until
        coverage = self.coverage
        if self.refresh is not None or isinstance(coverage, HoppingCoverage):
            return general
        partial = self.strategy.partial
        value = self.aggregator.value
        if isinstance(coverage, LifetimeCoverage):

            def read_lifetime(state: FeatureState, t: int) -> tuple[Any, int]:
                if state.pending:
                    return general(state, t)
                return value(partial(state.main, NEG_INF, t)), POS_INF

            return read_lifetime
        size = coverage.size
        if isinstance(coverage, TiledCoverage):
            tile = coverage.tile

            def read_tiled(state: FeatureState, t: int) -> tuple[Any, int]:
                if state.pending:
                    return general(state, t)
                edge = -((-t) // tile) * tile  # the old edge moves past the next tile boundary
                return value(partial(state.main, edge - size, t)), edge + 1

            return read_tiled
        oldest_after = getattr(self.strategy, "oldest_after", None)
        if oldest_after is None:
            return general
        # A strategy may answer the value without building the partial aggregate.
        read_value = getattr(self.strategy, "read_value", None) or (lambda main, lo, hi: value(partial(main, lo, hi)))

        def read_sliding(state: FeatureState, t: int) -> tuple[Any, int]:
            if state.pending:
                return general(state, t)
            main = state.main
            lo = t - size
            oldest = oldest_after(main, lo)  # the oldest event in the window leaves it
            return read_value(main, lo, t), POS_INF if oldest is None else oldest + size

        return read_sliding

    def empty_value(self) -> Any:
        return self.aggregator.value(self.aggregator.init())

    # -- bytes -----------------------------------------------------------------------------

    def to_bytes(self, state: FeatureState) -> bytes:
        main = self.strategy.to_bytes(state.main)
        sealed_at = state.sealed_at
        if sealed_at == NEG_INF and not state.pending:
            return b"".join((_V, encode_length(len(main)), main, _BARE))
        parts = [_V, encode_length(len(main)), main, _TAIL, encode_events(state.pending or ()), _Q.pack(sealed_at)]
        if sealed_at != NEG_INF:
            parts.append(encode_blob(self.aggregator.to_bytes(state.sealed)))
        return b"".join(parts)

    def from_bytes(self, data: bytes) -> FeatureState:
        version = data[:1]
        what = f"feature {self.name!r}"
        try:
            if version == _V:
                size, start = read_length(data, 1, what)
            elif version == _V2:
                size, start = _HEAD_V2.unpack_from(data, 0)[1], _HEAD_V2.size
            else:
                raise bad_version(data, _VERSION, what)
        except DECODE_ERRORS as exc:
            raise corrupt(what, exc) from exc
        end = start + size
        if end > len(data):
            left = len(data) - start
            raise StateFormatError(f"{what}: truncated state: a strategy blob of {size} bytes, {left} left")
        tail = data[end:]
        if tail == (_BARE if version == _V else _BARE_TAIL_V2):  # the common case: nothing pending, no snapshot
            return FeatureState(self.strategy.from_bytes(data[start:end]))
        pos = end
        if version == _V:
            if tail[:1] != _TAIL:
                raise StateFormatError(f"{what}: corrupt state (tail marker {bytes(tail[:1])!r})")
            pos += 1
        try:
            pending, pos = decode_events(data, pos)
            sealed_at = _Q.unpack_from(data, pos)[0]
            pos += 8
            sealed = None
            if sealed_at != NEG_INF:
                if self.refresh is None:
                    raise StateFormatError(f"{what} has no refresh but its state holds a snapshot")
                sealed, pos = read_blob(data, pos)
        except DECODE_ERRORS as exc:
            raise corrupt(what, exc) from exc
        check_end(data, pos, what)
        state = FeatureState(self.strategy.from_bytes(data[start:end]))
        state.pending = pending or None
        state.sealed_at = sealed_at
        if sealed is not None:
            state.sealed = self.aggregator.from_bytes(sealed)
        return state
