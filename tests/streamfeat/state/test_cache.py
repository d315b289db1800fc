"""EntityStateCache: apply_batch through a small cache over RocksDB equals an in-memory run."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping, Sequence

import pytest
import rocksdict

from operators.view import EntityState, ViewOperator
from streamfeat import Count, Entity, FeatureView, Lifetime, Max, Sliding, Source, Sum, build_view
from streamfeat.errors import StateError, StateKeyError, StateStoreError
from streamfeat.state import EntityStateCache, RocksDBStateStore, StateStore
from streamfeat.state import keys as layout

HOUR = 3_600_000
USER = Entity("user", key="user_id")
TXNS = Source("txns", timestamp="ts", schema={"user_id": str, "amount": float, "qty": int, "ts": int}, max_ahead="1h")
VIEW = FeatureView(
    "user_activity",
    entity=USER,
    source=TXNS,
    features=[
        Count(window=Sliding("1h")),
        Sum("amount", window=Sliding("2h")),
        Max("qty", window=Sliding("1h")),
        Count(window=Sliding("1d", tile="1h")),
        Sum("amount", window=Sliding("6h", tile="30m")),
        Max("amount", window=Sliding("1d", tile="1h")),
    ],
    allowed_lateness="10m",
)
OP = build_view(VIEW)
FP = VIEW.fingerprint()
#: Features the native core covers (VIEW's tiled max is not): a view whose states it decodes.
NATIVE_VIEW = FeatureView(
    "user_activity",
    entity=USER,
    source=TXNS,
    features=[Count(window=Sliding("1h")), Sum("amount", window=Sliding("2h")), Max("amount", window=Sliding("1h"))],
    allowed_lateness="10m",
)


def batches(seed: int, *, entities: int, batches: int, size: int) -> Iterator[dict[str, list]]:
    """Seeded event batches: mostly in order, some late, a few too far ahead."""
    rng = random.Random(seed)
    t = 1_700_000_000_000
    for _ in range(batches):
        batch: dict[str, list] = {"user_id": [], "ts": [], "arrival": [], "amount": [], "qty": []}
        for _ in range(size):
            t += rng.randrange(0, 20_000)
            batch["user_id"].append(f"user-{rng.randrange(entities)}")
            batch["arrival"].append(t)
            batch["ts"].append(t - rng.choice([0, 0, 0, 1000, 15 * 60_000, -2 * HOUR]))
            batch["amount"].append(round(rng.uniform(-5, 100), 2))
            batch["qty"].append(rng.randrange(1, 10))
        yield batch


def apply(op: ViewOperator, states, batch: Mapping[str, list]):
    return op.apply_batch(states, batch["user_id"], batch["ts"], batch["arrival"], op.columns_for(batch))


@pytest.mark.parametrize("prefetch", [True, False], ids=["prefetch", "load-on-demand"])
def test_cache_over_rocksdb_equals_in_memory_run(tmp_path, prefetch):
    memory: dict[str, EntityState] = {}
    with RocksDBStateStore(tmp_path / "db") as store:
        cache = EntityStateCache(store, OP, FP, capacity=10)
        for i, batch in enumerate(batches(7, entities=1000, batches=8, size=1000)):
            if prefetch:
                cache.prefetch(batch["user_id"])
            assert apply(OP, cache, batch) == apply(OP, memory, batch)
            cache.flush({("txns", 0): (i + 1) * 1000})
            assert cache.resident_count <= 10
        assert len(memory) > 990
    with RocksDBStateStore(tmp_path / "db") as store:
        assert store.offsets() == {("txns", 0): 8000}
        cache = EntityStateCache(store, OP, FP, capacity=10)
        assert sorted(cache) == sorted(memory)
        for key, state in memory.items():
            assert OP.to_bytes(cache.read(key)) == OP.to_bytes(state)
    # the stored values are exactly op.to_bytes, raw (no pickle framing)
    db = rocksdict.Rdict(str(tmp_path / "db"), rocksdict.Options(raw_mode=True))
    try:
        prefix = layout.view_prefix(FP)
        for key, state in memory.items():
            assert db[prefix + key.encode()] == OP.to_bytes(state)
    finally:
        db.close()


def test_prefetch_reads_the_store_once_per_batch(store_factory):
    store = CountingStore(store_factory())
    cache = EntityStateCache(store, OP, FP, capacity=100)
    batch = next(batches(3, entities=50, batches=1, size=500))
    assert cache.prefetch(batch["user_id"]) == len(set(batch["user_id"]))
    apply(OP, cache, batch)
    assert store.reads == [len(set(batch["user_id"]))]  # every missing entity in one get_many, none after
    cache.flush({})
    assert cache.prefetch(batch["user_id"]) == 0  # all resident now
    assert store.reads == [len(set(batch["user_id"]))]


def test_lru_eviction_after_flush(store_factory):
    store = store_factory()
    cache = EntityStateCache(store, OP, FP, capacity=2)
    for key in "abc":
        cache[key] = OP.new_state()
    assert cache.resident_keys() == ["a", "b", "c"]  # never evicted before a flush
    cache.flush({})
    assert cache.resident_keys() == ["b", "c"]
    cache.get("b")
    cache.flush({})
    assert cache.resident_keys() == ["c", "b"]
    cache.get("a")  # loaded back from the store
    cache.flush({})
    assert cache.resident_keys() == ["b", "a"]
    assert sorted(cache) == ["a", "b", "c"] and len(cache) == 3


def test_resident_memory_stays_bounded_as_entities_grow(store_factory):
    cache = EntityStateCache(store_factory(), OP, FP, capacity=50)
    for batch in batches(11, entities=5000, batches=10, size=200):
        cache.prefetch(batch["user_id"])
        apply(OP, cache, batch)
        assert cache.resident_count <= 50 + len(set(batch["user_id"]))
        cache.flush({})
        assert cache.resident_count == 50
    assert len(cache) > 1000


def test_dirty_state_reaches_the_store_only_at_flush(store_factory):
    store = store_factory()
    cache = EntityStateCache(store, OP, FP, capacity=10)
    batch = {"user_id": ["u"], "ts": [1_000], "arrival": [1_000], "amount": [2.5], "qty": [3]}
    apply(OP, cache, batch)
    assert cache.read("u") is None and "u" in cache
    cache.flush({("txns", 0): 1})
    committed = cache.read("u")
    assert committed is not None and committed.seq == 1
    apply(OP, cache, batch)
    assert cache.read("u").seq == 1 and cache["u"].seq == 2
    committed.seq = 99  # read() hands out a copy; changing it changes nothing
    cache.flush({("txns", 0): 2})
    assert cache.read("u").seq == 2 and store.offsets() == {("txns", 0): 2}


def test_delete(store_factory):
    cache = EntityStateCache(store_factory(), OP, FP)
    cache["a"] = OP.new_state()
    cache["b"] = OP.new_state()
    cache.flush({})
    del cache["a"]
    assert "a" not in cache and cache.get("a") is None and cache.read("a") is not None
    with pytest.raises(KeyError):
        del cache["a"]
    cache.flush({})
    assert cache.read("a") is None and list(cache) == ["b"]
    with pytest.raises(KeyError):
        cache["a"]


def test_views_never_see_each_others_state(store_factory):
    store = store_factory()
    cache = EntityStateCache(store, OP, FP)
    cache["u"] = OP.new_state()
    cache.flush({})
    other = EntityStateCache(store, OP, "ffffffffffffffff")
    assert other.get("u") is None and len(other) == 0


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
def test_corrupt_state_names_the_entity(store_factory, native):
    store = store_factory()
    op = build_view(NATIVE_VIEW, native=native)
    assert hasattr(op, "from_bytes_many") is native
    good = op.new_state()
    apply(op, {"ok": good}, {"user_id": ["ok"], "ts": [1_000], "arrival": [1_000], "amount": [1.0], "qty": [1]})
    store.commit({layout.state_key(layout.view_prefix(FP), "bad-user"): b"\x01garbage",
                  layout.state_key(layout.view_prefix(FP), "ok"): op.to_bytes(good)}, [], {})  # fmt: skip
    cache = EntityStateCache(store, op, FP)
    with pytest.raises(StateError, match="'bad-user'"):
        cache.prefetch(["ok", "bad-user"])
    with pytest.raises(StateError, match="'bad-user'"):
        cache.get("bad-user")
    with pytest.raises(StateError, match="'bad-user'"):
        cache.read("bad-user")


def test_a_batch_of_stored_states_is_decoded_in_one_call(store_factory, monkeypatch):
    """The native core decodes the states a prefetch reads back in one call, without the GIL;
    they read as the states that were stored."""
    op = build_view(NATIVE_VIEW, native=True)
    if not hasattr(op, "from_bytes_many"):
        pytest.fail("the native core is not built: this test needs operators._native")
    store = store_factory()
    states: dict[str, EntityState] = {}
    for batch in batches(3, entities=40, batches=3, size=200):
        apply(op, states, batch)
    store.commit({layout.state_key(layout.view_prefix(FP), key): op.to_bytes(s) for key, s in states.items()}, [], {})
    calls = []
    decode_many = op.from_bytes_many
    monkeypatch.setattr(op, "from_bytes_many", lambda blobs: calls.append(len(blobs)) or decode_many(blobs))
    cache = EntityStateCache(store, op, FP)
    assert cache.prefetch([*states, "nobody"]) == len(states) + 1
    assert calls == [len(states)]
    assert all(op.to_bytes(cache.peek(key)) == op.to_bytes(state) for key, state in states.items())
    assert "nobody" not in cache


def test_invalid_keys_fail_before_any_commit(store_factory):
    cache = EntityStateCache(store_factory(), OP, FP)
    with pytest.raises(StateKeyError, match="empty"):
        cache[""] = OP.new_state()
    with pytest.raises(StateKeyError, match="bytes of UTF-8"):
        cache["x" * 1025] = OP.new_state()
    with pytest.raises(StateKeyError):
        EntityStateCache(cache.store, OP, "not-a-fingerprint")
    with pytest.raises(ValueError):
        EntityStateCache(cache.store, OP, FP, capacity=-1)


def test_a_failed_flush_keeps_entities_dirty(store_factory):
    store = FailingStore(store_factory())
    cache = EntityStateCache(store, OP, FP, capacity=0)
    cache["u"] = OP.new_state()
    store.fail = True
    with pytest.raises(StateStoreError):
        cache.flush({("txns", 0): 1})
    assert cache.dirty_count == 1 and cache.resident_count == 1
    store.fail = False
    assert cache.flush({("txns", 0): 1}) == 1
    assert cache.resident_count == 0 and cache.read("u") is not None


class CountingStore:
    """A StateStore that records the size of every get_many."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.reads: list[int] = []

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        self.reads.append(len(keys))
        return self.inner.get_many(keys)

    def commit(self, puts: Mapping[bytes, bytes], deletes: Iterable[bytes], offsets) -> None:
        self.inner.commit(puts, deletes, offsets)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


