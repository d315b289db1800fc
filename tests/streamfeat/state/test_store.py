"""RocksDBStateStore: raw bytes, atomic commits, durable reopen, clear errors."""

from __future__ import annotations

import pytest
import rocksdict

from streamfeat.errors import StateError, StateKeyError, StateStoreError
from streamfeat.state import RocksDBStateStore, StateStore
from streamfeat.state import keys as layout

PREFIX = layout.view_prefix("00112233445566ff")


def k(entity: str) -> bytes:
    return layout.state_key(PREFIX, entity)


def test_implements_the_protocol(store_factory):
    assert isinstance(store_factory(), StateStore)


def test_empty_store(store_factory):
    store = store_factory()
    assert store.get_many([k("a"), k("b")]) == [None, None]
    assert store.get_many([]) == []
    assert store.offsets() == {}
    assert list(store.scan(PREFIX)) == []
    assert store.size_on_disk() > 0


def test_commit_puts_deletes_and_offsets_together(store_factory):
    store = store_factory()
    store.commit({k("a"): b"1", k("b"): b"2"}, [], {("t", 0): 10, ("t", 1): 3})
    assert store.get_many([k("a"), k("b"), k("c")]) == [b"1", b"2", None]
    assert store.offsets() == {("t", 0): 10, ("t", 1): 3}
    store.commit({k("c"): b"3"}, [k("a")], {("t", 0): 12, ("u", 0): 1})
    assert store.get_many([k("a"), k("b"), k("c")]) == [None, b"2", b"3"]
    assert store.offsets() == {("t", 0): 12, ("t", 1): 3, ("u", 0): 1}
    assert list(store.scan(PREFIX)) == [(k("b"), b"2"), (k("c"), b"3")]


@pytest.mark.parametrize(
    "puts, deletes, offsets, error",
    [
        ({k("x"): b"x", k("y"): "not bytes"}, [], {("t", 0): 99}, StateStoreError),
        ({k("x"): b"x", k("y"): 5}, [], {("t", 0): 99}, StateStoreError),
        ({k("x"): b"x"}, [], {("t", 0): -1}, StateKeyError),
        ({k("x"): b"x"}, [], {("", 0): 99}, StateKeyError),
        ({k("x"): b"x", "str key": b"y"}, [], {("t", 0): 99}, StateStoreError),
        ({k("x"): b"x", b"Ot\x00\x00\x00\x00\x00": b"y"}, [], {}, StateStoreError),
        ({k("x"): b"x"}, [layout.FORMAT_KEY], {("t", 0): 99}, StateStoreError),
    ],
)
def test_a_failed_commit_writes_nothing(store_factory, puts, deletes, offsets, error):
    store = store_factory()
    store.commit({k("a"): b"1"}, [], {("t", 0): 1})
    with pytest.raises(error):
        store.commit(puts, [k("a"), *deletes], offsets)
    assert store.get_many([k("a"), k("x"), k("y")]) == [b"1", None, None]
    assert store.offsets() == {("t", 0): 1}


def test_values_are_stored_as_raw_bytes(store_factory, tmp_path):
    store = store_factory()
    value = bytes(range(256))
    store.commit({k("a"): value}, [], {("t", 0): 5})
    store.close()
    # read the database behind the store's back, in raw mode: exactly our bytes, no pickle framing
    options = rocksdict.Options(raw_mode=True)
    db = rocksdict.Rdict(str(tmp_path / "db"), options)
    try:
        assert db[k("a")] == value
        assert db[layout.offset_key("t", 0)] == (5).to_bytes(8, "big")
        assert db[layout.FORMAT_KEY] == layout.FORMAT_VERSION.to_bytes(4, "big")
    finally:
        db.close()


def test_reads_of_absent_entities_are_filtered(store_factory, tmp_path):
    """The store opens RocksDB with bloom filters in the memtable and the table files (most
    reads of a live flow are for entities not stored yet); RocksDB records them in its
    OPTIONS file. Reads still find every key wherever it lives: memtable or table file."""
    store = store_factory()
    store.commit({k(f"e{i}"): b"v" for i in range(0, 200, 2)}, [], {("t", 0): 1})
    store.db.flush()  # into a table file
    store.commit({k(f"e{i}"): b"w" for i in range(1, 200, 2)}, [], {("t", 0): 2})
    wanted = [k(f"e{i}") for i in range(200)] + [k(f"x{i}") for i in range(50)]
    assert store.get_many(wanted) == [b"v" if i % 2 == 0 else b"w" for i in range(200)] + [None] * 50
    (options_file,) = sorted((tmp_path / "db").glob("OPTIONS-*"))[-1:]
    text = options_file.read_text()
    assert "memtable_whole_key_filtering=true" in text
    assert "filter_policy=bloomfilter" in text


