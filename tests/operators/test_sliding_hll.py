"""Sliding HyperLogLog against the exact event log: the same registers, bit for bit.

The exact event log folds every event of ``(lo, hi]`` into a fresh sketch on each read;
the sliding strategy keeps per-register staircases. Driven through the same
:class:`FeatureOperator` (out-of-order and future-dated events, refresh and publish
lag, reads at random times, states restored from bytes mid-stream), both must hand out
equal registers and equal values. The sliding strategy raises instead of answering a
read that ends before a stored event, so these runs also check the invariant it relies
on: ``FeatureOperator`` never asks it for one.
"""

from __future__ import annotations

import copy
import math
import random
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from operators.aggregations.hll import ApproxCountDistinct, Registers, harmonic_units
from operators.base import NEG_INF
from operators.codec import StateFormatError
from operators.feature import FeatureOperator
from operators.windows import sliding_hll
from operators.windows.coverage import Refresh, SlidingCoverage
from operators.windows.exact_log import ExactLogStrategy
from operators.windows.sliding_hll import ReadBeforeNewestEventError, SlidingHllStrategy
from tests.operators.histories import inserts


def pair(precision: int, size: int, refresh: Refresh | None) -> tuple[FeatureOperator, FeatureOperator]:
    def feature(strategy_class: type) -> FeatureOperator:
        aggregator = ApproxCountDistinct(precision)
        return FeatureOperator(
            name="hll",
            field="x",
            aggregator=aggregator,
            strategy=strategy_class(aggregator),
            coverage=SlidingCoverage(size),
            refresh=refresh,
        )

    return feature(ExactLogStrategy), feature(SlidingHllStrategy)


# Histories come from a seeded generator that hypothesis parametrises: long, dense
# histories (many events per register, heads overtaken out of order) rather than the
# short lists hypothesis draws directly.
history_shapes = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "events": st.integers(0, 300),
        "max_gap": st.sampled_from([0, 3, 30]),  # between arrivals
        "disorder": st.sampled_from([0, 10, 80]),  # how far before its arrival an event may be
        "ahead": st.sampled_from([0, 0, 5, 40]),  # how far after its arrival (future-dated)
        "values": st.sampled_from([3, 50, 2000]),  # distinct values to draw from
        "read_every": st.sampled_from([1, 4, 20]),
        "restore_every": st.sampled_from([0, 7, 50]),
    }
)


@given(
    shape=history_shapes,
    precision=st.sampled_from([4, 6, 12]),
    size=st.sampled_from([1, 40, 150]),
    refresh=st.sampled_from([None, None, Refresh(20), Refresh(20, 5), Refresh(40, 25)]),
)
def test_same_registers_as_the_exact_log(shape, precision, size, refresh):
    rng = random.Random(shape["seed"])
    log_op, sliding_op = pair(precision, size, refresh)
    m = 1 << precision
    log_state, sliding_state = log_op.new_state(), sliding_op.new_state()
    now = 0
    for seq in range(shape["events"]):
        now += rng.randint(0, shape["max_gap"])
        event_time = now + rng.randint(-shape["disorder"], shape["ahead"])
        value = rng.randrange(shape["values"])
        log_op.add(log_state, event_time, seq, value, now)
        sliding_op.add(sliding_state, event_time, seq, value, now)
        if shape["restore_every"] and seq % shape["restore_every"] == 0:
            # Continue from bytes: the restored state must behave the same from here on.
            data = sliding_op.to_bytes(sliding_state)
            sliding_state = sliding_op.from_bytes(data)
            assert sliding_op.to_bytes(sliding_state) == data
        if seq % shape["read_every"]:
            continue
        # Reads at now, on window edges of stored events, and far ahead.
        for t in (now, now + rng.randint(0, 60), now + rng.randint(0, 3 * size), event_time + size, now + 10 * size):
            if t < now:
                continue
            want = log_op.intermediate(log_state, t)
            got = sliding_op.intermediate(sliding_state, t)
            assert dict(got) == want, f"registers at t={t}"
            assert harmonic_units(dict(got), m) == harmonic_units(got, m), "Registers.units out of step"
            assert sliding_op.read(sliding_state, t) == log_op.read(log_state, t)
            restored = sliding_op.from_bytes(sliding_op.to_bytes(sliding_state))
            assert sliding_op.read(restored, t) == log_op.read(log_state, t)


