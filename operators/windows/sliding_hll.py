"""Sliding HyperLogLog: HyperLogLog over an exact sliding window, cheap to read.

Chabchoub & Hébrail, "Sliding HyperLogLog: Estimating cardinality in a data stream
over a sliding window", IEEE ICDM Workshops 2010. Per register, keep the *staircase*
of ``(event_time, rank)`` pairs that no other pair dominates (a pair is dominated
by one with a later-or-equal time and a greater-or-equal rank): sorted by time,
ranks strictly decreasing. The register's value over the events after ``lo`` is
the rank of the first pair later than ``lo`` — exactly the maximum rank over
those events, so a read builds the very registers the exact event log folds.

That answers *suffix* windows ``(lo, +inf)``: a read ``(lo, hi]`` is exact only when
no stored event is newer than ``hi``. :class:`operators.feature.FeatureOperator`
guarantees it (future-dated events, and for refreshed features everything newer
than the oldest boundary a read can ask for, wait in its ``pending`` list, and reads
come at or after the newest arrival); :meth:`SlidingHllStrategy.partial` checks it and
raises :class:`ReadBeforeNewestEventError` rather than answer wrong.

Reads cost O(registers whose best pair has expired by ``lo``), not O(m) or
O(events): the state keeps each register's current maximum (its head pair's rank,
all pairs at or before the last eviction bound being gone) and the harmonic sum
over them (``Registers.units``), plus a min-heap of the registers keyed by their
head pair's time. A read copies the maxima (one C-level dict copy) and corrects
only the registers whose head is at or before ``lo``, found by walking the heap
without popping it. Inserting an event touches one staircase (O(1) amortised for
in-order events) and evicts lazily: heads at or before ``bound`` are popped then.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from heapq import heapify, heappop, heappush
from itertools import chain, repeat
from operator import floordiv, itemgetter
from typing import Any

from operators.aggregations.hll import RANK_WEIGHTS, ApproxCountDistinct, Registers, hash64
from operators.base import NEG_INF, Aggregator, ReadBeforeNewestEventError
from operators.codec import (
    DECODE_ERRORS,
    StateFormatError,
    bad_version,
    check_end,
    corrupt,
    decode_events,
    int_array,
)

__all__ = ["ReadBeforeNewestEventError", "SlidingHllState", "SlidingHllStrategy"]

#: 16: a first byte no ExactLogStrategy layout uses, so that event-log state written
#: under the same view fingerprint (before this strategy became the default for
#: ``ApproxDistinct`` on exact sliding windows) is recognised and converted.
_VERSION = 16
_V = bytes((_VERSION,))
_EXACT_LOG_VERSION = 2  # operators.windows.exact_log._VERSION
_HEAD = struct.Struct(">BBqI")  # version, precision, newest event time, registers

#: Heap keys pack ``(head_time, register)`` into one int: ``head_time << 16 | register``
#: (registers < 2**16), ordered as the pair is.
_REGISTER_BITS = 16
_REGISTER_MASK = (1 << _REGISTER_BITS) - 1
_EMPTY_WEIGHT = RANK_WEIGHTS[0]
#: ``to_bytes`` keeps packed bytes per block of registers from this many registers on.
PACK_FROM = 64
#: Registers per packed block: 16. A busy entity changes a few registers between two
#: encodings, each costing its whole block; smaller blocks repack less but hold more
#: byte strings (measured: 220 B of tuple, bytes headers and dict slot per block beside
#: the packed bytes; 42,508 blocks in 334 entities after 300,000 W1 events).
_BLOCK_BITS = 4
_BLOCK = 1 << _BLOCK_BITS


def _pack_registers(stairs: dict[int, list[int]], order: list[int]) -> tuple[bytes, bytes, bytes, bytes]:
    """The four encoded columns of the registers ``order`` (sorted): u16 indices, u8 pair
    counts, int64 pair times and u8 ranks."""
    lists = list(map(stairs.__getitem__, order))
    flat = list(chain.from_iterable(lists))
    return (
        struct.pack(f">{len(order)}H", *order),
        bytes(map(floordiv, map(len, lists), repeat(2))),
        int_array(len(flat) // 2).pack(*flat[0::2]),
        bytes(flat[1::2]),
    )


def _none_expired(heads: list[int], lo: int) -> bool:
    """Whether no register's head pair is at or before ``lo`` (the heap's top is after it):
    the registers over ``(lo, +inf)`` are then the current maxima."""
    return not heads or heads[0] > lo << _REGISTER_BITS | _REGISTER_MASK


def _expired_registers(heads: list[int], limit: int) -> set[int]:
    """Registers of the heap keys ``<= limit`` (heads at or before the read's ``lo``).

    Walks the heap's subtrees of such keys (a key above ``limit`` has only larger keys
    below it), so few expired heads cost few steps; once they are a sixteenth of the heap,
    a flat scan is cheaper than the walk."""
    expired: set[int] = set()
    size = len(heads)
    budget = size // 16 + 1
    todo = [0]
    while todo:
        i = todo.pop()
        key = heads[i]
        if key <= limit:
            expired.add(key & _REGISTER_MASK)
            budget -= 1
            if not budget:
                return {key & _REGISTER_MASK for key in heads if key <= limit}
            child = 2 * i + 1
            if child < size:
                todo.append(child)
                if child + 1 < size:
                    todo.append(child + 1)
    return expired


class SlidingHllState:
    """Staircases of one entity's window, and what reads need from them.

    * ``stairs``: register -> flat ``[t0, r0, t1, r1, ...]``, times strictly increasing,
      ranks strictly decreasing (non-empty lists only);
    * ``maxima``: register -> rank of its head pair ``r0`` (same keys as ``stairs``);
    * ``units``: harmonic sum of ``maxima`` over all ``m`` registers (``Registers.units``);
    * ``heads``: min-heap of ``t0 << 16 | register``; holds the current head of every
      register, and possibly stale keys of former heads (skipped when popped);
    * ``newest``: the newest event time ever inserted (``NEG_INF`` when none);
    * ``blocks``: block (``register >> 6``) -> its registers' four encoded columns
      (indices, pair counts, times, ranks), for blocks not in ``changed``. ``to_bytes``
      repacks only what changed: a busy entity touches a few of its thousands of
      registers per batch. States with fewer than ``PACK_FROM`` registers keep nothing
      packed (both ``None``): most entities, for which it would cost memory and save nothing.
    """

    __slots__ = ("blocks", "changed", "heads", "maxima", "newest", "stairs", "units")

    def __init__(self, m: int) -> None:
        self.stairs: dict[int, list[int]] = {}
        self.maxima: dict[int, int] = {}
        self.units = m * _EMPTY_WEIGHT
        self.heads: list[int] = []
        self.newest = NEG_INF
        self.blocks: dict[int, tuple[bytes, bytes, bytes, bytes]] | None = None  # None: nothing packed
        self.changed: set[int] | None = None


class SlidingHllStrategy:
    """HyperLogLog staircases per register; ``partial`` returns :class:`Registers`."""

    name = "sliding_hll"
    tile_aligned = False

    def __init__(self, aggregator: Aggregator) -> None:
        if not isinstance(aggregator, ApproxCountDistinct):
            raise TypeError(f"sliding HyperLogLog keeps HyperLogLog registers, not {type(aggregator).__name__}")
        self.aggregator = aggregator
        self.precision = aggregator.precision
        self._m = aggregator.registers
        self._shift = 64 - aggregator.precision
        self._mask = (1 << self._shift) - 1

    def new_state(self) -> SlidingHllState:
        return SlidingHllState(self._m)

    # -- updates ---------------------------------------------------------------------------

    def insert(self, state: SlidingHllState, event_time: int, seq: int, value: Any, bound: int) -> None:
        heads = state.heads
        if heads and heads[0] >> _REGISTER_BITS <= bound:
            self.evict(state, bound)
        if event_time <= bound:  # no read can cover it
            return
        if event_time > state.newest:  # noqa: PLR1730 (hot path: a compare, not a call)
            state.newest = event_time
        h = hash64(value)
        index = h >> self._shift
        rank = self._shift - (h & self._mask).bit_length() + 1
        stair = state.stairs.get(index)
        if stair is None:
            state.stairs[index] = [event_time, rank]
            if state.changed is not None:
                state.changed.add(index >> _BLOCK_BITS)
            state.maxima[index] = rank
            state.units += RANK_WEIGHTS[rank] - _EMPTY_WEIGHT
            heappush(heads, event_time << _REGISTER_BITS | index)
            return
        # i: the first pair at or after event_time (flat index; len(stair) when none).
        i = len(stair)
        while i and stair[i - 2] >= event_time:
            i -= 2
        end = i
        if i < len(stair):
            if stair[i + 1] >= rank:
                return  # dominated by a pair at least as late with at least this rank
            if stair[i] == event_time:
                end = i + 2  # same time, lower rank: dominated by the new pair
        # k: the first pair before i that the new one does not dominate, plus one.
        k = i
        while k and stair[k - 1] <= rank:
            k -= 2
        old_head_time = stair[0]
        stair[k:end] = (event_time, rank)
        if state.changed is not None:
            state.changed.add(index >> _BLOCK_BITS)
        if k == 0:  # a new head
            old = state.maxima[index]
            if rank != old:
                state.maxima[index] = rank
                state.units += RANK_WEIGHTS[rank] - RANK_WEIGHTS[old]
            if event_time != old_head_time:
                heappush(heads, event_time << _REGISTER_BITS | index)
                if len(heads) > 2 * len(state.stairs) + 16:  # mostly former heads: rebuild
                    heads[:] = [stair[0] << _REGISTER_BITS | j for j, stair in state.stairs.items()]
                    heapify(heads)

    def insert_run(
        self, state: SlidingHllState, times: Sequence[int], seqs: Sequence[int], values: Sequence[Any] | None,
        bounds: Sequence[int],
    ) -> None:
        """``insert`` per event, in order: the same steps with the state's attributes looked
        up once per run, for a busy entity's events in a batch (applying 1M W1 events in
        50,000-event batches, two alternating runs: 12.6 / 13.1 -> 11.4 / 11.5 µs per event
        for all 7 example features). Single events keep ``insert``: wrapping them in a run
        cost more than it saved (12.6 -> 14.0 µs per event in 120-event batches)."""
        heads, stairs, maxima, changed = state.heads, state.stairs, state.maxima, state.changed
        shift, mask = self._shift, self._mask
        for event_time, value, bound in zip(times, repeat(None) if values is None else values, bounds):
            if heads and heads[0] >> _REGISTER_BITS <= bound:
                self.evict(state, bound)
            if event_time <= bound:  # no read can cover it
                continue
            if event_time > state.newest:  # noqa: PLR1730 (hot path: a compare, not a call)
                state.newest = event_time
            h = hash64(value)
            index = h >> shift
            rank = shift - (h & mask).bit_length() + 1
            stair = stairs.get(index)
            if stair is None:
                stairs[index] = [event_time, rank]
                if changed is not None:
                    changed.add(index >> _BLOCK_BITS)
                maxima[index] = rank
                state.units += RANK_WEIGHTS[rank] - _EMPTY_WEIGHT
                heappush(heads, event_time << _REGISTER_BITS | index)
                continue
            # i: the first pair at or after event_time (flat index; len(stair) when none).
            i = len(stair)
            while i and stair[i - 2] >= event_time:
                i -= 2
            end = i
            if i < len(stair):
                if stair[i + 1] >= rank:
                    continue  # dominated by a pair at least as late with at least this rank
                if stair[i] == event_time:
                    end = i + 2  # same time, lower rank: dominated by the new pair
            # k: the first pair before i that the new one does not dominate, plus one.
            k = i
            while k and stair[k - 1] <= rank:
                k -= 2
            old_head_time = stair[0]
            stair[k:end] = (event_time, rank)
            if changed is not None:
                changed.add(index >> _BLOCK_BITS)
            if k == 0:  # a new head
                old = maxima[index]
                if rank != old:
                    maxima[index] = rank
                    state.units += RANK_WEIGHTS[rank] - RANK_WEIGHTS[old]
                if event_time != old_head_time:
                    heappush(heads, event_time << _REGISTER_BITS | index)
                    if len(heads) > 2 * len(stairs) + 16:  # mostly former heads: rebuild
                        heads[:] = [stair[0] << _REGISTER_BITS | j for j, stair in stairs.items()]
                        heapify(heads)

    def evict(self, state: SlidingHllState, bound: int) -> None:
        """Drop pairs with ``event_time <= bound``: pop heads in time order."""
        heads, stairs, maxima = state.heads, state.stairs, state.maxima
        limit = bound << _REGISTER_BITS | _REGISTER_MASK
        while heads and heads[0] <= limit:
            key = heappop(heads)
            index = key & _REGISTER_MASK
            stair = stairs.get(index)
            if stair is None or stair[0] != key >> _REGISTER_BITS:
                continue  # a former head
            k = 2
            while k < len(stair) and stair[k] <= bound:
                k += 2
            old = maxima[index]
            if state.changed is not None:
                state.changed.add(index >> _BLOCK_BITS)
            if k == len(stair):
                del stairs[index]
                del maxima[index]
                state.units += _EMPTY_WEIGHT - RANK_WEIGHTS[old]
            else:
                del stair[:k]
                new = stair[1]
                maxima[index] = new
                state.units += RANK_WEIGHTS[new] - RANK_WEIGHTS[old]
                heappush(heads, stair[0] << _REGISTER_BITS | index)

    # -- reads -----------------------------------------------------------------------------

    def partial(self, state: SlidingHllState, lo: int, hi: int) -> Registers:
        """The registers over ``lo < event_time <= hi`` (``hi`` at or after every stored event)."""
        if hi < state.newest:
            raise ReadBeforeNewestEventError(
                f"sliding HyperLogLog answers windows ending at or after its newest event "
                f"({state.newest}); asked for one ending at {hi}"
            )
        if lo >= state.newest:  # every stored event has left the window
            return Registers({}, self._m * _EMPTY_WEIGHT)
        if _none_expired(state.heads, lo):
            return Registers(state.maxima, state.units)
        heads = state.heads
        limit = lo << _REGISTER_BITS | _REGISTER_MASK
        ranks = dict(state.maxima)  # a plain dict: item stores at C speed, units summed once below
        units = state.units
        maxima, stairs = state.maxima, state.stairs
        for index in _expired_registers(heads, limit):
            stair = stairs.get(index)
            if stair is None or stair[0] > lo:
                continue  # a former head's key
            k = 2
            while k < len(stair) and stair[k] <= lo:
                k += 2
            if k < len(stair):
                rank = ranks[index] = stair[k + 1]
                units += RANK_WEIGHTS[rank] - RANK_WEIGHTS[maxima[index]]
            else:
                del ranks[index]
                units += _EMPTY_WEIGHT - RANK_WEIGHTS[maxima[index]]
        return Registers(ranks, units)

    def read_value(self, state: SlidingHllState, lo: int, hi: int) -> int:
        """``aggregator.value(partial(state, lo, hi))`` without copying the registers when
        none has expired by ``lo`` (a busy entity's thousands of them, at every publish)."""
        if hi >= state.newest > lo and _none_expired(state.heads, lo):
            maxima = state.maxima
            return self.aggregator.estimate(len(maxima), state.units) if maxima else 0
        return self.aggregator.value(self.partial(state, lo, hi))

    def oldest_after(self, state: SlidingHllState, lo: int) -> int | None:
        """The oldest stored pair time ``> lo``: registers change only when one expires."""
        if lo >= state.newest:  # every stored pair has left
            return None
        heads = state.heads
        if heads and heads[0] >> _REGISTER_BITS > lo:
            # Every current head is at or after the heap's top (stale keys are older).
            return heads[0] >> _REGISTER_BITS
        oldest = None
        for stair in state.stairs.values():
            for k in range(0, len(stair), 2):
                if stair[k] > lo:
                    if oldest is None or stair[k] < oldest:
                        oldest = stair[k]
                    break
        return oldest

    def is_empty(self, state: SlidingHllState) -> bool:
        return not state.stairs

    # -- bytes -----------------------------------------------------------------------------

    def to_bytes(self, state: SlidingHllState) -> bytes:
        """Version, precision, newest time, register count; then per register (by index)
        its u16 index and u8 pair count; then every pair's time (int64) and rank (u8).

        From ``PACK_FROM`` registers on, the four columns are kept packed per block of
        16 registers and only blocks changed since the last call are packed again (one
        pass over a few big byte strings instead of thousands of small objects: in a
        large heap those cost a cache miss each)."""
        stairs = state.stairs
        head = _HEAD.pack(_VERSION, self.precision, state.newest, len(stairs))
        if len(stairs) < PACK_FROM:  # small: encode in full and keep nothing packed
            state.blocks = state.changed = None
            return b"".join((head, *_pack_registers(stairs, sorted(stairs))))
        blocks = state.blocks
        if blocks is None or state.changed is None:
            blocks = state.blocks = {}
            state.changed = {index >> _BLOCK_BITS for index in stairs}
        for block in state.changed:
            first = block << _BLOCK_BITS
            order = [index for index in range(first, first + _BLOCK) if index in stairs]
            if order:
                blocks[block] = _pack_registers(stairs, order)
            else:
                blocks.pop(block, None)
        state.changed.clear()
        parts = [blocks[block] for block in sorted(blocks)]
        return b"".join((head, *(b"".join(map(itemgetter(column), parts)) for column in range(4))))

    def from_bytes(self, data: bytes) -> SlidingHllState:
        """Reads this strategy's layout, and the exact event log's (rebuilding the staircases)."""
        if data[:1] == bytes((_EXACT_LOG_VERSION,)):
            return self._from_exact_log(data)
        if data[:1] != _V:
            raise bad_version(data, _VERSION, "sliding HyperLogLog")
        try:
            _, precision, newest, n = _HEAD.unpack_from(data, 0)
            if precision != self.precision:
                raise StateFormatError("sliding HyperLogLog state written with another precision")
            pos = _HEAD.size
            order = struct.unpack_from(f">{n}H", data, pos)
            pos += 2 * n
            counts = bytes(data[pos : pos + n])
            pos += n
            if len(counts) != n:
                raise StateFormatError(f"sliding HyperLogLog: truncated state: {n} staircase lengths")
            pairs = sum(counts)
            times = int_array(pairs).unpack_from(data, pos)
            pos += 8 * pairs
            ranks = bytes(data[pos : pos + pairs])
            pos += pairs
        except DECODE_ERRORS as exc:
            raise corrupt("sliding HyperLogLog", exc) from exc
        check_end(data, pos, "sliding HyperLogLog")  # also catches short counts and ranks
        state = SlidingHllState(self._m)
        state.newest = newest
        max_rank = self._shift + 1
        start = 0
        previous = -1
        for index, count in zip(order, counts):
            if not previous < index < self._m or not count:
                raise StateFormatError("sliding HyperLogLog: bad register index or empty staircase")
            previous = index
            stair = [x for pair in zip(times[start : start + count], ranks[start : start + count]) for x in pair]
            start += count
            if not all(stair[j] < stair[j + 2] and stair[j + 1] > stair[j + 3] for j in range(0, len(stair) - 2, 2)):
                raise StateFormatError(f"sliding HyperLogLog: register {index} is not a staircase")
            if not 1 <= stair[-1] <= stair[1] <= max_rank or stair[-2] > newest:
                raise StateFormatError(f"sliding HyperLogLog: register {index} holds an impossible pair")
            state.stairs[index] = stair
            rank = stair[1]
            state.maxima[index] = rank
            state.units += RANK_WEIGHTS[rank] - _EMPTY_WEIGHT
            state.heads.append(stair[0] << _REGISTER_BITS | index)
        heapify(state.heads)
        return state

    def _from_exact_log(self, data: bytes) -> SlidingHllState:
        """State the exact event log wrote for the same feature: insert its events."""
        try:
            events, pos = decode_events(data, 1)
        except DECODE_ERRORS as exc:
            raise corrupt("sliding HyperLogLog (from an event log)", exc) from exc
        check_end(data, pos, "sliding HyperLogLog (from an event log)")
        state = SlidingHllState(self._m)
        for event_time, seq, value in events:
            self.insert(state, event_time, seq, value, NEG_INF)
        return state
