"""Byte codec: helpers round-trip every value bit-exactly and keep its type; every state
blob rejects truncation, trailing bytes and unknown versions."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from operators import aggregations as agg
from operators.base import NEG_INF
from operators.codec import (
    Reader,
    StateFormatError,
    Writer,
    decode_events,
    decode_value,
    decode_values,
    decode_varints,
    encode_events,
    encode_value,
    encode_values,
    encode_varints,
)
from operators.feature import FeatureOperator
from operators.view import ViewOperator
from operators.windows.coverage import LifetimeCoverage, Refresh, SlidingCoverage, TiledCoverage
from operators.windows.exact_log import ExactLogStrategy
from operators.windows.lifetime import LifetimeStrategy
from operators.windows.sliding_hll import SlidingHllStrategy
from operators.windows.subtract import SubtractOnEvictStrategy
from operators.windows.tiles import TilesStrategy
from operators.windows.two_stacks import TwoStacksStrategy
from tests.operators.layouts import entity_state_v2, lifetime_v1

INT64 = st.integers(-(2**63), 2**63 - 1)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    INT64,
    st.integers(),  # big ints too
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 1.0, 0, 1, True, False, "", "\x00", "a\x00b"]),
    st.text(),
)
# Homogeneous runs exercise the bulk fast paths.
RUNS = st.one_of(
    st.lists(SCALARS, max_size=12),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=12),
    st.lists(INT64, max_size=12),
    st.lists(st.integers(), max_size=12),
    st.lists(st.text(), max_size=12),
    st.lists(st.none(), max_size=12),
    st.lists(st.booleans(), max_size=12),
)


def key(value):
    """Identity of a value including its type and float bits (nan == nan, -0.0 != 0.0)."""
    if isinstance(value, float):
        return (float, struct.pack(">d", value))
    return (type(value), value)


def same_values(a, b) -> bool:
    return len(a) == len(b) and all(key(x) == key(y) for x, y in zip(a, b))


# -- helpers ---------------------------------------------------------------------------------


@given(SCALARS)
def test_value_round_trip_keeps_type_and_bits(value):
    data = encode_value(value)
    back, pos = decode_value(data, 0)
    assert pos == len(data)
    assert key(back) == key(value)
    assert encode_value(back) == data


@given(RUNS)
def test_value_run_round_trip(values):
    data = encode_values(values)
    back, pos = decode_values(b"xy" + data, 2, len(values))
    assert pos == len(data) + 2
    assert same_values(list(back), values)
    assert encode_values(list(back)) == data
    assert encode_values(tuple(values)) == data


@given(RUNS, st.integers(0, 2**40))
def test_events_round_trip(values, t0):
    events = [(t0 + 7 * i, i * 3, v) for i, v in enumerate(values)]
    data = encode_events(events)
    back, pos = decode_events(data + b"tail", 0)
    assert pos == len(data)
    assert [e[:2] for e in back] == [e[:2] for e in events]
    assert same_values([e[2] for e in back], values)
    assert encode_events(back) == data
    padded, _ = decode_events(data, 0, pad=True)
    assert [e[:3] for e in padded] == back and all(e[3] is None for e in padded)


@given(RUNS, RUNS)
def test_events_with_fourth_column(values, extra):
    events = [(i, i, v, e) for i, (v, e) in enumerate(zip(values, extra))]
    data = encode_events(events, True)
    back, pos = decode_events(data, 0, fourth=True)
    assert pos == len(data)
    assert same_values([e[3] for e in back], [e[3] for e in events])
    assert encode_events(back, True) == data
    # without ``fourth`` the extra field is not stored
    assert encode_events(events) == encode_events([e[:3] for e in events])


def test_types_are_kept_apart():
    for values in ([True, 1, 1.0], [1, 1.0], [True], [1.0], [1], [False, 0, 0.0, -0.0], [None, 0]):
        back, _ = decode_values(encode_values(values), 0, len(values))
        assert [type(v) for v in back] == [type(v) for v in values]
        assert same_values(list(back), values)


def test_special_floats_and_big_ints():
    values = [-0.0, math.inf, -math.inf, math.nan, 5e-324, 1.7976931348623157e308]
    back, _ = decode_values(encode_values(values), 0, len(values))
    assert same_values(list(back), values)
    big = [2**63, -(2**63) - 1, 10**40, -(10**40), 2**63 - 1, -(2**63)]
    data = encode_values(big)
    back, _ = decode_values(data, 0, len(big))
    assert list(back) == big and all(type(v) is int for v in back)
    assert encode_value(2**200) != encode_value(2**200 - 1)


def test_unicode_and_separator_strings():
    for values in (["héllo", "日本", "🦀", ""], ["a\x00b", "c"], ["", ""], ["\x00"]):
        back, _ = decode_values(encode_values(values), 0, len(values))
        assert list(back) == values


def test_subclasses_encode_as_their_base_type():
    from enum import IntEnum

    class Colour(IntEnum):
        RED = 1

    class MyFloat(float):
        pass

    for values in ([Colour.RED, 2], [MyFloat(1.5), 2.5]):
        data = encode_values(values)
        back, _ = decode_values(data, 0, len(values))
        assert list(back) == values
        assert encode_values(list(back)) == data
    assert type(decode_value(encode_value(Colour.RED), 0)[0]) is int


def test_unencodable_value():
    with pytest.raises(TypeError):
        encode_value(object())
    with pytest.raises(TypeError):
        encode_values([1.0, object()])


def test_empty_runs_and_event_lists():
    assert encode_values([]) == b""
    assert decode_values(b"", 0, 0) == ((), 0)
    assert encode_events([]) == b"\x00\x00\x00\x00"
    assert decode_events(b"\x00\x00\x00\x00", 0) == ([], 4)


@pytest.mark.parametrize(
    "values",
    [[1.5, 2.5], [1, 2], ["ab", "c"], [None, None], [None, 1, "x", 2.0, 10**30]],
)
def test_helpers_reject_truncation(values):
    events = [(i, i, v) for i, v in enumerate(values)]
    data = encode_events(events)
    for cut in range(len(data)):
        with pytest.raises((StateFormatError, struct.error, IndexError)):
            decode_events(data[:cut], 0)


def test_unknown_tags_and_kinds():
    with pytest.raises(StateFormatError):
        decode_value(b"\x09", 0)
    with pytest.raises(StateFormatError):
        decode_values(b"\x09\x00", 0, 1)
    with pytest.raises(StateFormatError):  # a big int that fits int64 is not canonical
        decode_value(b"\x06\x00\x00\x00\x01" + b"5", 0)


def test_writer_reader_round_trip():
    w = Writer()
    w.u8(7)
    w.i64(-5)
    w.f64(-0.0)
    w.u32(3)
    w.blob(b"abc")
    w.raw(b"\x01")
    for v in (None, True, False, 1, 1.0, "s", 2**70):
        w.value(v)
    r = Reader(w.getvalue())
    assert r.u8() == 7 and r.i64() == -5 and math.copysign(1, r.f64()) == -1 and r.u32() == 3
    assert r.blob() == b"abc" and r.raw(1) == b"\x01"
    assert same_values([r.value() for _ in range(7)], [None, True, False, 1, 1.0, "s", 2**70])
    r.done()
    with pytest.raises(StateFormatError):
        r.u8()
    with pytest.raises(StateFormatError):
        Reader(b"\x01\x02").i64()
    with pytest.raises(StateFormatError):
        Reader(b"\x02").version(1, "thing")
    with pytest.raises(StateFormatError):
        Reader(b"\x01\x02").done()


# -- state blobs -----------------------------------------------------------------------------

DAY = 86_400_000


def features():
    return [
        FeatureOperator(name="n", field=None, aggregator=agg.Count(), strategy=LifetimeStrategy(agg.Count()),
                        coverage=LifetimeCoverage()),
        FeatureOperator(name="n365", field=None, aggregator=agg.Count(), strategy=TilesStrategy(agg.Count(), DAY),
                        coverage=TiledCoverage(365 * DAY, DAY), refresh=Refresh(DAY, 2 * 3_600_000)),
        FeatureOperator(name="sum7", field="x", aggregator=agg.Sum(), strategy=SubtractOnEvictStrategy(agg.Sum()),
                        coverage=SlidingCoverage(7 * DAY)),
        FeatureOperator(name="max30", field="x", aggregator=agg.Max(), strategy=TwoStacksStrategy(agg.Max()),
                        coverage=SlidingCoverage(30 * DAY)),
        FeatureOperator(name="hll30", field="x", aggregator=agg.ApproxCountDistinct(),
                        strategy=ExactLogStrategy(agg.ApproxCountDistinct()), coverage=SlidingCoverage(30 * DAY)),
        FeatureOperator(name="hll30s", field="x", aggregator=agg.ApproxCountDistinct(),
                        strategy=SlidingHllStrategy(agg.ApproxCountDistinct()), coverage=SlidingCoverage(30 * DAY)),
        FeatureOperator(name="last5", field="x", aggregator=agg.LastN(5), strategy=LifetimeStrategy(agg.LastN(5)),
                        coverage=LifetimeCoverage()),
        FeatureOperator(name="p50", field="x", aggregator=agg.ApproxQuantile(0.5),
                        strategy=TilesStrategy(agg.ApproxQuantile(0.5), DAY), coverage=TiledCoverage(30 * DAY, DAY)),
        FeatureOperator(name="last3max", field="x", aggregator=agg.LastN(3), strategy=TwoStacksStrategy(agg.LastN(3)),
                        coverage=SlidingCoverage(3 * DAY)),
        FeatureOperator(name="maxtiles", field="x", aggregator=agg.Max(), strategy=TilesStrategy(agg.Max(), DAY),
                        coverage=TiledCoverage(10 * DAY, DAY)),
    ]


NUMBERS = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.integers(-1000, 1000),
    st.sampled_from([-0.0, 0.0, 1e300, -1e300]),
)
EVENTS = st.lists(st.tuples(st.integers(0, 40 * DAY), st.integers(0, 3 * DAY), NUMBERS), max_size=40)


def build(op, events):
    states = {}
    now = 0
    for i, (event_time, delay, x) in enumerate(events):
        now = max(now, event_time + delay)
        state = states.setdefault("k", op.new_state())
        op.apply(state, event_time, now, [x if f.field else None for f in op.features])
    return states.get("k", op.new_state()), now


def view():
    # Numeric features only (a quantile of a string is meaningless); strings are covered below.
    return ViewOperator(features(), allowed_lateness=DAY, max_ahead=DAY)


@given(EVENTS)
def test_entity_state_round_trip(events):
    op = view()
    state, now = build(op, events)
    data = op.to_bytes(state)
    assert data[0] == 3
    back = op.from_bytes(data)
    assert op.to_bytes(back) == data
    for t in (now, now + DAY, now + 40 * DAY):
        a, b = op.read(state, t), op.read(back, t)
        assert repr(a) == repr(b)
    # two-stacks aggregates restored from bytes equal recomputed ones
    for f, fs in zip(op.features, back.features):
        if isinstance(f.strategy, TwoStacksStrategy):
            rebuilt = f.strategy.from_bytes(f.strategy.to_bytes(fs.main))
            front, back_ = list(fs.main.front), list(fs.main.back)
            f.strategy._rebuild_front(front, 0)
            f.strategy._rebuild_back(back_, 0)
            assert repr(front) == repr(rebuilt.front) == repr(fs.main.front)
            assert repr(back_) == repr(rebuilt.back) == repr(fs.main.back)


@given(st.lists(st.tuples(st.integers(0, 40 * DAY), SCALARS.filter(lambda v: v is not None)), max_size=30))
def test_raw_value_logs_round_trip(items):
    strategy = ExactLogStrategy(agg.Last())
    state = strategy.new_state()
    for seq, (event_time, value) in enumerate(sorted(items, key=lambda item: item[0])):
        strategy.insert(state, event_time, seq, value, NEG_INF)
    data = strategy.to_bytes(state)
    back = strategy.from_bytes(data)
    assert strategy.to_bytes(back) == data
    assert same_values([e[2] for e in back.live()], [e[2] for e in state.live()])


def sample_blobs():
    op = view()
    events = [(i * DAY // 3, 1000 * (i % 4), [1.5, 2, -0.0, 7.25][i % 4]) for i in range(60)]
    state, _ = build(op, events)
    yield "entity", op.from_bytes, op.to_bytes(state)
    for f, fs in zip(op.features, state.features):
        yield f"feature {f.name}", f.from_bytes, f.to_bytes(fs)
        yield f"strategy {f.name}", f.strategy.from_bytes, f.strategy.to_bytes(fs.main)
        partial = f.strategy.partial(fs.main, NEG_INF, 10**15)
        yield f"aggregate {f.name}", f.aggregator.from_bytes, f.aggregator.to_bytes(partial)


@pytest.mark.parametrize("what, from_bytes, data", list(sample_blobs()), ids=lambda x: x if isinstance(x, str) else "")
def test_blobs_reject_bad_bytes(what, from_bytes, data):
    from_bytes(data)  # valid
    with pytest.raises(StateFormatError):
        from_bytes(data + b"\x00")
    with pytest.raises(StateFormatError):
        from_bytes(b"")
    with pytest.raises(StateFormatError, match="version"):
        from_bytes(bytes([99]) + data[1:])
    step = max(1, len(data) // 200)
    for cut in range(0, len(data), step):
        with pytest.raises(StateFormatError):
            from_bytes(data[:cut])


@given(EVENTS)
def test_entity_states_of_the_previous_layout_are_still_read(events):
    op = view()
    state, now = build(op, events)
    old = entity_state_v2(op, state)
    back = op.from_bytes(old)
    assert op.to_bytes(back) == op.to_bytes(state)
    assert (back.now, back.frontier, back.seq) == (state.now, state.frontier, state.seq)
    assert repr(op.read(back, now + DAY)) == repr(op.read(state, now + DAY))
    assert len(op.to_bytes(state)) < len(old)
    with pytest.raises(StateFormatError):
        op.from_bytes(old[:-1])


def test_a_typical_state_is_mostly_payload():
    """Version 3 writes no framing a state does not need: one event in every feature of the
    view costs about a third less than in version 2."""
    op = view()
    state, _ = build(op, [(DAY, 0, 1.0)])
    assert len(op.to_bytes(state)) < 0.75 * len(entity_state_v2(op, state))


def test_older_versions_are_rejected_clearly():
    op = view()
    state, _ = build(op, [(DAY, 0, 1.0)])
    data = op.to_bytes(state)
    with pytest.raises(StateFormatError, match="entity state: state format version 1, this code reads 3"):
        op.from_bytes(b"\x01" + data[1:])
    for f, fs in zip(op.features, state.features):
        blob = f.strategy.to_bytes(fs.main)
        if blob[0] == 2 and not isinstance(f.strategy, LifetimeStrategy):  # lifetime reads its version 1
            with pytest.raises(StateFormatError, match="version 1, this code reads 2"):
                f.strategy.from_bytes(b"\x01" + blob[1:])


@pytest.mark.parametrize("aggregator", [agg.Count(), agg.Sum(), agg.Max(), agg.LastN(3)], ids=["count", "sum", "max", "last3"])
def test_lifetime_states_of_the_previous_layout_are_still_read(aggregator):
    strategy = LifetimeStrategy(aggregator)
    state = strategy.new_state()
    for i, t in enumerate([5 * DAY, 3 * DAY + 1, 9 * DAY]):
        strategy.insert(state, t, i, None if type(aggregator) is agg.Count else [2, 3.5, -1][i], NEG_INF)
    old = lifetime_v1(strategy, state)
    back = strategy.from_bytes(old)
    assert strategy.to_bytes(back) == strategy.to_bytes(state) and back.events == state.events == 3
    assert strategy.to_bytes(state)[0] == 2 and len(strategy.to_bytes(state)) == len(old) - 11
    with pytest.raises(StateFormatError):
        strategy.from_bytes(old[:-1])


def test_memoryview_input():
    op = view()
    state, _ = build(op, [(DAY, 0, 1.0), (DAY + 5, 0, 2)])
    data = op.to_bytes(state)
    assert op.to_bytes(op.from_bytes(memoryview(data))) == data


INT64 = st.integers(-(2**63), 2**63 - 1)


@given(st.lists(INT64, max_size=40), st.booleans())
def test_varints_round_trip_any_int64_sequence(values, deltas):
    data = encode_varints(values, deltas=deltas)
    assert decode_varints(data + b"\x07", 0, len(values), deltas=deltas) == (values, len(data))


def test_varints_are_short_for_small_numbers_and_steps():
    assert encode_varints([0, 1, -1, 63, -64]) == bytes([0, 2, 1, 126, 127])
    assert len(encode_varints([64, -65])) == 4
    assert len(encode_varints([-(2**63), 2**63 - 1])) == 20
    days = list(range(19_000, 19_365))
    assert len(encode_varints(days, deltas=True)) == 3 + 364  # the first index, then a byte per day


def test_varints_reject_truncation_and_overlong_values():
    with pytest.raises(IndexError):
        decode_varints(b"\x80", 0, 1)
    with pytest.raises(StateFormatError, match="longer than 64 bits"):
        decode_varints(b"\xff" * 9 + b"\x02", 0, 1)
    assert decode_varints(b"\xff" * 9 + b"\x01", 0, 1) == ([-(2**63)], 10)


def _tiles_v2(strategy: TilesStrategy, state) -> bytes:
    """A tile state in the version-2 layout (indices as int64), as stores written before stop 35 hold."""
    tiles = state.tiles
    head = struct.pack(">BqI", 2, NEG_INF if state.oldest is None else state.oldest, len(tiles))
    if not tiles:
        return head
    return head + struct.pack(f">{len(tiles)}q", *tiles) + b"\x01" + encode_values(list(tiles.values()))


@pytest.mark.parametrize("aggregator", [agg.Count(), agg.Sum(), agg.Max()], ids=["count", "sum", "max"])
def test_tile_states_of_the_previous_layout_are_still_read(aggregator):
    strategy = TilesStrategy(aggregator, DAY)
    state = strategy.new_state()
    for i, t in enumerate([5 * DAY, 3 * DAY + 1, 9 * DAY, 5 * DAY - 7, 40 * DAY]):  # out of order: unsorted tiles
        strategy.insert(state, t, i, [2, 3.5, -1, 7, 0][i] if type(aggregator) is not agg.Count else None, NEG_INF)
    old = _tiles_v2(strategy, state)
    back = strategy.from_bytes(old)
    assert list(back.tiles.items()) == list(state.tiles.items()) and back.oldest == state.oldest
    assert strategy.to_bytes(back) == strategy.to_bytes(state)
    assert strategy.to_bytes(state)[0] == 3 and len(strategy.to_bytes(state)) < len(old)
    empty = strategy.new_state()
    assert strategy.from_bytes(_tiles_v2(strategy, empty)).tiles == {}


def test_a_year_of_daily_tiles_takes_a_few_bytes_a_day():
    strategy = TilesStrategy(agg.Count(), DAY)
    state = strategy.new_state()
    for day in range(365):
        for k in range(day % 7 + 1):
            strategy.insert(state, 19_000 * DAY + day * DAY + k + 1, day * 10 + k, None, NEG_INF)
    data = strategy.to_bytes(state)
    assert len(data) <= 13 + 3 + 364 + 1 + 365  # header, indices, mode, one byte per count
    assert len(_tiles_v2(strategy, state)) == 13 + 8 * 365 + 2 + 8 * 365