@given(shape=history_shapes, bound=st.integers(-1, 200), precision=st.sampled_from([4, 12]))
def test_strategy_partials_match_the_exact_log(shape, bound, precision):
    """Strategy level: any insertion order, any read with ``hi`` at or after the newest event."""
    rng = random.Random(shape["seed"])
    aggregator = ApproxCountDistinct(precision)
    log, sliding = ExactLogStrategy(aggregator), SlidingHllStrategy(aggregator)
    log_state, sliding_state = log.new_state(), sliding.new_state()
    newest = bound
    for seq in range(shape["events"]):
        event_time = bound + rng.randint(-5, 300)
        value = rng.randrange(shape["values"])
        if event_time > bound:
            newest = max(newest, event_time)
            log.insert(log_state, event_time, seq, value, bound)
            sliding.insert(sliding_state, event_time, seq, value, bound)
    before = sliding.to_bytes(sliding_state)
    stored = [event[0] for event in log_state.live()] or [bound]
    for _ in range(10):
        lo = rng.choice([rng.choice(stored), rng.choice(stored) - 1, bound + rng.randint(-3, 310)])
        hi = newest + rng.randint(0, 50)
        assert dict(sliding.partial(sliding_state, lo, hi)) == log.partial(log_state, lo, hi), f"({lo}, {hi}]"
    assert sliding.to_bytes(sliding_state) == before, "reads must not change the state"
    assert sliding.to_bytes(sliding.from_bytes(log.to_bytes(log_state))) == before, "rebuilt from the event log"
    # Evicting up to a stored time leaves what inserting with that bound would have.
    cut = rng.choice(stored)
    sliding.evict(sliding_state, cut)
    log.evict(log_state, cut)
    assert dict(sliding.partial(sliding_state, cut, newest)) == log.partial(log_state, cut, newest)


@given(shape=history_shapes, bound=st.integers(-1, 200), precision=st.sampled_from([4, 12]))
def test_oldest_after_never_misses_a_register_change(shape, bound, precision):
    """As ``lo`` moves on, the registers first change when the oldest staircase pair after
    ``lo`` leaves (a head leaving always lowers or empties its register);
    ``oldest_after(lo)`` is that instant or earlier (the heap's top may be a stale key),
    and the registers are the same for every ``lo`` before it."""
    rng = random.Random(shape["seed"])
    aggregator = ApproxCountDistinct(precision)
    sliding = SlidingHllStrategy(aggregator)
    state = sliding.new_state()
    newest = bound
    for seq in range(shape["events"]):
        event_time = bound + rng.randint(-5, 300)
        if event_time > bound:
            newest = max(newest, event_time)
            sliding.insert(state, event_time, seq, rng.randrange(shape["values"]), bound)
    for _ in range(10):
        lo = bound + rng.randint(-3, 310)
        registers = dict(sliding.partial(state, lo, newest))
        first_leaving = min((t for stair in state.stairs.values() for t in stair[::2] if t > lo), default=None)
        change = sliding.oldest_after(state, lo)
        if first_leaving is None:
            assert change is None and registers == {}
            continue
        assert dict(sliding.partial(state, first_leaving, newest)) != registers, "a leaving head changes a register"
        assert change is not None and lo < change <= first_leaving
        assert dict(sliding.partial(state, change - 1, newest)) == registers, f"changed before {change}"


