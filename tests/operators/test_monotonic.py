"""The monotonic queue against two-stacks, bit for bit, and its byte forms."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from operators.aggregations.extremes import Max, Min
from operators.aggregations.sum import Sum
from operators.base import NEG_INF, ReadBeforeNewestEventError
from operators.codec import StateFormatError
from operators.windows.monotonic import MonotonicStrategy
from operators.windows.two_stacks import TwoStacksStrategy
from streamfeat import Count, Sliding
from streamfeat import Max as MaxFeature
from streamfeat import Min as MinFeature
from streamfeat.build import strategy_name
from streamfeat.errors import DefinitionError
from tests.operators.histories import inserts

# Ties that compare equal but are different values: the earlier event must win, as in a fold.
VALUES = st.sampled_from([0, 0.0, -0.0, 1, 1.0, 2.5, -3.25, 7, 7.0, 100.5])


def _type_exact(value):
    """Compare values with their type and sign (``0.0`` and ``-0.0`` differ here)."""
    return (type(value), struct.pack(">d", value) if isinstance(value, float) else value)


@pytest.mark.parametrize("aggregator", [Max(), Min()], ids=["max", "min"])
@given(ops=inserts(VALUES), cuts=st.lists(st.integers(-5, 300), max_size=6))
def test_reads_equal_two_stacks_bit_for_bit(aggregator, ops, cuts):
    mono, stacks = MonotonicStrategy(aggregator), TwoStacksStrategy(aggregator)
    a, b = mono.new_state(), stacks.new_state()
    for event_time, seq, value, bound in ops:
        mono.insert(a, event_time, seq, value, bound)
        stacks.insert(b, event_time, seq, value, bound)
        newest = max(e[0] for e in ops[: seq + 1])
        for lo in [bound, *cuts]:
            got, want = mono.partial(a, lo, newest), stacks.partial(b, lo, newest)
            assert _type_exact(got) == _type_exact(want) if want is not None else got is None, (lo, got, want)
            assert mono.oldest_after(a, lo) is None or mono.oldest_after(a, lo) >= stacks.oldest_after(b, lo)
    restored = mono.from_bytes(mono.to_bytes(a))
    assert mono.to_bytes(restored) == mono.to_bytes(a)
    converted = mono.from_bytes(stacks.to_bytes(b))  # state two-stacks wrote before the switch
    newest = max((e[0] for e in ops), default=0)
    for lo in [NEG_INF, *cuts]:
        want = stacks.partial(b, lo, newest)
        for state in (restored, converted):
            got = mono.partial(state, lo, newest)
            assert _type_exact(got) == _type_exact(want) if want is not None else got is None


def test_keeps_about_log_n_of_random_events():
    rng = random.Random(7)
    mono = MonotonicStrategy(Max())
    state = mono.new_state()
    for seq in range(100_000):
        mono.insert(state, seq, seq, rng.random(), NEG_INF)
    assert len(state) < 60  # ln(100,000) ~ 11.5; two-stacks would keep all 100,000


def test_read_ending_before_the_newest_event_raises():
    mono = MonotonicStrategy(Max())
    state = mono.new_state()
    mono.insert(state, 100, 0, 1.0, NEG_INF)
    assert mono.partial(state, 0, 100) == 1.0
    with pytest.raises(ReadBeforeNewestEventError):
        mono.partial(state, 0, 99)


def test_rejects_other_aggregations_and_bad_bytes():
    with pytest.raises(TypeError, match="min or max"):
        MonotonicStrategy(Sum())
    mono = MonotonicStrategy(Max())
    state = mono.new_state()
    mono.insert(state, 1, 0, 5.0, NEG_INF)
    mono.insert(state, 2, 1, 3.0, NEG_INF)
    data = mono.to_bytes(state)
    with pytest.raises(StateFormatError):
        mono.from_bytes(b"\x09" + data[1:])
    with pytest.raises(StateFormatError):
        mono.from_bytes(data[:-1])
    with pytest.raises(StateFormatError, match="dominated"):  # the same bytes read as a min queue
        MonotonicStrategy(Min()).from_bytes(data)


def test_definitions_choose_it_for_min_and_max_only():
    assert strategy_name(MaxFeature("x", window=Sliding("30d"))) == "monotonic"
    assert strategy_name(MinFeature("x", window=Sliding("30d"))) == "monotonic"
    assert strategy_name(MaxFeature("x", window=Sliding("30d"), strategy="two_stacks")) == "two_stacks"
    with pytest.raises(DefinitionError, match="min and max only"):
        Count(window=Sliding("1h"), strategy="monotonic")