class FailingStore(CountingStore):
    fail = False

    def commit(self, puts, deletes, offsets) -> None:
        if self.fail:
            raise StateStoreError("injected failure")
        super().commit(puts, deletes, offsets)


def test_membership_of_impossible_keys_is_false(store_factory):
    cache = EntityStateCache(store_factory(), OP, FP)
    assert "" not in cache and 42 not in cache and "x" * 2000 not in cache


@pytest.mark.parametrize("keep", [0, 5, 40])
def test_spilling_cache_equals_in_memory_run(tmp_path, keep):
    """A replay that spills (writes back only what it evicts), deletes now and then, and
    flushes at the end holds exactly the states of an in-memory run."""
    rng = random.Random(keep)
    memory: dict[str, EntityState] = {}
    with RocksDBStateStore(tmp_path / "db") as store:
        cache = EntityStateCache(store, OP, FP, capacity=50)
        for batch in batches(5, entities=300, batches=12, size=400):
            cache.prefetch(batch["user_id"])
            assert apply(OP, cache, batch) == apply(OP, memory, batch)
            for key in rng.sample(sorted(memory), 3):
                del memory[key]
                del cache[key]
            cache.spill(keep)
            assert cache.resident_count <= keep
            assert sorted(cache) == sorted(memory)
        cache.flush({("txns", 0): 4800})
        assert cache.dirty_count == 0
    with RocksDBStateStore(tmp_path / "db") as store:
        cache = EntityStateCache(store, OP, FP, capacity=10)
        assert sorted(cache) == sorted(memory)
        for key, state in memory.items():
            assert OP.to_bytes(cache.read(key)) == OP.to_bytes(state)


