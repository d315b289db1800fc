"""The native core against the Python operators, its oracle: same decisions, same values,
same next-change times and the same state bytes, on random streams with out-of-order,
late, future-dated and too-far-ahead events, for every shape the core covers.

The Python operators are themselves checked against a brute-force oracle over the raw
events (``test_against_oracle``), so agreeing with them bit for bit carries that proof over.
"""

from __future__ import annotations

import random
import struct

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from operators import native
from operators.codec import StateFormatError
from operators.feature import ReadBeforeStateError
from operators.view import ViewOperator
from streamfeat import (
    ApproxDistinct,
    Count,
    Entity,
    FeatureView,
    LastN,
    Lifetime,
    Max,
    Mean,
    Sliding,
    Source,
    Sum,
    Tumbling,
    build_view,
)
from streamfeat.build import NATIVE_ENV, build_feature
from streamfeat.online.base import cache_values
from tests.operators.layouts import entity_state_v2

SOURCE = Source(
    "s", timestamp="ts", schema={"user_id": str, "ts": int, "amount": float, "m": str, "n": int}, max_ahead=20
)
ENTITY = Entity("user", key="user_id")

#: Every covered shape: count / float sum x lifetime / tiled (with and without refresh) /
#: exact sliding; float max and distinct strings over exact sliding windows; last n floats.
COVERED = [
    Count(window=Sliding(40)),
    Sum("amount", window=Sliding(50)),
    Max("amount", window=Sliding(60)),
    ApproxDistinct("m", window=Sliding(60)),
    ApproxDistinct("m", window=Sliding(25), precision=4),
    ApproxDistinct("m", window=Sliding(200), precision=4),  # > 2.5 * 16 distinct: the harmonic estimate
    LastN("amount", n=3),
    Count(window=Lifetime()),
    Count(window=Sliding(100, tile=10), refresh=20, publish_lag=5),
    Sum("amount", window=Sliding(50, tile=10)),
    Sum("amount", window=Lifetime()),
    Count(window=Sliding(30, tile=30)),
    Count(window=Lifetime(), refresh=10, publish_lag=3),
    Sum("amount", window=Lifetime(), refresh=20),
    Sum("amount", window=Sliding(60, tile=20), refresh=20, publish_lag=7),
]


def _pair(features: list) -> tuple[ViewOperator, ViewOperator]:
    view = FeatureView("v", entity=ENTITY, source=SOURCE, allowed_lateness=15, features=features)
    python = build_view(view, native=False)
    fast = build_view(view, native=True)
    assert type(python) is ViewOperator
    assert isinstance(fast, native.NativeViewOperator)
    return python, fast


#: Distinct values either side of the 22 bytes the core keeps inside its hash cache's slots
#: (longer ones on the heap), some of them prefixes of others, some ending in a 2-byte character.
long_values = st.sampled_from(["k" * 21, "k" * 22, "k" * 23, "k" * 40, "é" * 11, "é" * 11 + "k", "k" * 21 + "é"])
sparse_rows = st.lists(
    st.tuples(
        st.sampled_from(["u1", "u2", "u3"]),
        st.integers(-50, 300),  # event time
        st.integers(-25, 40),  # arrival delay (negative: future-dated, some too far ahead)
        st.one_of(st.integers(-100, 100).map(lambda n: n * 0.37), st.just(-0.0)),  # -0.0 too: max, last-n and sums of it
        st.one_of(st.sampled_from(["a", "b"]), st.sampled_from(["a", "b", "c", "d", "e\x00f", "ü", ""]), long_values),
    ),
    max_size=80,
)
#: One busy entity, few values, events close together: staircases, monotonic queues and
#: subtracted sums change on most events.
dense_rows = st.lists(
    st.tuples(
        st.just("u1"),
        st.integers(0, 80),
        st.integers(-5, 10),
        st.integers(-10, 10).map(lambda n: n * 0.5),
        st.one_of(st.sampled_from(["a", "b", "c"]), st.integers(0, 10**6).map(str)),
    ),
    max_size=90,
)
rows = st.one_of(sparse_rows, dense_rows)


def test_extension_is_built() -> None:
    assert native.available(), "operators._native is missing: install with a Rust toolchain (pip install -e .)"


def test_build_view_picks_the_core_only_for_covered_views(monkeypatch: pytest.MonkeyPatch) -> None:
    covered = FeatureView("v", entity=ENTITY, source=SOURCE, features=COVERED)
    assert isinstance(build_view(covered), native.NativeViewOperator)
    for uncovered in (
        Mean("amount", window=Sliding(60)),
        Max("amount", window=Tumbling(30)),
        Sum("n", window=Lifetime()),  # an integer sum
        Max("n", window=Sliding(60)),  # an integer max
        Sum("amount", window=Sliding(60), strategy="log"),
        Count(window=Sliding(60), refresh=20),
    ):
        mixed = FeatureView("m", entity=ENTITY, source=SOURCE, features=[*COVERED, uncovered])
        assert type(build_view(mixed)) is ViewOperator, uncovered
    monkeypatch.setenv(NATIVE_ENV, "0")
    assert type(build_view(covered)) is ViewOperator


#: Reads mostly soon after the newest arrival, where windows still hold events.
read_delays = st.lists(st.one_of(st.integers(0, 30), st.integers(0, 400)), min_size=1, max_size=6)


