"""Served values are the in-process reader's values as of the request time, on both stores."""

from __future__ import annotations

import threading

import pytest

from streamfeat.clock import DAY_MS, HOUR_MS
from streamfeat.online import FeatureValues
from streamfeat.serving.client import ServingError
from tests.streamfeat.serving.conftest import OTHER, T0, VIEW, Served

SUM_7D, COUNT, COUNT_1H = VIEW.feature_names


def test_single_read_is_the_reader_value_as_of_the_request_time(served: Served) -> None:
    got = served.client.get(VIEW.name, "alice")
    assert got == served.reader.get(VIEW.name, "alice")
    assert got == FeatureValues(VIEW.name, "alice", {SUM_7D: 60, COUNT: 3, COUNT_1H: 1}, T0 + 2 * DAY_MS,
                                T0 + 2 * DAY_MS)


def test_quiet_entity_windows_close_at_the_request_time(served: Served) -> None:
    """Nothing is written after day 2; expired events still drop out of every read."""
    expected = {
        2 * DAY_MS: {SUM_7D: 60, COUNT: 3, COUNT_1H: 1},
        2 * DAY_MS + HOUR_MS: {SUM_7D: 60, COUNT: 3, COUNT_1H: 0},  # (t - 1h, t] is open at the old end
        7 * DAY_MS: {SUM_7D: 50, COUNT: 3, COUNT_1H: 0},  # day 0 has left (t - 7d, t]
        9 * DAY_MS: {SUM_7D: 0, COUNT: 3, COUNT_1H: 0},
    }
    for offset, values in expected.items():
        served.clock.set(T0 + offset)
        got = served.client.get(VIEW.name, "alice")
        assert got.values == values and got.as_of == T0 + offset and got.event_time == T0 + 2 * DAY_MS
        assert got == served.reader.get(VIEW.name, "alice")


def test_explicit_at_and_feature_subset(served: Served) -> None:
    at = T0 + 8 * DAY_MS
    got = served.client.get(VIEW.name, "alice", at=at, features=[SUM_7D, COUNT])
    assert got.values == {SUM_7D: 30, COUNT: 3} and got.as_of == at
    assert list(got.values) == [SUM_7D, COUNT]
    full = served.reader.get(VIEW.name, "alice", at=at)
    assert got.values == {k: full.values[k] for k in (SUM_7D, COUNT)}


def test_at_before_the_entity_newest_arrival_is_refused(served: Served) -> None:
    with pytest.raises(ServingError) as raised:
        served.client.get(VIEW.name, "alice", at=T0 + DAY_MS)
    assert raised.value.status == 400 and raised.value.code == "read_time_too_early"
    assert "backfill" in str(raised.value)


def test_unknown_entity_reads_as_empty(served: Served) -> None:
    got = served.client.get(VIEW.name, "nobody")
    assert got.values == {SUM_7D: 0, COUNT: 0, COUNT_1H: 0} and got.event_time is None
    # Glob characters are part of a key, never a pattern: nothing is scanned.
    assert served.client.get(VIEW.name, "*").values == got.values
    assert served.client.get(VIEW.name, "ali*").event_time is None


def test_batch_is_get_many_in_order_with_duplicates(served: Served) -> None:
    entities = ["bob", "nobody", "alice", "bob"]
    got = served.client.get_many(VIEW.name, entities)
    assert got == served.reader.get_many(VIEW.name, entities)
    assert [g.entity for g in got] == entities
    subset = served.client.get_many(VIEW.name, entities, features=[COUNT_1H], at=T0 + 2 * DAY_MS + 10)
    assert [g.values for g in subset] == [{COUNT_1H: 2}, {COUNT_1H: 0}, {COUNT_1H: 1}, {COUNT_1H: 2}]


def test_entity_keys_with_reserved_characters(served: Served) -> None:
    from tests.streamfeat.serving.conftest import write_entities

    keys = ["a/b", "é ü", "x?y=1&z", "%41", "key with spaces", "#hash"]
    write_entities(served.store, {key: [(T0 + 2 * DAY_MS, i + 1)] for i, key in enumerate(keys)})
    for i, key in enumerate(keys):
        got = served.client.get(VIEW.name, key)
        assert got.entity == key and got.values[SUM_7D] == i + 1
    assert [g.values[SUM_7D] for g in served.client.get_many(VIEW.name, keys)] == [1, 2, 3, 4, 5, 6]


def test_other_view_and_catalogue(served: Served) -> None:
    assert served.client.get(OTHER.name, "alice").values == {"count_lifetime": 0}
    names = {v["name"]: v["features"] for v in served.client.views()}
    assert names == {VIEW.name: list(VIEW.feature_names), OTHER.name: list(OTHER.feature_names)}


def test_concurrent_clients_get_their_own_answers(served: Served) -> None:
    """Single reads that arrive together are answered from one store round trip; each
    client must still get its own entity's answer, in order, on every connection."""
    from streamfeat.serving.client import Client

    expected = {e: served.reader.get(VIEW.name, e) for e in ("alice", "bob", "nobody")}
    failures: list[str] = []

    def worker(k: int) -> None:
        with Client(served.url) as client:
            for i in range(150):
                entity = ("alice", "bob", "nobody")[(k + i) % 3]
                if i % 10 == 0:
                    got = client.get_many(VIEW.name, [entity, "alice"])
                    if got != [expected[entity], expected["alice"]]:
                        failures.append(f"batch {entity}: {got}")
                elif (got1 := client.get(VIEW.name, entity)) != expected[entity]:
                    failures.append(f"{entity}: {got1}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]