def test_spill_writes_only_the_entities_it_evicts(store_factory):
    store = CountingStore(store_factory())
    cache = EntityStateCache(store, OP, FP, capacity=10)
    for key in "abcd":
        cache[key] = OP.new_state()
    assert cache.spill(4) == 0 and cache.read("a") is None  # nothing leaves memory, nothing is written
    cache.get("a")  # touched since the spill: now the most recently used
    assert cache.spill(2) == 2  # b and c leave, written; a and d stay, unwritten
    assert cache.resident_keys() == ["d", "a"]
    assert cache.read("b") is not None and cache.read("c") is not None and cache.read("d") is None
    assert sorted(cache.dirty_keys()) == ["a", "d"] and cache.dirty_count == 2
    assert cache.spill(1) == 1 and cache.resident_keys() == ["a"] and cache.read("d") is not None
    assert store.inner.offsets() == {}  # a spill never records a position


def test_a_failed_spill_loses_nothing(store_factory):
    store = FailingStore(store_factory())
    cache = EntityStateCache(store, OP, FP, capacity=10)
    for key in "abc":
        cache[key] = OP.new_state()
    store.fail = True
    with pytest.raises(StateStoreError):
        cache.spill(0)
    assert cache.resident_keys() == ["a", "b", "c"] and cache.dirty_count == 3
    store.fail = False
    assert cache.spill(0) == 3 and cache.resident_count == 0
    assert all(cache.read(k) is not None for k in "abc")