@settings(max_examples=400, deadline=None)
@given(rows, st.integers(1, 30), read_delays)
# a register's head replaced by a later pair: the former head's key stays in the heap
# and next_change reports it (as the Python state does)
@example([("u1", 10, 0, 0.0, "a"), ("u1", 20, 0, 0.0, "a")], 5, [5])
def test_batches_agree_with_python(events: list, batch: int, reads: list[int]) -> None:
    # the whole view, and each feature alone (a view's next change is the minimum of its
    # features', which can hide one feature's)
    for features in [COVERED, *([f] for f in COVERED)]:
        _check_batches(features, events, batch, reads)


def _inputs(op: ViewOperator, events: list) -> tuple[list, list, list, list]:
    """Keys, event times, arrivals and feature columns of ``events`` (rows as drawn above)."""
    keys = [e[0] for e in events]
    times = [e[1] for e in events]
    arrivals = [e[1] + e[2] for e in events]
    return keys, times, arrivals, op.columns_for({"amount": [e[3] for e in events], "m": [e[4] for e in events]})


def _check_batches(features: list, events: list, batch: int, reads: list[int]) -> None:
    python, fast = _pair(features)
    states_py: dict = {}
    states_native: dict = {}
    keys, times, arrivals, columns = _inputs(python, events)
    for lo in range(0, len(events), batch):
        part = slice(lo, lo + batch)
        cols = [None if c is None else c[part] for c in columns]
        a = python.apply_batch(states_py, keys[part], times[part], arrivals[part], cols)
        b = fast.apply_batch(states_native, keys[part], times[part], arrivals[part], cols)
        assert (a.accepted, a.late, a.too_far_ahead) == (b.accepted, b.late, b.too_far_ahead)
    assert states_py.keys() == states_native.keys()
    for key, state in states_py.items():
        twin = states_native[key]
        assert (twin.now, twin.frontier, twin.seq) == (state.now, state.frontier, state.seq)
        data = python.to_bytes(state)
        assert fast.to_bytes(twin) == data
        assert fast.to_bytes(fast.from_bytes(data)) == data  # Python bytes read natively
        assert python.to_bytes(python.from_bytes(fast.to_bytes(twin))) == data  # and back
        for dt in reads:
            t = state.now + dt
            assert fast.read(twin, t) == python.read(state, t)
            assert fast.read_until(twin, t) == python.read_until(state, t)
            assert fast.next_change(twin, t) == python.next_change(state, t)
            _check_publish(python, fast, state, twin, t)


def _check_publish(python: ViewOperator, fast: native.NativeViewOperator, state, twin, at: int) -> None:
    """publish_batch gives what the pipeline's Python path publishes: to_bytes, and
    cache_values' JSON (the same objects read back, floats bit for bit) and span."""
    cached = cache_values(python, state, at)
    ((data, values, valid_from, valid_until),) = fast.publish_batch([twin], at, None, [False])
    assert data == python.to_bytes(state)
    assert (values is None) == (cached is None)
    if cached is not None:
        assert repr(orjson.loads(values)) == repr(orjson.loads(cached.values))
        assert (valid_from, valid_until) == (cached.valid_from, cached.valid_until)
        # large and holding past the horizon: values only; otherwise the bytes too
        ((skipped, again, *_),) = fast.publish_batch([twin], at, valid_until - 1, [True])
        assert (skipped, again) == (None, values)
        ((kept, *_),) = fast.publish_batch([twin], at, valid_until, [True])
        assert kept == data
    ((plain, none, *_),) = fast.publish_batch([twin], None, None, [False])
    assert (plain, none) == (data, None)


@settings(max_examples=200, deadline=None)
@given(rows, st.integers(1, 30), st.integers(0, 60), st.one_of(st.none(), st.integers(0, 400)), st.integers(1, 400))
def test_apply_publish_is_apply_batch_then_publish_packed(events: list, batch: int, delay: int, horizon_after, threshold) -> None:
    """One native call gives what the pipeline's two did: the same batch results and states,
    and the rows of each entity of the batch with a state, in the order of its first event
    there (what ``dict.fromkeys(keys)`` then the cache's ``peek_many`` gave)."""
    _, fast = _pair(COVERED)
    one: dict = {}
    two: dict = {}
    large: set[str] = set()
    keys, times, arrivals, columns = _inputs(fast, events)
    for lo in range(0, len(events), batch):
        part = slice(lo, lo + batch)
        cols = [None if c is None else c[part] for c in columns]
        at = max(arrivals[part]) + delay
        horizon = None if horizon_after is None else at + horizon_after
        done = fast.apply_publish(one, keys[part], times[part], arrivals[part], cols, at, horizon, large, threshold)
        assert done is not None
        result, entities, published = done
        expected = fast.apply_batch(two, keys[part], times[part], arrivals[part], cols)
        assert (result.accepted, result.late, result.too_far_ahead) == (
            expected.accepted, expected.late, expected.too_far_ahead)  # fmt: skip
        touched = [key for key in dict.fromkeys(keys[part]) if key in two and two[key].seq]
        assert entities == touched
        flags = [key in large for key in touched]
        want = fast.publish_packed([two[key] for key in touched], touched, at, horizon, flags, threshold)
        assert published == want
        large.update(touched[i] for i in published[3])  # as the pipeline keeps it between batches
    assert one.keys() == two.keys()
    for key, state in one.items():
        assert fast.to_bytes(state) == fast.to_bytes(two[key])


