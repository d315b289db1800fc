"""The OnlineStore contract, run against the embedded (SQLite) and the Redis store."""

from __future__ import annotations

import dataclasses

import pytest

from streamfeat.errors import OnlineStoreError
from streamfeat.online import OnlineStore, StoredEntity
from streamfeat.online.base import CachedValues

VIEW, FP = "user_txn", "0123456789abcdef"


def row(version: int, payload: bytes | None = None, event_time: int | None = None) -> StoredEntity:
    return StoredEntity(
        state=payload if payload is not None else f"state-v{version}".encode() + bytes(range(256)),
        version=version,
        event_time=1_700_000_000_000 + version if event_time is None else event_time,
    )


@pytest.fixture
def store(store_factory) -> OnlineStore:
    return store_factory()


def test_round_trip(store: OnlineStore) -> None:
    rows = {"u1": row(3), "u2": row(1, payload=b"\x00\xff" * 150, event_time=-(2**62))}
    assert store.write(VIEW, FP, rows) == 2
    assert store.get_raw(VIEW, FP, ["u2", "u1"]) == [rows["u2"], rows["u1"]]
    assert store.get_raw(VIEW, FP, ["u1"]) == [rows["u1"]]


def test_missing_entities_read_as_none_in_order(store: OnlineStore) -> None:
    store.write(VIEW, FP, {"u1": row(1)})
    assert store.get_raw(VIEW, FP, ["nobody"]) == [None]
    assert store.get_raw(VIEW, FP, ["x", "u1", "y", "u1"]) == [None, row(1), None, row(1)]
    assert store.get_raw(VIEW, FP, []) == []


def test_views_and_fingerprints_are_separate(store: OnlineStore) -> None:
    store.write(VIEW, FP, {"u1": row(5)})
    assert store.get_raw(VIEW, "fedcba9876543210", ["u1"]) == [None]
    assert store.get_raw("other_view", FP, ["u1"]) == [None]
    assert store.write(VIEW, "fedcba9876543210", {"u1": row(1)}) == 1  # its own row, not "older"
    assert store.get_raw(VIEW, FP, ["u1"]) == [row(5)]


def test_older_and_equal_versions_are_ignored_newer_applied(store: OnlineStore) -> None:
    assert store.write(VIEW, FP, {"u1": row(5)}) == 1
    assert store.write(VIEW, FP, {"u1": row(4, payload=b"older")}) == 0
    assert store.write(VIEW, FP, {"u1": row(5, payload=b"same version, other bytes")}) == 0
    assert store.get_raw(VIEW, FP, ["u1"]) == [row(5)]
    assert store.write(VIEW, FP, {"u1": row(6)}) == 1
    assert store.get_raw(VIEW, FP, ["u1"]) == [row(6)]


def test_replayed_batch_is_idempotent(store: OnlineStore) -> None:
    batch = {f"u{i}": row(i + 1) for i in range(20)}
    assert store.write(VIEW, FP, batch) == 20
    assert store.write(VIEW, FP, batch) == 0
    assert store.get_raw(VIEW, FP, list(batch)) == list(batch.values())


def test_mixed_batch_writes_only_newer_rows(store: OnlineStore) -> None:
    store.write(VIEW, FP, {"old": row(10), "same": row(10), "new": row(10)})
    mixed = {
        "old": row(9, payload=b"stale"),
        "same": row(10, payload=b"equal"),
        "new": row(11),
        "fresh": row(1),
    }
    assert store.write(VIEW, FP, mixed) == 2
    assert store.get_raw(VIEW, FP, ["old", "same", "new", "fresh"]) == [row(10), row(10), row(11), row(1)]


def test_batch_of_1000_rows(store: OnlineStore) -> None:
    rows = {f"entity-{i:04d}": row(i + 1, payload=i.to_bytes(4, "big") * 75) for i in range(1_000)}
    assert store.write(VIEW, FP, rows) == 1_000
    entities = list(rows)
    assert store.get_raw(VIEW, FP, entities) == list(rows.values())
    newer = {e: row(r.version + 1) for e, r in list(rows.items())[::2]}
    assert store.write(VIEW, FP, {**rows, **newer}) == 500
    assert store.get_raw(VIEW, FP, entities[:4]) == [
        newer[entities[0]],
        rows[entities[1]],
        newer[entities[2]],
        rows[entities[3]],
    ]


def test_empty_batch_writes_nothing(store: OnlineStore) -> None:
    assert store.write(VIEW, FP, {}) == 0


