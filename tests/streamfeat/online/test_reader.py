"""FeatureReader end to end on both stores: operator state written, finalised at read time.

Every test runs twice: on rows written with the values as of the write (the reader
answers from them while they hold) and on rows without (it always decodes the state).

Timeline of the quiet entity ``alice`` (days after T0, amounts in brackets), written once
after day 2 and never again:

    day      0     1     2  ...  7     8 +1h   9  ...  400
    events  [10]  [20]  [30]
    7d sum               60      50    30      0        0    window (t - 7d, t], open at the old end
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.view import EntityState, ViewOperator
from streamfeat import (
    ApproxDistinct,
    Count,
    Entity,
    FeatureView,
    Hopping,
    LastN,
    Lifetime,
    ManualClock,
    Max,
    Mean,
    Sliding,
    Source,
    Sum,
    build_view,
)
from streamfeat.clock import DAY_MS, HOUR_MS, MINUTE_MS
from streamfeat.errors import DefinitionError, ReadTimeError, StateError, UnknownViewError
from streamfeat.online import EmbeddedStore, FeatureReader, FeatureValues, OnlineStore, StoredEntity

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z

VIEW = FeatureView(
    "user_txn",
    entity=Entity("user", key="user_id"),
    source=Source("transactions", timestamp="ts", schema={"user_id": str, "amount": int, "ts": int}),
    features=[Sum("amount", window=Sliding("7d")), Count(window=Lifetime()), Count(window=Sliding("1h"))],
)
SUM_7D, COUNT, COUNT_1H = VIEW.feature_names
OTHER = FeatureView(
    "user_other",
    entity=VIEW.entity,
    source=VIEW.source,
    features=[Count(window=Lifetime())],
)


def apply(op: ViewOperator, state: EntityState, events: list[tuple[int, int]]) -> None:
    """Apply (event time, amount) events arriving at their event time."""
    for ts, amount in events:
        op.apply(state, ts, ts, [amount, None, None])


@pytest.fixture(params=["cached", "state-only"])
def written(request, store_factory) -> tuple[OnlineStore, ViewOperator, dict[str, EntityState]]:
    store = store_factory()
    write_time = T0 + 2 * DAY_MS + MINUTE_MS if request.param == "cached" else None
    op = build_view(VIEW)
    alice, bob = op.new_state(), op.new_state()
    apply(op, alice, [(T0, 10), (T0 + DAY_MS, 20), (T0 + 2 * DAY_MS, 30)])
    apply(op, bob, [(T0 + 2 * DAY_MS - 30 * MINUTE_MS, 5), (T0 + 2 * DAY_MS, 7)])
    states = {"alice": alice, "bob": bob}
    rows = {e: StoredEntity.of(op, s, at=write_time) for e, s in states.items()}
    assert all((row.cached is not None) == (write_time is not None) for row in rows.values())
    assert store.write(VIEW.name, VIEW.fingerprint(), rows) == 2
    return store, op, states


def test_quiet_entity_windows_close_at_read_time(written) -> None:
    store, op, states = written
    clock = ManualClock(T0 + 2 * DAY_MS)
    reader = FeatureReader(store, [VIEW, OTHER], clock=clock)
    expected = {
        2 * DAY_MS: {SUM_7D: 60, COUNT: 3, COUNT_1H: 1},
        2 * DAY_MS + HOUR_MS: {SUM_7D: 60, COUNT: 3, COUNT_1H: 0},
        7 * DAY_MS: {SUM_7D: 50, COUNT: 3, COUNT_1H: 0},  # day 0 is out: (t - 7d, t] is open at the old end
        8 * DAY_MS + HOUR_MS: {SUM_7D: 30, COUNT: 3, COUNT_1H: 0},
        9 * DAY_MS: {SUM_7D: 0, COUNT: 3, COUNT_1H: 0},
        400 * DAY_MS: {SUM_7D: 0, COUNT: 3, COUNT_1H: 0},
    }
    for offset, values in expected.items():
        clock.set(T0 + offset)
        got = reader.get(VIEW.name, "alice")
        assert got == FeatureValues(
            view=VIEW.name, entity="alice", values=values, event_time=T0 + 2 * DAY_MS, as_of=T0 + offset
        )
        assert got.values == op.read(states["alice"], T0 + offset)
        assert reader.get(VIEW.name, "alice", at=T0 + offset) == got


def test_values_equal_the_operator_read_exactly(written) -> None:
    store, op, states = written
    reader = FeatureReader(store, [VIEW], clock=ManualClock())
    for minutes in range(0, 12 * 24 * 60, 97):
        t = T0 + 2 * DAY_MS + minutes * MINUTE_MS
        many = reader.get_many(VIEW.name, ["bob", "nobody", "alice"], at=t)
        assert [v.entity for v in many] == ["bob", "nobody", "alice"]
        assert many[0].values == op.read(states["bob"], t)
        assert many[1].values == op.read(None, t)
        assert many[2].values == op.read(states["alice"], t)
        assert all(v.as_of == t for v in many)


def test_unknown_entity_reads_empty(written) -> None:
    store, _, _ = written
    reader = FeatureReader(store, [VIEW], clock=ManualClock(T0))
    assert reader.get(VIEW.name, "nobody") == FeatureValues(
        view=VIEW.name, entity="nobody", values={SUM_7D: 0, COUNT: 0, COUNT_1H: 0}, event_time=None, as_of=T0
    )


def test_unknown_view_lists_the_known_ones(written) -> None:
    store, _, _ = written
    reader = FeatureReader(store, [VIEW, OTHER])
    with pytest.raises(UnknownViewError, match=r"'nope'.*user_other, user_txn"):
        reader.get("nope", "alice")
    with pytest.raises(LookupError):
        reader.get_many("nope", ["alice"])


def test_state_of_another_definition_is_never_read(written) -> None:
    store, _, _ = written
    changed = FeatureView("user_txn", entity=VIEW.entity, source=VIEW.source, features=[Count(window=Sliding("2h"))])
    reader = FeatureReader(store, [changed])
    assert reader.get("user_txn", "alice", at=T0 + 3 * DAY_MS).values == {"count_2h": 0}


def test_explicit_time_before_the_newest_arrival_is_refused(written) -> None:
    store, _, _ = written
    reader = FeatureReader(store, [VIEW], clock=ManualClock(T0))
    with pytest.raises(ReadTimeError, match="backfill"):
        reader.get(VIEW.name, "alice", at=T0 + DAY_MS)
    assert reader.get(VIEW.name, "nobody", at=T0).as_of == T0  # nothing applied: any time is fine


def test_clock_behind_the_writer_reads_at_the_newest_arrival(written) -> None:
    store, op, states = written
    reader = FeatureReader(store, [VIEW], clock=ManualClock(T0 + 2 * DAY_MS - 5 * 1_000))
    got = reader.get(VIEW.name, "alice")
    assert got.as_of == T0 + 2 * DAY_MS
    assert got.values == op.read(states["alice"], T0 + 2 * DAY_MS)


def test_cached_values_serve_their_span_and_the_state_the_rest(store_factory) -> None:
    """Alice's values as of the write hold until her 1-hour count drops (day 2 + 1h):
    inside that span the store need not send the state; after it the reader decodes it."""
    store = store_factory()
    op = build_view(VIEW)
    alice = op.new_state()
    apply(op, alice, [(T0, 10), (T0 + DAY_MS, 20), (T0 + 2 * DAY_MS, 30)])
    row = StoredEntity.of(op, alice, at=T0 + 2 * DAY_MS + MINUTE_MS)
    assert row.cached is not None
    assert (row.cached.valid_from, row.cached.valid_until) == (T0 + 2 * DAY_MS + MINUTE_MS, T0 + 2 * DAY_MS + HOUR_MS)
    store.write(VIEW.name, VIEW.fingerprint(), {"alice": row})
    inside = T0 + 2 * DAY_MS + HOUR_MS - 1
    (fetched,) = store.get_raw(VIEW.name, VIEW.fingerprint(), ["alice"], at=inside)
    assert fetched is not None and fetched.cached == row.cached
    reader = FeatureReader(store, [VIEW])
    for t in (T0 + 2 * DAY_MS + MINUTE_MS, inside, T0 + 2 * DAY_MS + HOUR_MS, T0 + 9 * DAY_MS):
        assert reader.get(VIEW.name, "alice", at=t).values == op.read(alice, t)
    # A newer row without values replaces the old values too: they no longer hold.
    apply(op, alice, [(T0 + 2 * DAY_MS + 2 * MINUTE_MS, 1)])
    store.write(VIEW.name, VIEW.fingerprint(), {"alice": StoredEntity.of(op, alice)})
    (fetched,) = store.get_raw(VIEW.name, VIEW.fingerprint(), ["alice"], at=inside)
    assert fetched is not None and fetched.cached is None and fetched.state is not None
    assert reader.get(VIEW.name, "alice", at=inside).values[SUM_7D] == 61


def test_values_json_cannot_carry_exactly_are_not_cached() -> None:
    view = FeatureView("v", entity=VIEW.entity, source=Source("s", timestamp="ts", schema={"user_id": str, "x": float, "ts": int}),
                       features=[Sum("x", window=Lifetime())])
    op = build_view(view)
    state = op.new_state()
    op.apply(state, T0, T0, [float("inf")])
    op.apply(state, T0, T0, [float("-inf")])  # the sum is NaN, which JSON writes as null
    assert StoredEntity.of(op, state, at=T0).cached is None
    state = op.new_state()
    op.apply(state, T0, T0, [2.5])
    assert StoredEntity.of(op, state, at=T0).cached is not None


def test_corrupt_state_is_a_state_error(written) -> None:
    store, _, _ = written
    store.write(VIEW.name, VIEW.fingerprint(), {"alice": StoredEntity(state=b"\x07junk", version=99, event_time=T0)})
    with pytest.raises(StateError, match="'alice'"):
        FeatureReader(store, [VIEW]).get(VIEW.name, "alice", at=T0 + 3 * DAY_MS)


def test_two_views_with_one_name_are_refused(written) -> None:
    store, _, _ = written
    with pytest.raises(DefinitionError, match="user_txn"):
        FeatureReader(store, [VIEW, VIEW])


WIDE = FeatureView(
    "wide",
    entity=VIEW.entity,
    source=Source("tx", timestamp="ts", schema={"user_id": str, "amount": int, "ts": int}, max_ahead="1h"),
    allowed_lateness="10m",
    features=[
        Sum("amount", window=Sliding("2h")),
        Max("amount", window=Sliding("3h")),
        ApproxDistinct("amount", window=Sliding("1h")),
        Count(window=Sliding("1d", tile="1h"), refresh="1h", publish_lag="5m"),
        Count(window=Sliding("6h", tile="1h")),
        Sum("amount", window=Hopping("2h", hop="30m")),
        Mean("amount", window=Lifetime()),
        LastN("amount", n=3),
    ],
)


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.integers(0, 8 * 60), st.integers(-30, 90), st.integers(-5, 50)), max_size=40
    ),  # (arrival minute, minutes the event time lies before its arrival, amount)
    write_gap=st.integers(0, 120),
    read_gaps=st.lists(st.integers(0, 26 * 60), min_size=1, max_size=8),
)
def test_cached_values_equal_the_state_read_at_any_time(tmp_path_factory, events, write_gap, read_gaps) -> None:
    """Rows written with their values as of a random write time answer every later read
    exactly as decoding the state does (the cache is used inside its span only)."""
    op = build_view(WIDE)
    state = op.new_state()
    for arrival, before, amount in sorted(events):
        op.apply(state, T0 + (arrival - before) * MINUTE_MS, T0 + arrival * MINUTE_MS, [amount] * 3 + [None] * 2 + [amount] * 3)
    if not state.seq:
        return
    write_time = state.now + write_gap * MINUTE_MS
    row = StoredEntity.of(op, state, at=write_time)
    assert row.cached is not None
    with EmbeddedStore(tmp_path_factory.mktemp("store") / "online.sqlite") as store:
        store.write(WIDE.name, WIDE.fingerprint(), {"u": row})
        reader = FeatureReader(store, [WIDE])
        for gap in read_gaps:
            for t in (write_time + gap * MINUTE_MS, row.cached.valid_until - 1, row.cached.valid_until):
                if t >= state.now:
                    assert reader.get(WIDE.name, "u", at=t).values == op.read(state, t), f"at {t}"


def test_a_values_only_row_past_its_span_answers_as_of_the_span_end(store_factory) -> None:
    """A writer publishes a large state values-only between commits and writes the state
    before the span ends; if it stops first, a clock read answers the newest exact values
    (as of the span's last instant, saying so) and an explicit read says why it cannot."""
    store = store_factory()
    op = build_view(VIEW)
    alice = op.new_state()
    apply(op, alice, [(T0, 10), (T0 + DAY_MS, 20)])
    store.write(VIEW.name, VIEW.fingerprint(), {"alice": StoredEntity.of(op, alice, at=T0 + DAY_MS)})
    apply(op, alice, [(T0 + 2 * DAY_MS, 30)])
    newer = StoredEntity.of(op, alice, at=T0 + 2 * DAY_MS)
    assert newer.cached is not None and newer.cached.valid_until == T0 + 2 * DAY_MS + HOUR_MS  # the 1h count drops
    assert store.write(VIEW.name, VIEW.fingerprint(), {"alice": StoredEntity(None, newer.version, newer.event_time,
                                                                             newer.cached)}) == 1
    clock = ManualClock(T0 + 2 * DAY_MS + MINUTE_MS)
    reader = FeatureReader(store, [VIEW], clock=clock)
    inside = reader.get(VIEW.name, "alice")
    assert inside.values == op.read(alice, clock.now_ms()) and inside.as_of == clock.now_ms()
    clock.set(T0 + 3 * DAY_MS)
    last = T0 + 2 * DAY_MS + HOUR_MS - 1
    assert reader.get(VIEW.name, "alice") == FeatureValues(VIEW.name, "alice", op.read(alice, last), T0 + 2 * DAY_MS,
                                                           last)
    with pytest.raises(ReadTimeError, match=r"'alice'.*state of version 2.*streaming job"):
        reader.get(VIEW.name, "alice", at=T0 + 3 * DAY_MS)
    assert store.write(VIEW.name, VIEW.fingerprint(), {"alice": newer}) == 1  # the state arrives
    assert reader.get(VIEW.name, "alice", at=T0 + 3 * DAY_MS).values == op.read(alice, T0 + 3 * DAY_MS)