def _three_hundred_states() -> tuple[native.NativeViewOperator, native.NativeViewOperator, list, list[str]]:
    """Two views of every covered shape (one to pack with, one that never packed) and the
    states of 300 entities with one event each, with their keys."""
    _, fast = _pair(COVERED)
    _, other = _pair(COVERED)
    states: dict = {}
    keys = [f"u{i}" for i in range(300)]
    columns = fast.columns_for({"amount": [i * 0.5 for i in range(300)], "m": [f"m{i % 7}" for i in range(300)]})
    fast.apply_batch(states, keys, list(range(300)), list(range(300)), columns)
    return fast, other, [states[key] for key in keys], keys


def test_publish_packed_after_a_larger_batch_packs_only_its_own_rows() -> None:
    """The core keeps its row buffers between calls (stop 55): a call after a larger one,
    or one of another view, packs exactly what a view that never packed anything packs."""
    fast, other, everyone, keys = _three_hundred_states()
    big = fast.publish_packed(everyone, keys, 400, None, [False] * 300, 1 << 20)
    small = fast.publish_packed(everyone[:2], keys[:2], 400, None, [False, False], 1 << 20)
    assert len(small[0]) < len(big[0]) // 100
    assert small == other.publish_packed(everyone[:2], keys[:2], 400, None, [False, False], 1 << 20)
    assert fast.publish_packed(everyone, keys, 400, None, [False] * 300, 1 << 20) == big


def test_publish_packed_after_smaller_batches_packs_all_its_rows() -> None:
    """A kept buffer too small for a call is replaced, not grown (stop 57): a large call
    after small ones packs what a view that never packed anything packs."""
    fast, other, everyone, keys = _three_hundred_states()
    for n in (1, 2, 3):  # several small buffers kept
        fast.publish_packed(everyone[:n], keys[:n], 400, None, [False] * n, 1 << 20)
    big = fast.publish_packed(everyone, keys, 400, None, [False] * 300, 1 << 20)
    assert big == other.publish_packed(everyone, keys, 400, None, [False] * 300, 1 << 20)
    assert fast.publish_packed(everyone[:1], keys[:1], 400, None, [False], 1 << 20) == other.publish_packed(
        everyone[:1], keys[:1], 400, None, [False], 1 << 20
    )


@settings(max_examples=150, deadline=None)
@given(rows, st.integers(1, 40))
def test_distinct_inputs_decoded_as_hashes_apply_as_their_strings(events: list, batch: int) -> None:
    """A distinct count's field decoded as texts with their hashes (``HashedTexts``, stop
    57) gives the same results, states and rows as the list of strs, in ``apply_publish``
    and in the general path (keys in a tuple)."""
    from streamfeat.ingest import decode_records

    _, fast = _pair(COVERED)
    hashed, listed, general = {}, {}, {}
    for lo in range(0, len(events), batch):
        part = events[lo : lo + batch]
        payloads = [orjson.dumps({"user_id": k, "ts": t, "amount": a, "m": m, "n": 0}) for k, t, _, a, m in part]
        arrivals = [t + d for _, t, d, _, _ in part]
        options = {"topic": "t", "partition": 0, "offsets": list(range(len(part)))}
        decoded, dead = decode_records(SOURCE, "user_id", payloads, arrivals, hashed=frozenset({"m"}), **options)
        assert not dead
        plain = dict(decoded.columns, m=list(decoded.columns["m"]))
        keys, times, arrived = decoded.keys, decoded.event_times, decoded.arrivals
        at = max(arrivals)
        one = fast.apply_publish(hashed, keys, times, arrived, fast.columns_for(decoded.columns), at, None, set(), 1 << 20)
        two = fast.apply_publish(listed, keys, times, arrived, fast.columns_for(plain), at, None, set(), 1 << 20)
        assert one is not None and two is not None
        assert (one[0].accepted, one[0].late, one[0].too_far_ahead, one[1:]) == (
            two[0].accepted, two[0].late, two[0].too_far_ahead, two[1:])  # fmt: skip
        three = fast.apply_batch(general, tuple(keys), times, arrived, fast.columns_for(decoded.columns))
        assert (three.accepted, three.late, three.too_far_ahead) == (one[0].accepted, one[0].late, one[0].too_far_ahead)
    assert hashed.keys() == listed.keys() == general.keys()
    for key, state in listed.items():
        assert fast.to_bytes(hashed[key]) == fast.to_bytes(state) == fast.to_bytes(general[key])


def test_apply_publish_leaves_batches_it_cannot_take_to_the_general_path() -> None:
    _, fast = _pair([Count(window=Lifetime())])
    states: dict = {}
    assert fast.apply_publish(states, [1, 2], [1, 2], [1, 2], [None], 5, None, set(), 100) is None
    assert states == {}  # nothing applied


@settings(max_examples=100, deadline=None)
@given(rows)
def test_states_of_the_previous_layout_are_read_natively(events: list) -> None:
    python, fast = _pair(COVERED)
    states: dict = {}
    python.apply_batch(states, *_inputs(python, events))
    for state in states.values():
        old = entity_state_v2(python, state)
        assert fast.to_bytes(fast.from_bytes(old)) == python.to_bytes(state)