def test_reopen_keeps_state_and_offsets(store_factory):
    with store_factory(sync=True) as store:
        store.commit({k(f"e{i}"): f"v{i}".encode() for i in range(100)}, [], {("t", 3): 100})
        store.commit({}, [k("e0")], {("t", 3): 101})
    reopened = store_factory()
    assert reopened.offsets() == {("t", 3): 101}
    assert reopened.get_many([k("e0"), k("e1"), k("e99")]) == [None, b"v1", b"v99"]
    assert len(list(reopened.scan(PREFIX))) == 99


def test_closed_store_raises_and_close_is_idempotent(store_factory):
    store = store_factory()
    store.close()
    store.close()
    with pytest.raises(StateStoreError, match="closed"):
        store.get_many([k("a")])
    with pytest.raises(StateStoreError, match="closed"):
        store.commit({k("a"): b"1"}, [], {})


def test_a_path_open_elsewhere_is_a_store_error(store_factory):
    store_factory()
    with pytest.raises(StateStoreError, match="cannot open"):
        store_factory()


def test_incompatible_format_version_is_a_state_error(store_factory, tmp_path):
    store_factory().close()
    db = rocksdict.Rdict(str(tmp_path / "db"), rocksdict.Options(raw_mode=True))
    db[layout.FORMAT_KEY] = layout.encode_format(layout.FORMAT_VERSION + 1)
    db.close()
    with pytest.raises(StateError, match="format version 2; this streamfeat reads version 1"):
        RocksDBStateStore(tmp_path / "db")
    db = rocksdict.Rdict(str(tmp_path / "db"), rocksdict.Options(raw_mode=True))  # the failed open released the lock
    assert db[layout.FORMAT_KEY] == layout.encode_format(layout.FORMAT_VERSION + 1)  # and changed nothing
    db.close()


def test_a_foreign_database_is_a_state_error(tmp_path):
    db = rocksdict.Rdict(str(tmp_path / "pickled"))  # rocksdict's default (pickling) mode
    db["key"] = {"a": 1}
    db.close()
    with pytest.raises(StateError, match="not a streamfeat state store"):
        RocksDBStateStore(tmp_path / "pickled")


def test_without_the_write_ahead_log_close_keeps_every_commit(tmp_path):
    with RocksDBStateStore(tmp_path / "db", wal=False) as store:
        for i in range(50):
            store.commit({b"Sk%d" % i: b"v%d" % i}, [], {("t", 0): i + 1})
    with RocksDBStateStore(tmp_path / "db") as store:
        assert store.offsets() == {("t", 0): 50}
        assert store.get_many([b"Sk0", b"Sk49"]) == [b"v0", b"v49"]


def test_without_the_write_ahead_log_a_commit_flushes_once_the_interval_passed(tmp_path, monkeypatch):
    now = [0.0]
    flushes = []
    store = RocksDBStateStore(tmp_path / "db", wal=False, flush_interval_s=30.0, monotonic=lambda: now[0])
    real_flush = store.flush
    monkeypatch.setattr(store, "flush", lambda *, wait=True: (flushes.append(wait), real_flush(wait=wait)))
    try:
        store.commit({b"Sa": b"1"}, [], {("t", 0): 1})
        now[0] = 29.9
        store.commit({b"Sb": b"2"}, [], {("t", 0): 2})
        assert flushes == []
        now[0] = 30.0
        store.commit({b"Sc": b"3"}, [], {("t", 0): 3})
        assert flushes == [False]  # started in RocksDB's background thread
        now[0] = 59.0
        store.commit({b"Sd": b"4"}, [], {("t", 0): 4})
        assert flushes == [False]  # the interval counts from the last flush
    finally:
        store.close()


def test_sync_needs_the_write_ahead_log(tmp_path):
    with pytest.raises(ValueError, match="needs the write-ahead log"):
        RocksDBStateStore(tmp_path / "db", sync=True, wal=False)
    with pytest.raises(ValueError, match="flush_interval_s"):
        RocksDBStateStore(tmp_path / "db", wal=False, flush_interval_s=0)