def test_checkout_and_checkin_round_trip_like_the_mapping(tmp_path):
    """A checked-out dict changed and added to, then checked in: the same resident,
    dirty and committed states as going through the mapping itself."""
    source = Source("s", timestamp="ts", schema={"user_id": str, "ts": int})
    view = FeatureView("v", entity=Entity("u", key="user_id"), source=source, features=[Count(window=Lifetime())])
    results = []
    for way in ("mapping", "checkout"):
        op: ViewOperator = build_view(view)
        with RocksDBStateStore(tmp_path / way) as store:
            cache = EntityStateCache(store, op, view.fingerprint(), capacity=2)
            for batch in (["a", "b", "a"], ["b", "c", "d"], ["a", "e", "e"]):
                times = list(range(len(batch)))
                if way == "mapping":
                    op.apply_batch(cache, batch, times, times, op.columns_for({}))
                else:
                    states = cache.checkout(batch)
                    assert type(states) is dict and all(cache.peek(k) is states[k] for k in states)
                    op.apply_batch(states, batch, times, times, op.columns_for({}))
                    cache.checkin(states)
                assert sorted(cache.dirty_keys()) == sorted(set(batch))
                cache.flush({("t", 0): len(batch)})
            results.append({key: op.to_bytes(cache.read(key)) for key in "abcde"})
    assert results[0] == results[1]


def _lifetime_count() -> tuple[FeatureView, ViewOperator]:
    """A view of one lifetime count per user, and its operator."""
    source = Source("s", timestamp="ts", schema={"user_id": str, "ts": int})
    view = FeatureView("v", entity=Entity("u", key="user_id"), source=source, features=[Count(window=Lifetime())])
    return view, build_view(view)


def test_checkin_validates_added_entities(tmp_path):
    view, op = _lifetime_count()
    with RocksDBStateStore(tmp_path / "s") as store:
        cache = EntityStateCache(store, op, view.fingerprint())
        states = cache.checkout(["a"])
        states["a"] = "not a state"
        with pytest.raises(TypeError, match="expected an entity state"):
            cache.checkin(states)
        assert cache.peek("a") is None and "a" not in cache.dirty_keys(), "the bad entity is not kept"
        with pytest.raises(StateError, match="the dict that checkout gave"):
            cache.checkin({})