@pytest.mark.parametrize("events, lo, hi", [(1, 0, 64), (40, 64, 8_192), (3_000, 8_192, 2**21)])
def test_feature_lengths_of_every_width_agree(events: int, lo: int, hi: int) -> None:
    """A feature's length takes one byte under 64, two under 8,192, three beyond: the native
    core moves a long blob up to make room, the Python side writes the length first."""
    python, fast = _pair([Sum("amount", window=Sliding(10**9)), Count(window=Lifetime())])
    keys = ["u1"] * events
    times = list(range(events))
    columns = python.columns_for({"amount": [i * 0.5 for i in range(events)], "m": [None] * events})
    states_py: dict = {}
    states_native: dict = {}
    python.apply_batch(states_py, keys, times, times, columns)
    fast.apply_batch(states_native, keys, times, times, columns)
    data = python.to_bytes(states_py["u1"])
    assert fast.to_bytes(states_native["u1"]) == data
    assert fast.to_bytes(fast.from_bytes(data)) == data
    summed = python.features[0].to_bytes(states_py["u1"].features[0])
    assert lo <= len(summed) < hi  # a length of one, two or three bytes


@settings(max_examples=200, deadline=None)
@given(rows)
def test_per_event_apply_agrees_with_python(events: list) -> None:
    python, fast = _pair(COVERED)
    state_py, state_native = python.new_state(), fast.new_state()
    for _, event_time, delay, amount, merchant in events:
        values = [None if f.field is None else merchant if f.field == "m" else amount for f in python.features]
        assert fast.apply(state_native, event_time, event_time + delay, values) == python.apply(
            state_py, event_time, event_time + delay, values
        )
        assert fast.to_bytes(state_native) == python.to_bytes(state_py)


@settings(max_examples=100, deadline=None)
@given(rows)
def test_tile_states_of_the_previous_layout_are_read_as_python_reads_them(events: list) -> None:
    """States written before stop 35 hold tiles in layout 2 (indices as int64); both cores
    read them, to the same state, and write them back in layout 3."""
    from operators.base import NEG_INF
    from operators.codec import encode_values
    from operators.windows.tiles import TilesStrategy

    python, fast = _pair(COVERED)
    state = python.new_state()
    for _, event_time, delay, amount, merchant in events:
        values = [None if f.field is None else merchant if f.field == "m" else amount for f in python.features]
        python.apply(state, event_time, event_time + delay, values)

    def layout_2(self: TilesStrategy, tiles_state) -> bytes:  # type: ignore[no-untyped-def]
        tiles = tiles_state.tiles
        head = struct.pack(">BqI", 2, NEG_INF if tiles_state.oldest is None else tiles_state.oldest, len(tiles))
        if not tiles:
            return head
        return head + struct.pack(f">{len(tiles)}q", *tiles) + b"\x01" + encode_values(list(tiles.values()))

    current = python.to_bytes(state)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TilesStrategy, "to_bytes", layout_2)
        old = python.to_bytes(state)
    assert old != current or not any(fs.main.tiles for fs in state.features if hasattr(fs.main, "tiles"))
    assert python.to_bytes(python.from_bytes(old)) == current
    assert fast.to_bytes(fast.from_bytes(old)) == current


def test_reads_before_a_sealed_boundary_are_refused_alike() -> None:
    python, fast = _pair([Count(window=Sliding(100, tile=10), refresh=20, publish_lag=5)])
    state_py, state_native = python.new_state(), fast.new_state()
    for t in (10, 30, 70):
        python.apply(state_py, t, t, [None])
        fast.apply(state_native, t, t, [None])
    with pytest.raises(ReadBeforeStateError):
        python.read(state_py, 20)
    with pytest.raises(ReadBeforeStateError):
        fast.read(state_native, 20)


def test_empty_and_absent_states_read_as_python() -> None:
    python, fast = _pair(COVERED)
    assert fast.read(None, 5) == python.read(None, 5)
    assert fast.read(fast.new_state(), 5) == python.read(python.new_state(), 5)
    assert fast.to_bytes(fast.new_state()) == python.to_bytes(python.new_state())


def test_sum_refuses_values_that_are_not_floats() -> None:
    _, fast = _pair([Sum("amount", window=Lifetime())])
    with pytest.raises(TypeError, match="float"):
        fast.apply_batch({}, ["u1"], [1], [1], [[3]])


def test_batch_columns_must_agree() -> None:
    _, fast = _pair([Sum("amount", window=Lifetime())])
    with pytest.raises(ValueError, match="disagree"):
        fast.apply_batch({}, ["u1", "u2"], [1], [1, 2], [[1.0, 2.0]])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-1],  # truncated
        lambda b: b + b"\x00",  # trailing byte
        lambda b: b"\x09" + b[1:],  # unknown version
        lambda b: b"",  # empty
        lambda b: b[:25] + struct.pack(">I", 99) + b[29:],  # wrong feature count
    ],
)
def test_bad_bytes_raise_state_format_error(mutate) -> None:
    python, fast = _pair(COVERED)
    state = python.new_state()
    python.apply(state, 5, 5, [None if f.field is None else "a" if f.field == "m" else 0.5 for f in python.features])
    data = mutate(python.to_bytes(state))
    with pytest.raises(StateFormatError):
        python.from_bytes(data)
    with pytest.raises(StateFormatError):
        fast.from_bytes(data)