def test_cached_values_round_trip_and_cover_only_their_span(store: OnlineStore) -> None:
    values = CachedValues(b'{"count":3,"sum":2.5,"last":[1,2]}', 1_000, 5_000)
    rows = {"cached": dataclasses.replace(row(2), cached=values), "plain": row(3)}
    assert store.write(VIEW, FP, rows) == 2
    assert store.get_raw(VIEW, FP, ["cached", "plain"]) == [rows["cached"], rows["plain"]]
    for at in (999, 5_000, 10**15):  # outside the span: the state comes too
        assert store.get_raw(VIEW, FP, ["plain", "cached", "nobody"], at=at) == [rows["plain"], rows["cached"], None]
    for at in (1_000, 4_999):  # inside: the values; the state bytes may be left out
        plain, cached, nobody = store.get_raw(VIEW, FP, ["plain", "cached", "nobody"], at=at)
        assert plain == rows["plain"] and nobody is None
        assert cached is not None and cached.cached == values and cached.state in (None, rows["cached"].state)
        assert (cached.version, cached.event_time) == (2, rows["cached"].event_time)


def test_a_newer_row_without_values_drops_the_old_values(store: OnlineStore) -> None:
    store.write(VIEW, FP, {"u1": dataclasses.replace(row(2), cached=CachedValues(b"{}", 0, 10**12))})
    store.write(VIEW, FP, {"u1": row(3)})
    assert store.get_raw(VIEW, FP, ["u1"], at=5) == [row(3)]


def test_a_row_without_state_bytes_or_values_is_refused(store: OnlineStore) -> None:
    with pytest.raises(OnlineStoreError, match="'u1'"):
        store.write(VIEW, FP, {"u1": dataclasses.replace(row(2), state=None)})


def values_only(version: int, values: CachedValues) -> StoredEntity:
    return StoredEntity(state=None, version=version, event_time=1_700_000_000_000 + version, cached=values)


def test_values_only_rows_keep_the_older_state_and_say_so(store: OnlineStore) -> None:
    values = CachedValues(b'{"count":7}', 1_000, 5_000)
    assert store.write(VIEW, FP, {"u1": row(3), "u2": row(3)}) == 2
    assert store.write(VIEW, FP, {"u1": values_only(5, values), "nobody": values_only(1, values)}) == 1
    assert store.get_raw(VIEW, FP, ["nobody"]) == [None]  # nothing stored: nothing to keep
    expected = StoredEntity(row(3).state, 5, row(5).event_time, values, state_version=3)
    assert store.get_raw(VIEW, FP, ["u1"]) == [expected]
    assert not expected.state_is_current
    assert store.get_raw(VIEW, FP, ["u1"], at=10_000) == [expected]  # outside the span: the (old) state comes
    (inside,) = store.get_raw(VIEW, FP, ["u1"], at=1_000)
    assert inside is not None and inside.cached == values and inside.version == 5 and inside.state_version == 3
    # Another values-only write keeps the version the state belongs to; older ones are
    # ignored, and so are those of a row's version when its state is current.
    later = CachedValues(b'{"count":8}', 2_000, 6_000)
    assert store.write(VIEW, FP, {"u1": values_only(6, values)}) == 1
    assert store.write(VIEW, FP, {"u1": values_only(5, later), "u2": values_only(3, values)}) == 0
    # The same version again (a replay, later): its values and span replace the old ones.
    assert store.write(VIEW, FP, {"u1": values_only(6, later)}) == 1
    assert store.get_raw(VIEW, FP, ["u1"]) == [dataclasses.replace(expected, version=6, event_time=row(6).event_time,
                                                                   cached=later)]
    assert store.get_raw(VIEW, FP, ["u2"]) == [row(3)]


def test_the_state_of_a_values_only_version_catches_up_once(store: OnlineStore) -> None:
    values = CachedValues(b'{"count":7}', 1_000, 5_000)
    store.write(VIEW, FP, {"u1": row(3)})
    store.write(VIEW, FP, {"u1": values_only(5, values)})
    assert store.write(VIEW, FP, {"u1": row(4)}) == 0  # older than the values: ignored
    full = dataclasses.replace(row(5), cached=values)
    assert store.write(VIEW, FP, {"u1": full}) == 1  # same version, current state: written
    assert store.get_raw(VIEW, FP, ["u1"]) == [full]
    assert store.get_raw(VIEW, FP, ["u1"])[0].state_is_current  # type: ignore[union-attr]
    assert store.write(VIEW, FP, {"u1": dataclasses.replace(full, state=b"other bytes")}) == 0
    assert store.write(VIEW, FP, {"u1": row(6)}) == 1
    assert store.get_raw(VIEW, FP, ["u1"]) == [row(6)]
