"""Packed online rows: the layout, the native core's packing, and the stores' writes of them."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.native import NativeViewOperator
from streamfeat import Count, Entity, FeatureView, LastN, Lifetime, Max, Sliding, Source, Sum, build_view
from streamfeat.errors import OnlineStoreError
from streamfeat.online import BackgroundWriter, LmdbStore
from streamfeat.online.base import StoredEntity, make_row
from streamfeat.online.packed import PackedRows, pack_rows, unpack_rows

VIEW, FP = "user_txn", "fp1"

SOURCE = Source("t", timestamp="ts", schema={"user_id": str, "amount": float, "ts": int})
DEFINITION = FeatureView(
    "user_txn",
    entity=Entity("user", key="user_id"),
    source=SOURCE,
    features=[
        Count(window=Lifetime()),
        Sum("amount", window=Sliding("7d")),
        Max("amount", window=Sliding("1h")),
        LastN("amount", n=3),
        Count(window=Sliding("30d", tile="1d"), refresh="1d", publish_lag="2h"),
    ],
)

i64s = st.integers(min_value=-(2**63), max_value=2**63 - 1)
rows_strategy = st.dictionaries(
    st.text(min_size=1, max_size=12),
    st.tuples(
        st.one_of(st.none(), st.binary(max_size=64)),
        i64s,
        i64s,
        st.one_of(st.none(), st.binary(max_size=40)),
        i64s,
        i64s,
    ).filter(lambda r: r[0] is not None or r[3] is not None),
    max_size=20,
)


def rows_of(spec: dict[str, tuple]) -> dict[str, StoredEntity]:
    return {entity: make_row(*fields) for entity, fields in spec.items()}


@settings(max_examples=200, deadline=None)
@given(rows_strategy)
def test_packing_round_trips(spec: dict[str, tuple]) -> None:
    rows = rows_of(spec)
    packed = pack_rows(rows)
    assert list(packed) == list(rows) and len(packed) == len(rows)
    assert unpack_rows(packed.data) == rows == packed.to_rows()


def test_a_row_without_state_or_values_cannot_be_packed() -> None:
    with pytest.raises(OnlineStoreError, match="needs its state bytes or values"):
        pack_rows({"u1": make_row(None, 1, 1, None, 0, 0)})


@pytest.mark.parametrize("cut", [1, 5, 20, 45])
def test_malformed_packed_rows_are_a_clear_error(tmp_path: Path, cut: int) -> None:
    data = pack_rows(rows_of({"u1": (b"state", 3, 7, b'{"a":1}', 0, 10)})).data
    with pytest.raises(OnlineStoreError, match="malformed"):
        unpack_rows(data[:-cut])
    for native in (True, False):
        with LmdbStore(tmp_path / f"s{native}.lmdb", native=native) as store:
            with pytest.raises(OnlineStoreError, match="malformed"):
                store.write_packed([(VIEW, FP, data[:-cut])])
            assert store.get_raw(VIEW, FP, ["u1"]) == [None]  # nothing of the batch was written


def applied_states(seed: int, events: int = 400, users: int = 30) -> tuple[NativeViewOperator, dict, int]:
    """A native view operator and its states after ``events`` random events."""
    op = build_view(DEFINITION)
    assert isinstance(op, NativeViewOperator), "the native core is not built: reinstall with cargo"
    rng = random.Random(seed)
    t0 = 1_700_000_000_000
    keys = [f"u{rng.randrange(users)}é" for _ in range(events)]
    times = sorted(t0 + rng.randrange(20 * 86_400_000) for _ in range(events))
    amounts = [round(rng.uniform(-5, 500), 2) for _ in range(events)]
    states: dict = {}
    op.apply_batch(states, keys, times, times, op.columns_for({"user_id": keys, "amount": amounts, "ts": times}))
    return op, states, times[-1]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("with_values", [True, False], ids=["values", "state-only"])
def test_native_packing_gives_the_rows_publish_batch_gives(seed: int, with_values: bool) -> None:
    op, states, end = applied_states(seed)
    rng = random.Random(seed)
    entities = list(states)
    touched = [states[k] for k in entities]
    at = end + rng.randrange(3_600_000) if with_values else None
    horizon = None if at is None else at + 2_000
    large = [rng.random() < 0.5 for _ in entities]
    threshold = 90
    expected = op.publish_batch(touched, at, horizon, large)
    packed, data, values_only, large_at = op.publish_packed(touched, entities, at, horizon, large, threshold)
    rows = unpack_rows(packed)
    assert list(rows) == entities
    for i, (entity, state) in enumerate(zip(entities, touched, strict=True)):
        state_bytes, values, valid_from, valid_until = expected[i]
        assert rows[entity] == make_row(state_bytes, state.seq, state.frontier, values, valid_from, valid_until)
        assert data[i] == state_bytes
    assert values_only == [(i, row[3]) for i, row in enumerate(expected) if row[0] is None]
    assert large_at == [i for i, row in enumerate(expected) if row[0] is not None and len(row[0]) >= threshold]
    if with_values:
        assert values_only, "some large states' values hold past the horizon: values-only rows"
    assert large_at, "some states are at least the threshold long"


def test_native_packing_checks_its_arguments() -> None:
    op, states, end = applied_states(4)
    touched = list(states.values())
    with pytest.raises(ValueError, match="one entity"):
        op.publish_packed(touched, list(states)[:-1], end, None, [False] * len(touched), 100)


def stored(store: LmdbStore, entities: list[str]) -> list[StoredEntity | None]:
    return store.get_raw(VIEW, FP, entities)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_packed_writes_store_what_row_writes_store(tmp_path: Path, seed: int) -> None:
    """Groups with repeated entities, values-only rows over full ones, and entities whose
    stored row is newer than every row written (never regressed): the native writer, the
    py-lmdb one and row-by-row writes store the same rows. Versions rise per entity in the
    order rows are handed over, as the pipeline hands them."""
    rng = random.Random(seed)
    entities = [f"e{i}" for i in range(25)]
    newer = set(rng.sample(entities, 5))
    version = dict.fromkeys(entities, 0)
    groups = []
    for _ in range(8):
        spec = {}
        for entity in rng.sample(entities, 12):
            version[entity] += rng.choice([1, 1, 2])
            v = version[entity]
            values_only = rng.random() < 0.3
            spec[entity] = (
                None if values_only else rng.randbytes(rng.randrange(1, 40)),
                v,
                1_000 * v,
                rng.randbytes(8),
                v,
                v + 100,
            )
        groups.append(rows_of(spec))
    results = []
    for name, native, packed in (("native", True, True), ("py", False, True), ("rows", True, False)):
        with LmdbStore(tmp_path / f"{name}.lmdb", native=native) as store:
            # a first full row of every entity (values-only rows need one), some newer than what follows
            store.write(VIEW, FP, {e: make_row(b"first", 1_000 if e in newer else 0, 0, None, 0, 0) for e in entities})
            if packed:
                store.write_packed([(VIEW, FP, pack_rows(rows).data) for rows in groups])
            else:
                for rows in groups:
                    store.write(VIEW, FP, rows)
            results.append(stored(store, entities))
    assert results[0] == results[1] == results[2]
    assert any(row is not None and not row.state_is_current for row in results[0])  # values-only rows landed
    assert all(
        row is not None and row.version == 1_000 and row.state == b"first"
        for entity, row in zip(entities, results[0], strict=True)
        if entity in newer
    )


def test_packed_rows_through_the_store_and_the_background_writer(tmp_path: Path) -> None:
    rows = rows_of({"u1": (b"s1", 1, 10, b'{"n":1}', 0, 50), "u2": (b"s2", 4, 20, None, 0, 0)})
    with LmdbStore(tmp_path / "a.lmdb") as store:
        assert store.accepts_packed_rows
        assert store.write(VIEW, FP, pack_rows(rows)) == 2
        assert store.write(VIEW, FP, PackedRows(b"", [])) == 0
        assert stored(store, ["u1", "u2"]) == [rows["u1"], rows["u2"]]
    with LmdbStore(tmp_path / "b.lmdb", native=False) as store:
        assert not store.accepts_packed_rows  # it would unpack them in Python
    with BackgroundWriter(LmdbStore(tmp_path / "c.lmdb")) as writer:
        assert writer.accepts_packed_rows
        assert writer.write(VIEW, FP, pack_rows(rows)) == 2
        newer = rows_of({"u1": (None, 2, 11, b'{"n":2}', 5, 60)})  # rows as dicts are packed too, in order
        assert writer.write(VIEW, FP, newer) == 1
        writer.flush()
        (u1,) = writer.get_raw(VIEW, FP, ["u1"])
        assert u1 is not None and u1.version == 2 and u1.state == b"s1" and u1.cached == newer["u1"].cached
    with BackgroundWriter(LmdbStore(tmp_path / "d.lmdb", native=False)) as writer:
        assert not writer.accepts_packed_rows
        assert writer.write(VIEW, FP, pack_rows(rows)) == 2  # unpacked, merged as rows
        assert writer.get_raw(VIEW, FP, ["u1", "u2"]) == [rows["u1"], rows["u2"]]
