"""FeatureReader end to end on both stores: operator state written, finalised at read time.

Timeline of the quiet entity ``alice`` (days after T0, amounts in brackets), written once
after day 2 and never again:

    day      0     1     2  ...  7     8 +1h   9  ...  400
    events  [10]  [20]  [30]
    7d sum               60      50    30      0        0    window (t - 7d, t], open at the old end
"""

from __future__ import annotations

import pytest

from operators.view import EntityState, ViewOperator
from streamfeat import Count, Entity, FeatureView, Lifetime, ManualClock, Sliding, Source, Sum, build_view
from streamfeat.clock import DAY_MS, HOUR_MS, MINUTE_MS
from streamfeat.errors import DefinitionError, ReadTimeError, StateError, UnknownViewError
from streamfeat.online import FeatureReader, FeatureValues, OnlineStore, StoredEntity

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


@pytest.fixture
def written(store_factory) -> tuple[OnlineStore, ViewOperator, dict[str, EntityState]]:
    store = store_factory()
    op = build_view(VIEW)
    alice, bob = op.new_state(), op.new_state()
    apply(op, alice, [(T0, 10), (T0 + DAY_MS, 20), (T0 + 2 * DAY_MS, 30)])
    apply(op, bob, [(T0 + 2 * DAY_MS - 30 * MINUTE_MS, 5), (T0 + 2 * DAY_MS, 7)])
    states = {"alice": alice, "bob": bob}
    assert store.write(VIEW.name, VIEW.fingerprint(), {e: StoredEntity.of(op, s) for e, s in states.items()}) == 2
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


def test_corrupt_state_is_a_state_error(written) -> None:
    store, _, _ = written
    store.write(VIEW.name, VIEW.fingerprint(), {"alice": StoredEntity(state=b"\x07junk", version=99, event_time=T0)})
    with pytest.raises(StateError, match="'alice'"):
        FeatureReader(store, [VIEW]).get(VIEW.name, "alice", at=T0 + 3 * DAY_MS)


def test_two_views_with_one_name_are_refused(written) -> None:
    store, _, _ = written
    with pytest.raises(DefinitionError, match="user_txn"):
        FeatureReader(store, [VIEW, VIEW])