@given(rows)
@settings(max_examples=60, deadline=None)
def test_from_bytes_many_decodes_each_blob_as_from_bytes_does(events: list) -> None:
    """The state cache's bulk decode (without the GIL) gives states equal to decoding each
    blob alone: the same bytes back and the same values at every read time."""
    python, fast = _pair(COVERED)
    states: dict = {}
    for key, t, delay, amount, m in events:
        values = [None if f.field is None else m if f.field == "m" else amount for f in fast.features]
        fast.apply(states.setdefault(key, fast.new_state()), t, t + delay, values)
    blobs = [fast.to_bytes(state) for state in states.values()] + [python.to_bytes(python.new_state())]
    many = fast.from_bytes_many(blobs)
    assert len(many) == len(blobs)
    for blob, state in zip(blobs, many, strict=True):
        alone = fast.from_bytes(blob)
        assert fast.to_bytes(state) == blob == fast.to_bytes(alone)
        t = max(state.now, 300)
        assert fast.read(state, t) == fast.read(alone, t)
    assert fast.from_bytes_many([]) == []


def test_from_bytes_many_raises_for_a_bad_blob_and_refuses_what_is_not_bytes() -> None:
    python, fast = _pair(COVERED)
    good = python.to_bytes(python.new_state())
    with pytest.raises(StateFormatError):
        fast.from_bytes_many([good, good[:-1], good])
    with pytest.raises(TypeError):
        fast.from_bytes_many([good, "not bytes"])


def test_uncovered_features_are_refused() -> None:
    feature = build_feature(Max("amount", window=Tumbling(60)), float)
    assert native.native_spec(feature, float) is None
    with pytest.raises(ValueError, match="does not cover"):
        native.NativeViewOperator([feature], allowed_lateness=0, max_ahead=0, field_types=[float])


@pytest.mark.parametrize("precision", [4, 6, 8, 12])
def test_distinct_estimates_agree_beyond_linear_counting(precision: int) -> None:
    """Many distinct values in the window (the harmonic estimate, not linear counting) and
    registers emptied by eviction: the incrementally kept harmonic sum must stay exact.
    At precisions 8 and 12 hundreds of registers fill and the quiet spells empty them again;
    the core's bytes and a state decoded from them must stay the Python operator's."""
    python, fast = _pair([ApproxDistinct("m", window=Sliding(300), precision=precision)])
    rng = random.Random(precision)  # seeded
    state_py, state_native = python.new_state(), fast.new_state()
    t = 0
    for i in range(3000):
        t += rng.randint(0, 3)
        value = str(rng.randint(0, 400)) if i % 700 < 400 else "x"  # quiet spells: registers empty
        python.apply(state_py, t, t, [value])
        fast.apply(state_native, t, t, [value])
        if i % 7 == 0:
            for dt in (0, 50, 200, 290):
                assert fast.read_until(state_native, t + dt) == python.read_until(state_py, t + dt), (i, dt)
        if i % 125 == 0:
            data = fast.to_bytes(state_native)
            assert data == python.to_bytes(state_py), i
            state_native, state_py = fast.from_bytes(data), python.from_bytes(data)  # as after a restart
    assert fast.to_bytes(state_native) == python.to_bytes(state_py)


def test_large_distinct_states_agree() -> None:
    """Hundreds of the 4,096 registers holding staircases, as a busy entity's 30-day distinct
    count does: inserts split the core's runs of registers (at most 64 each) and evictions empty
    them, down to one run again. Reads, next changes, bytes and a state decoded from them stay
    the Python operator's, through quiet spells that empty every register."""
    python, fast = _pair([ApproxDistinct("m", window=Sliding(2000), precision=12)])
    rng = random.Random(2000)  # seeded
    state_py, state_native = python.new_state(), fast.new_state()
    t = 0
    sizes = []
    for i in range(6000):
        t += rng.randint(0, 3)
        value = str(rng.randint(0, 5000)) if i % 3000 < 1500 else "x"  # quiet spells: registers empty
        event_time = t - rng.randint(0, 12)  # out of order within the allowed lateness: a head can return
        python.apply(state_py, event_time, t, [value])
        fast.apply(state_native, event_time, t, [value])
        if i % 11 == 0:
            for dt in (0, 700, 1999, 2500):
                assert fast.read_until(state_native, t + dt) == python.read_until(state_py, t + dt), (i, dt)
                assert fast.next_change(state_native, t + dt) == python.next_change(state_py, t + dt), (i, dt)
        if i % 250 == 0:
            data = fast.to_bytes(state_native)
            assert data == python.to_bytes(state_py), i
            values, _ = fast.read_until(state_native, t)
            sizes.extend(values.values())
            state_native, state_py = fast.from_bytes(data), python.from_bytes(data)  # as after a restart
    assert fast.to_bytes(state_native) == python.to_bytes(state_py)
    assert max(sizes) > 500 and min(sizes) < 5, (min(sizes), max(sizes))  # large, and emptied