def test_read_ending_before_a_stored_event_raises():
    aggregator = ApproxCountDistinct()
    sliding = SlidingHllStrategy(aggregator)
    state = sliding.new_state()
    sliding.insert(state, 100, 0, "a", NEG_INF)
    sliding.insert(state, 50, 1, "b", NEG_INF)
    assert len(sliding.partial(state, 0, 100)) == 2
    with pytest.raises(ReadBeforeNewestEventError):
        sliding.partial(state, 0, 99)


def test_staircase_keeps_only_undominated_pairs():
    # Timeline of one register (values chosen to share it, ranks from the hash):
    #   time    10   20   30   40
    #   rank     r1   r2   r3   r4   -> kept: pairs no later-or-equal pair outranks
    aggregator = ApproxCountDistinct(4)
    sliding = SlidingHllStrategy(aggregator)
    by_register: dict[int, list[tuple[int, int]]] = {}
    for n in range(2000):
        index, rank = aggregator.register_and_rank(n)
        by_register.setdefault(index, []).append((n, rank))
    values = by_register[0][:40]
    state = sliding.new_state()
    for time, (value, _) in enumerate(values):
        sliding.insert(state, 10 * time + 10, time, value, NEG_INF)
    pairs = [(10 * time + 10, rank) for time, (_, rank) in enumerate(values)]
    kept = [(t, r) for t, r in pairs if not any(t2 >= t and r2 >= r and (t2, r2) != (t, r) for t2, r2 in pairs)]
    stair = state.stairs[0]
    assert list(zip(stair[0::2], stair[1::2])) == kept
    # Expire up to the head: the next pair takes over as the register's maximum.
    head_time = stair[0]
    sliding.evict(state, head_time)
    assert state.maxima.get(0, 0) == (kept[1][1] if len(kept) > 1 else 0)


def test_state_is_smaller_than_the_event_log():
    aggregator = ApproxCountDistinct()
    log, sliding = ExactLogStrategy(aggregator), SlidingHllStrategy(aggregator)
    log_state, sliding_state = log.new_state(), sliding.new_state()
    for n in range(5000):
        log.insert(log_state, n, n, f"merchant-{n % 700}", NEG_INF)
        sliding.insert(sliding_state, n, n, f"merchant-{n % 700}", NEG_INF)
    assert len(sliding.to_bytes(sliding_state)) * 4 < len(log.to_bytes(log_state))


def test_bad_bytes_and_precision_are_rejected():
    sliding = SlidingHllStrategy(ApproxCountDistinct(12))
    state = sliding.new_state()
    sliding.insert(state, 5, 0, "a", NEG_INF)
    data = sliding.to_bytes(state)
    with pytest.raises(StateFormatError, match="precision"):
        SlidingHllStrategy(ApproxCountDistinct(10)).from_bytes(data)
    with pytest.raises(StateFormatError, match="version"):
        sliding.from_bytes(b"\x07" + data[1:])
    corrupt_rank = data[:-1] + b"\x63"  # rank 99
    with pytest.raises(StateFormatError, match="impossible"):
        sliding.from_bytes(corrupt_rank)
    with pytest.raises(TypeError):
        SlidingHllStrategy(ExactLogStrategy)  # type: ignore[arg-type]


def test_registers_refuse_mutators_that_would_skip_the_sum():
    registers = Registers({}, 16 << 61)
    registers[3] = 2
    del registers[3]
    assert registers.units == 16 << 61
    for mutate in (lambda r: r.update({1: 1}), lambda r: r.pop(1, None), lambda r: r.setdefault(1, 1), Registers.clear):
        with pytest.raises(TypeError):
            mutate(registers)


