"""Subtract-on-evict reads: both paths (retract what lies outside the range, or fold what
lies inside it) against a fold of the raw events, and alike on a restored state."""

from __future__ import annotations

import math
import struct

from hypothesis import given
from hypothesis import strategies as st

from operators.aggregations.count import Count
from operators.aggregations.moments import Mean
from operators.aggregations.sum import Sum
from operators.base import NEG_INF
from operators.windows.subtract import SubtractOnEvictStrategy
from tests.operators.histories import inserts

VALUES = st.sampled_from([0.0, -0.0, 1.0, 2.5, -3.25, 1e-9, 7.0, 100.5])


def _bits(value):
    return struct.pack(">d", value) if isinstance(value, float) else value


@given(ops=inserts(VALUES, min_size=1), cuts=st.lists(st.integers(-50, 400), min_size=1, max_size=8), data=st.data())
def test_reads_agree_with_a_fold_and_with_the_restored_state(ops, cuts, data):
    for aggregator in (Count(), Sum(), Mean()):
        strategy = SubtractOnEvictStrategy(aggregator)
        state = strategy.new_state()
        live = []
        for event_time, seq, value, bound in ops:
            strategy.insert(state, event_time, seq, value, bound)
            live = [e for e in live if e[0] > bound] + [(event_time, seq, value)]
        restored = strategy.from_bytes(strategy.to_bytes(state))
        newest = max(e[0] for e in live)
        for lo in cuts:
            hi = data.draw(st.integers(newest - 5, newest + 50))
            got = strategy.partial(state, lo, hi)
            assert _bits(strategy.partial(restored, lo, hi)) == _bits(got)  # same path, same bits
            want = aggregator.init()
            for event_time, seq, value in sorted(live):
                if lo < event_time <= hi:
                    want = aggregator.add(want, value, event_time, seq)
            got_value, want_value = aggregator.value(got), aggregator.value(want)
            if isinstance(want_value, float):
                assert math.isclose(got_value, want_value, rel_tol=1e-9, abs_tol=1e-6), (lo, hi, got, want)
            else:
                assert got_value == want_value, (lo, hi, got, want)


def test_a_read_long_after_the_last_update_folds_only_what_is_left():
    strategy = SubtractOnEvictStrategy(Sum())
    state = strategy.new_state()
    for i in range(1_000):
        strategy.insert(state, i + 1, i, 0.1, NEG_INF)
    # 999 events expired since the last update, one left: its value exactly, no drift from
    # retracting 999 others out of the running sum.
    assert strategy.partial(state, 999, 2_000) == 0.1
    assert strategy.partial(state, 0, 2_000) == state.acc  # the whole window: the running sum