#: Bursts of many distinct values (a state past 64 registers: several runs) and of one value
#: (evictions empty the runs down to one again), each burst's events `gap` apart.
distinct_bursts = st.lists(
    st.tuples(st.integers(1, 160), st.integers(0, 6), st.booleans()),  # events, gap, distinct values
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(st.integers(100, 300), distinct_bursts, st.integers(0, 10**6), st.integers(0, 8))
def test_distinct_runs_split_and_merge_as_the_python_state(first: int, bursts, seed: int, lateness: int) -> None:
    """The core keeps a sketch of more than 64 registers in runs of at most 64 and goes back
    to one run when 16 or fewer are left: through bursts that fill a precision-8 sketch past
    those bounds and quiet spells that empty it, with events up to `lateness` out of order,
    reads, next changes and bytes (and a state decoded from them) stay the Python operator's."""
    python, fast = _pair([ApproxDistinct("m", window=Sliding(150), precision=8)])
    rng = random.Random(seed)  # seeded by hypothesis
    state_py, state_native = python.new_state(), fast.new_state()
    t = 0
    # first `first` distinct values one time unit apart: ~80 or more registers, several runs;
    # then a quiet spell long enough to empty them
    for events, gap, distinct in [(first, 1, True), (20, 10, False), *bursts]:
        for _ in range(events):
            t += gap
            value = str(rng.randrange(10**9)) if distinct else "same"
            event_time = t - rng.randint(0, lateness)
            python.apply(state_py, event_time, t, [value])
            fast.apply(state_native, event_time, t, [value])
        for dt in (0, 40, 149, 151):
            assert fast.read_until(state_native, t + dt) == python.read_until(state_py, t + dt), dt
            assert fast.next_change(state_native, t + dt) == python.next_change(state_py, t + dt), dt
        data = fast.to_bytes(state_native)
        assert data == python.to_bytes(state_py)
        if rng.random() < 0.5:
            state_native, state_py = fast.from_bytes(data), python.from_bytes(data)  # as after a restart


def test_distinct_first_run_emptied_while_later_runs_hold_registers() -> None:
    """A sketch in several runs whose lowest registers expire first: the first run empties and
    goes while the later ones still hold registers, then a register below every remaining one
    is set again (it belongs to the new first run). Values are picked by register so that
    each step happens; reads, next changes and bytes stay the Python operator's."""
    from operators.aggregations.hll import ApproxCountDistinct

    python, fast = _pair([ApproxDistinct("m", window=Sliding(150), precision=8)])
    sketch = ApproxCountDistinct(8)
    by_register: dict[int, str] = {}
    n = 0
    while len(by_register) < 256:
        by_register.setdefault(sketch.register_and_rank(str(n))[0], str(n))
        n += 1
    low = [by_register[i] for i in range(0, 128, 2)]  # 64 registers: one run
    high = [by_register[i] for i in range(128, 256)]  # 128 more: several runs
    events = [(1 + i, value) for i, value in enumerate(low)]
    events += [(100 + i, value) for i, value in enumerate(high)]
    events += [(230, by_register[0]), (231, by_register[1]), (240, low[5]), (241, high[3])]  # the low ones expired
    state_py, state_native = python.new_state(), fast.new_state()
    for t, value in events:
        python.apply(state_py, t, t, [value])
        fast.apply(state_native, t, t, [value])
        for dt in (0, 60, 149):
            assert fast.read_until(state_native, t + dt) == python.read_until(state_py, t + dt), (t, dt)
            assert fast.next_change(state_native, t + dt) == python.next_change(state_py, t + dt), (t, dt)
        assert fast.to_bytes(state_native) == python.to_bytes(state_py), t
    assert python.read_until(state_py, 241)[0] == fast.read_until(state_native, 241)[0]


@pytest.mark.parametrize("spread", [1, 2**47, 2**49])
def test_distinct_state_decoded_with_times_far_apart(spread: int) -> None:
    """A decoded sketch sorts its heads' queue as one machine word per key while the times
    span less than 2^48 ms, as pairs otherwise: both orders agree with the Python operator's
    (reads, next changes, bytes) for times either side of zero, up to 2^50 ms apart."""
    window = 2**52
    python, fast = _pair([ApproxDistinct("m", window=Sliding(window), precision=6)])
    rng = random.Random(spread)  # seeded
    times = sorted(rng.randrange(-spread, spread + 1) for _ in range(120))
    state_py, state_native = python.new_state(), fast.new_state()
    for t in times:
        value = str(rng.randrange(500))
        python.apply(state_py, t, t, [value])
        fast.apply(state_native, t, t, [value])
    data = python.to_bytes(state_py)
    assert fast.to_bytes(state_native) == data
    decoded_native, decoded_py = fast.from_bytes(data), python.from_bytes(data)
    assert fast.to_bytes(decoded_native) == data
    # reads as of the newest event, and later ones whose window leaves out the oldest events
    for t in [times[-1]] + [t + window - 1 for t in times[::7]]:
        assert fast.read_until(decoded_native, t) == python.read_until(decoded_py, t), t
        assert fast.next_change(decoded_native, t) == python.next_change(decoded_py, t), t


def test_distinct_reads_agree_when_a_head_returns() -> None:
    """Out-of-order events in few registers: a late event becomes a register's head ahead of
    the old one, whose key stays queued; evicting the late event makes the old head current
    again and queues its key a second time. Reads and next changes, with heads inside and
    outside the window, stay the Python operator's."""
    python, fast = _pair([ApproxDistinct("m", window=Sliding(100), precision=4)])
    for seed in range(20):
        rng = random.Random(seed)  # seeded
        state_py, state_native = python.new_state(), fast.new_state()
        t = 0
        for i in range(300):
            t += rng.randint(0, 4)
            event_time, value = t - rng.randint(0, 12), str(rng.randint(0, 60))
            python.apply(state_py, event_time, t, [value])
            fast.apply(state_native, event_time, t, [value])
            for dt in (0, 30, 60, 99):
                assert fast.read_until(state_native, t + dt) == python.read_until(state_py, t + dt), (seed, i, dt)
                assert fast.next_change(state_native, t + dt) == python.next_change(state_py, t + dt), (seed, i, dt)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 10**6), st.integers(4, 8), st.integers(0, 20))