@given(
    st.sampled_from([4, 8, 12, 16]), st.lists(st.tuples(st.integers(0, 2**16 - 1), st.integers(1, 61)), max_size=300)
)
def test_value_is_the_float_sum_when_that_is_exact_and_order_free_always(precision, raw):
    """The exact harmonic sum equals the float sum in register order whenever every rank is
    at most ``53 - precision`` (that float sum is then exact); above that it still does not
    depend on the order registers were set in."""
    hll = ApproxCountDistinct(precision)
    m = 1 << precision
    acc: dict[int, int] = {}
    for index, rank in raw:
        acc[index % m] = min(rank, 65 - precision)
    reordered = dict(reversed(list(acc.items())))
    assert hll.value(acc) == hll.value(reordered)
    if acc and max(acc.values()) <= 53 - precision:
        empty = m - len(acc)
        float_sum = empty + sum(2.0**-rank for rank in acc.values())
        assert float_sum == harmonic_units(acc, m) / 2**61
        estimate = hll._alpha * m * m / float_sum
        if estimate <= 2.5 * m and empty:
            estimate = m * math.log(m / empty)
        assert hll.value(acc) == round(estimate)


@given(
    shape=history_shapes,
    precision=st.sampled_from([4, 8]),
    encode_every=st.sampled_from([1, 3, 17]),
    pack_from=st.sampled_from([1, 8, 64]),
)
def test_bytes_repacked_incrementally_equal_a_fresh_encoding(shape, precision, encode_every, pack_from):
    """``to_bytes`` repacks only the registers changed since its last call (from
    ``PACK_FROM`` registers on); its bytes must equal those of a twin state that applied
    the same calls and was never encoded."""
    saved = sliding_hll.PACK_FROM
    sliding_hll.PACK_FROM = pack_from
    try:
        _check_incremental_bytes(shape, precision, encode_every)
    finally:
        sliding_hll.PACK_FROM = saved


def _check_incremental_bytes(shape: dict, precision: int, encode_every: int) -> None:
    rng = random.Random(shape["seed"])
    sliding = SlidingHllStrategy(ApproxCountDistinct(precision))
    state, twin = sliding.new_state(), sliding.new_state()
    now = 0
    for i in range(shape["events"]):
        now += rng.randint(0, shape["max_gap"])
        event_time = now - rng.randint(0, shape["disorder"])
        bound = now - rng.choice([40, 200])
        value = rng.randrange(shape["values"])
        for s in (state, twin):
            sliding.insert(s, event_time, i, value, bound)
        if i % encode_every == 0:
            assert sliding.to_bytes(state) == sliding.to_bytes(copy.deepcopy(twin))  # the copy packs all
    for s in (state, twin):
        sliding.evict(s, now - 10)
    assert sliding.to_bytes(state) == sliding.to_bytes(twin)


@given(
    ops=inserts(st.sampled_from([f"m{i}" for i in range(40)]), max_size=120),
    cuts=st.lists(st.integers(0, 120), max_size=6),
    precision=st.sampled_from([4, 6]),
)
def test_insert_run_equals_insert_per_event(ops, cuts, precision) -> None:
    """A run (``insert_run``, what a batch applies per entity) leaves the same staircases,
    maxima, harmonic sum and bytes as ``insert`` event by event, cut into runs anywhere;
    states with many registers (precision 6, up to 120 events) exercise packed blocks."""
    strategy = SlidingHllStrategy(ApproxCountDistinct(precision))
    one_by_one, in_runs = strategy.new_state(), strategy.new_state()
    for event_time, seq, value, bound in ops:
        strategy.insert(one_by_one, event_time, seq, value, bound)
    edges = sorted({0, len(ops), *(c for c in cuts if c <= len(ops))})
    for start, stop in pairwise(edges):
        run = ops[start:stop]
        strategy.insert_run(in_runs, [o[0] for o in run], [o[1] for o in run], [o[2] for o in run], [o[3] for o in run])
        if stop % 2:
            strategy.to_bytes(in_runs)  # packs blocks mid-stream, as publishing does
    assert in_runs.stairs == one_by_one.stairs
    assert in_runs.maxima == one_by_one.maxima
    assert in_runs.units == one_by_one.units
    assert in_runs.newest == one_by_one.newest
    assert strategy.to_bytes(in_runs) == strategy.to_bytes(one_by_one)