@pytest.mark.parametrize("bad", ["", "x" * 1025])
def test_an_invalid_entity_key_is_refused_before_it_reaches_the_store(tmp_path, bad):
    """Keys are checked in bulk when a batch's states are read; the bad one is named."""
    view, op = _lifetime_count()
    with RocksDBStateStore(tmp_path / "s") as store:
        cache = EntityStateCache(store, op, view.fingerprint())
        with pytest.raises(StateKeyError, match="empty" if not bad else "1025 bytes"):
            cache.checkout(["a", bad, "b"])
        assert cache.dirty_keys() == []


def test_checkin_names_the_bad_state_among_good_ones(tmp_path):
    view, op = _lifetime_count()
    with RocksDBStateStore(tmp_path / "s") as store:
        cache = EntityStateCache(store, op, view.fingerprint())
        states = cache.checkout(["a", "bad", "b"])
        states["a"], states["bad"], states["b"] = op.new_state(), "not a state", op.new_state()
        with pytest.raises(TypeError, match="entity 'bad': expected an entity state"):
            cache.checkin(states)
        assert cache.peek("bad") is None and "bad" not in cache.dirty_keys()
        assert cache.peek("a") is not None and "a" in cache.dirty_keys()


def test_entities_handed_out_but_never_created_are_not_dirty(tmp_path):
    """A new entity whose only event is refused (too far ahead) gets no state: after
    checkin it is neither resident nor dirty, and the flush writes only real states."""
    source = Source("s", timestamp="ts", schema={"user_id": str, "ts": int}, max_ahead="1s")
    view = FeatureView("v", entity=Entity("u", key="user_id"), source=source, features=[Count(window=Lifetime())])
    op = build_view(view)
    with RocksDBStateStore(tmp_path / "s") as store:
        cache = EntityStateCache(store, op, view.fingerprint())
        states = cache.checkout(["ok", "ahead"])
        result = op.apply_batch(states, ["ok", "ahead"], [10, 10_000_000], [10, 10], op.columns_for({}))
        assert result.too_far_ahead == [1]
        assert cache.checkin(states) == 1
        assert cache.dirty_keys() == ["ok"] and cache.peek("ahead") is None
        assert cache.flush({("t", 0): 2}) == 1
        assert cache.read("ahead") is None and cache.read("ok").seq == 1


def test_native_states_load_and_a_corrupt_one_is_named(store_factory):
    """With the native core, a prefetch loads the states ``from_bytes`` gives; a corrupt
    one among them is reported by its entity."""
    from operators.native import NativeViewOperator
    from streamfeat.loader import EXAMPLE_FEATURES, load_views

    (view,) = load_views(EXAMPLE_FEATURES)
    op = build_view(view)
    assert isinstance(op, NativeViewOperator), "the native core is not built"
    fingerprint = view.fingerprint()
    states: dict = {}
    keys = [f"u{i % 7}" for i in range(60)]
    times = [1_700_000_000_000 + 1_000 * i for i in range(60)]
    columns = {"amount": [i * 0.5 for i in range(60)], "merchant_id": [f"m{i % 5}" for i in range(60)]}
    op.apply_batch(states, keys, times, times, op.columns_for(columns))
    prefix = layout.view_prefix(fingerprint)
    store = store_factory()
    store.commit({layout.state_key(prefix, key): op.to_bytes(state) for key, state in states.items()}, [], {})
    cache = EntityStateCache(store, op, fingerprint)
    assert cache.prefetch(["u0", "u3", "nobody"]) == 3
    for key in ("u0", "u3"):
        assert op.to_bytes(cache.peek(key)) == op.to_bytes(states[key])
    assert cache.peek("nobody") is None
    assert cache.peek_many(["u3", "nobody", "u0", "u5"]) == [("u3", cache.peek("u3")), ("u0", cache.peek("u0"))]
    store.commit({layout.state_key(prefix, "u9"): b"\x02" + b"\x00" * 30}, [], {})
    with pytest.raises(StateError, match="'u9'"):
        EntityStateCache(store, op, fingerprint).prefetch(["u1", "u9", "u2"])