def test_distinct_reads_ahead_of_the_events_agree_with_the_python_state(seed: int, precision: int, lateness: int) -> None:
    """A flow publishing as of a clock ahead of the events it applies (a replay of recent
    history): the window's start lies after the eviction bound, so some heads lie before it,
    and the core answers from its last read, kept up to date through the inserts until an
    eviction or an insert moves the oldest pair after it. Reads at that clock (and now and
    then at an earlier or later one), next changes and bytes (and a state decoded from them)
    stay the Python operator's; the clock's lead changes now and then."""
    python, fast = _pair([ApproxDistinct("m", window=Sliding(150), precision=precision)])
    rng = random.Random(seed)  # seeded by hypothesis
    state_py, state_native = python.new_state(), fast.new_state()
    t, ahead = 0, rng.randint(20, 140)
    for i in range(400):
        t += rng.choice([0, 1, 1, 2, 3, 5, 20])
        event_time = t - rng.randint(0, lateness)
        value = str(rng.randrange(rng.choice([5, 50, 10**6])))
        # now and then an event that arrives long after its time: the eviction bound jumps
        # past the start of a window read as of the events
        arrival = t + (rng.randint(100, 300) if rng.random() < 0.03 else 0)
        python.apply(state_py, event_time, arrival, [value])
        fast.apply(state_native, event_time, arrival, [value])
        if rng.random() < 0.3:
            now = t + ahead + rng.randint(0, 3)
            reads = [now] if rng.random() < 0.8 else [now, max(t, now - rng.randint(1, 100)), now + rng.randint(1, 60)]
            if rng.random() < 0.2:
                reads.insert(0, t)  # as of the events
            for at in reads:
                assert fast.read_until(state_native, at) == python.read_until(state_py, at), (i, at)
                assert fast.next_change(state_native, at) == python.next_change(state_py, at), (i, at)
        if rng.random() < 0.02:
            ahead = rng.randint(0, 149)
        if rng.random() < 0.01:
            data = fast.to_bytes(state_native)
            assert data == python.to_bytes(state_py), i
            state_native, state_py = fast.from_bytes(data), python.from_bytes(data)  # as after a restart
    assert fast.to_bytes(state_native) == python.to_bytes(state_py)


def test_distinct_read_again_after_an_eviction_past_it_agrees_with_the_python_state() -> None:
    """A read as of the newest event, then an event that arrives as late as allowed: its
    arrival moves the eviction bound past pairs that read counted, and a read as of the new
    newest event starts before them (the pairs it summed are gone). Values, next changes and
    bytes stay Python's. (The eviction also drops every queued head up to the bound, so the
    core answers such a read from the heads kept, not from its last read; the eviction clears
    that answer all the same, so that a kept answer is never a wrong one.)"""
    python, fast = _pair([ApproxDistinct("m", window=Sliding(150), precision=4)])  # allowed lateness 15
    state_py, state_native = python.new_state(), fast.new_state()
    for t in range(10, 200, 10):
        python.apply(state_py, t, t, [str(t)])
        fast.apply(state_native, t, t, [str(t)])
    for at in (195, 196):  # windows from 45 and 46: registers with a head before them
        assert fast.read_until(state_native, at) == python.read_until(state_py, at), at
        assert fast.next_change(state_native, at) == python.next_change(state_py, at), at
    python.apply(state_py, 196, 211, ["late"])  # arrives at 211: pairs up to 61 are evicted
    fast.apply(state_native, 196, 211, ["late"])
    for at in (196, 197, 211, 260):  # the first from 46 again
        assert fast.read_until(state_native, at) == python.read_until(state_py, at), at
        assert fast.next_change(state_native, at) == python.next_change(state_py, at), at
    assert fast.to_bytes(state_native) == python.to_bytes(state_py)


def test_threads_publishing_the_same_distinct_states_at_once_agree_with_one_thread() -> None:
    """publish_batch reads states without the GIL, and a sliding HyperLogLog keeps its last
    read's answer inside the state: threads publishing the same states at once, each as of
    its own clock ahead of the events (so each read starts after some heads and the kept
    answer changes hands), publish what one thread publishes alone at each of those clocks."""
    import threading

    _, fast = _pair([ApproxDistinct("m", window=Sliding(150), precision=8)])
    rng = random.Random(11)  # seeded
    states = [fast.new_state() for _ in range(40)]
    for state in states:
        for t in range(1, 301):
            fast.apply(state, t, t, [str(rng.randrange(10**6))])
    clocks = [330, 360, 390, 420]
    alone = {at: fast.publish_batch(states, at, None, [False] * len(states)) for at in clocks}
    failures: list[str] = []

    def publish(seed: int) -> None:
        local = random.Random(seed)  # seeded
        for _ in range(150):
            at = local.choice(clocks)
            if fast.publish_batch(states, at, None, [False] * len(states)) != alone[at]:
                failures.append(f"at {at}")
                return

    threads = [threading.Thread(target=publish, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures


def test_threads_applying_batches_at_once_agree_with_one_thread() -> None:
    """apply_batch, publish_batch and RecordDecoder.decode work without the GIL: threads
    sharing one operator (its string-hash cache) and decoder, each with its own states, end
    with the states and published bytes one thread makes alone."""
    import threading

    from operators._native import RecordDecoder

    _, fast = _pair(COVERED)
    decoder = RecordDecoder(
        [("user_id", "str"), ("ts", "int"), ("amount", "float"), ("m", "str"), ("n", "int")],
        "user_id", "ts", None, 1 << 20, 1024,
    )
    rng = random.Random(7)
    payloads = [
        orjson.dumps({"user_id": f"u{rng.randrange(50)}", "ts": i // 3, "amount": rng.randrange(-99, 99) * 0.25,
                      "m": f"m{rng.randrange(40)}", "n": i})
        for i in range(20_000)
    ]

    def run(out: list) -> None:
        states: dict = {}
        for lo in range(0, len(payloads), 500):
            part = payloads[lo : lo + 500]
            keys, times, arrivals, columns, _, deferred = decoder.decode(part, [None] * len(part))
            assert not deferred
            named = dict(zip(["user_id", "ts", "amount", "m", "n"], columns))
            fast.apply_batch(states, keys, times, arrivals, fast.columns_for(named))
            published = fast.publish_batch(list(states.values()), 5_000, None, [False] * len(states))
        out.append(({k: fast.to_bytes(s) for k, s in states.items()}, published))

    alone: list = []
    run(alone)
    together: list = []
    threads = [threading.Thread(target=run, args=(together,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(together) == 3
    assert all(result == alone[0] for result in together)


def test_release_states_empties_only_states_nothing_else_holds() -> None:
    """Evicted states' contents are freed without the GIL only when the list handed over
    is their sole holder: a state someone else still holds keeps its events."""
    _, fast = _pair(COVERED)
    states: dict = {}
    keys = [f"u{i % 4}" for i in range(200)]
    times = list(range(200))
    columns = {"user_id": keys, "ts": times, "amount": [i * 0.5 for i in range(200)], "m": [f"m{i}" for i in range(200)],
               "n": times}
    fast.apply_batch(states, keys, times, times, fast.columns_for(columns))
    kept = states["u1"]
    before = fast.to_bytes(kept)
    victims = [states.pop(key) for key in ("u0", "u1", "u2")]
    assert fast.release_states(victims) == 2  # u1 is still held by `kept`
    assert fast.to_bytes(kept) == before and fast.read(kept, 200) == fast.read(fast.from_bytes(before), 200)
    assert fast.release_states([object(), "not a state"]) == 0


def test_cache_eviction_releases_native_states_and_keeps_held_ones() -> None:
    """The state cache evicts through ``release_states``: evicted entities reload from the
    store with their values, and a state a caller still holds is left whole."""
    import tempfile

    from streamfeat.state import RocksDBStateStore
    from streamfeat.state.cache import EntityStateCache

    _, fast = _pair(COVERED)
    with tempfile.TemporaryDirectory() as directory, RocksDBStateStore(directory) as store:
        cache = EntityStateCache(store, fast, "0123456789abcdef", capacity=2)
        keys = [f"u{i % 6}" for i in range(300)]
        times = list(range(300))
        columns = {"user_id": keys, "ts": times, "amount": [i * 0.25 for i in range(300)],
                   "m": [f"m{i % 9}" for i in range(300)], "n": times}
        states = cache.checkout(keys)
        fast.apply_batch(states, keys, times, times, fast.columns_for(columns))
        cache.checkin(states)
        expected = {key: fast.to_bytes(state) for key, state in states.items()}
        held = cache.peek("u0")
        cache.flush({("t", 0): 300})
        assert cache.resident_count == 2 and "u0" not in cache.resident_keys()  # evicted while held
        assert fast.to_bytes(held) == expected["u0"]
        assert {key: fast.to_bytes(cache[key]) for key in expected} == expected


def test_logs_that_wrapped_around_in_memory_encode_as_python_does() -> None:
    """Exact windows evict from the front and append at the back: after many events their
    in-memory log wraps around its buffer, and is still written in event order."""
    python, fast = _pair(COVERED)
    states_py: dict = {}
    states_native: dict = {}
    rng = random.Random(42)
    # windows of 40-200 time units: an event per unit keeps tens of events in each log
    events = [("u1", i, rng.randrange(0, 3), float(rng.randrange(100)), f"m{i % 7}") for i in range(3_000)]
    keys, times, arrivals, columns = _inputs(python, events)
    for lo in range(0, len(events), 97):  # evicting and appending, batch after batch
        part = slice(lo, lo + 97)
        cols = [None if c is None else c[part] for c in columns]
        python.apply_batch(states_py, keys[part], times[part], arrivals[part], cols)
        fast.apply_batch(states_native, keys[part], times[part], arrivals[part], cols)
        data = python.to_bytes(states_py["u1"])
        assert fast.to_bytes(states_native["u1"]) == data
        assert fast.to_bytes(fast.from_bytes(data)) == data
