"""EmbeddedStore specifics: another OS process reads the file while this one writes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streamfeat.errors import OnlineStoreError
from streamfeat.online import EmbeddedStore, StoredEntity
from streamfeat.online.base import CachedValues

VIEW, FP = "user_txn", "0123456789abcdef"

READER_SNIPPET = """
import json, sys, time
from streamfeat.online import EmbeddedStore
start = time.monotonic()
with EmbeddedStore(sys.argv[1], readonly=True) as store:
    rows = store.get_raw(sys.argv[2], sys.argv[3], sys.argv[4:])
print(json.dumps({
    "rows": [None if r is None else [r.state.decode(), r.version, r.event_time] for r in rows],
    "seconds": time.monotonic() - start,
}))
"""


def read_in_another_process(path: Path, *entities: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", READER_SNIPPET, str(path), VIEW, FP, *entities],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def row(version: int) -> StoredEntity:
    return StoredEntity(state=f"v{version}".encode(), version=version, event_time=1_000 * version)


def test_another_process_reads_while_this_one_writes(tmp_path: Path) -> None:
    path = tmp_path / "online.db"
    with EmbeddedStore(path) as store:
        store.write(VIEW, FP, {"u1": row(1)})
        assert read_in_another_process(path, "u1", "u2")["rows"] == [["v1", 1, 1_000], None]

        store.write(VIEW, FP, {"u1": row(2), "u2": row(1)})
        assert read_in_another_process(path, "u1", "u2")["rows"] == [["v2", 2, 2_000], ["v1", 1, 1_000]]

        # A writer in the middle of a transaction blocks no reader: the other process
        # sees the last committed batch at once, not the uncommitted one.
        other_writer = sqlite3.connect(path, isolation_level=None)
        try:
            other_writer.execute("BEGIN IMMEDIATE")
            other_writer.execute("UPDATE online_state SET version = 99, state = x'00'")
            started = time.monotonic()
            seen = read_in_another_process(path, "u1")
            assert seen["rows"] == [["v2", 2, 2_000]]
            assert seen["seconds"] < 2.0 and time.monotonic() - started < 30
        finally:
            other_writer.execute("ROLLBACK")
            other_writer.close()
        assert store.write(VIEW, FP, {"u1": row(3)}) == 1
        assert read_in_another_process(path, "u1")["rows"] == [["v3", 3, 3_000]]


def test_the_file_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "online.db"
    with EmbeddedStore(path) as store:
        store.write(VIEW, FP, {"u1": row(7)})
    with EmbeddedStore(path) as store:
        assert store.get_raw(VIEW, FP, ["u1"]) == [row(7)]
        assert store.write(VIEW, FP, {"u1": row(7)}) == 0


def test_readonly_store_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "online.db"
    EmbeddedStore(path).close()
    with (
        EmbeddedStore(path, readonly=True) as store,
        pytest.raises(OnlineStoreError, match="cannot write to the embedded online store"),
    ):
        store.write(VIEW, FP, {"u1": row(1)})


def test_failures_are_online_store_errors(tmp_path: Path) -> None:
    with pytest.raises(OnlineStoreError, match="cannot open"):
        EmbeddedStore(tmp_path / "missing.db", readonly=True).get_raw(VIEW, FP, ["u1"])
    (tmp_path / "not-a-db").write_bytes(b"this is not a database file" * 100)
    with pytest.raises(OnlineStoreError, match="not-a-db"):
        EmbeddedStore(tmp_path / "not-a-db")


def test_a_file_from_before_the_values_columns_is_read_and_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the first release's table
        conn.execute(
            "CREATE TABLE online_state (view TEXT NOT NULL, fingerprint TEXT NOT NULL, entity TEXT NOT NULL, "
            "state BLOB NOT NULL, version INTEGER NOT NULL, event_time INTEGER NOT NULL, "
            "PRIMARY KEY (view, fingerprint, entity)) WITHOUT ROWID"
        )
        conn.execute("INSERT INTO online_state VALUES (?, ?, ?, ?, ?, ?)", (VIEW, FP, "u1", b"old", 1, 5))
    conn.close()
    with EmbeddedStore(path, readonly=True) as reader:
        assert reader.get_raw(VIEW, FP, ["u1", "u2"], at=10) == [StoredEntity(b"old", 1, 5), None]
    with EmbeddedStore(path) as writer:  # a writer adds the columns
        cached = CachedValues(b"{}", 10, 20)
        assert writer.write(VIEW, FP, {"u2": StoredEntity(b"new", 1, 6, cached)}) == 1
        assert writer.get_raw(VIEW, FP, ["u1", "u2"]) == [StoredEntity(b"old", 1, 5), StoredEntity(b"new", 1, 6, cached)]
        assert writer.get_raw(VIEW, FP, ["u2"], at=15) == [StoredEntity(None, 1, 6, cached)]


def test_a_background_thread_checkpoints_the_wal_while_the_writer_stays_open(tmp_path):
    """Committed pages reach the database file without a checkpoint in the writer's
    commit and without closing it; closing stops the thread."""
    import threading

    path = tmp_path / "online.sqlite"
    store = EmbeddedStore(path)
    try:
        before = path.stat().st_size
        rows = {f"u{i}": StoredEntity(b"x" * 2000, 1, i) for i in range(2000)}  # ~4 MB of pages
        store.write(VIEW, FP, rows)
        deadline = time.monotonic() + 20
        while path.stat().st_size < before + 4_000_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size >= before + 4_000_000, "the committed pages never reached the database file"
        assert store.get_raw(VIEW, FP, ["u1999"])[0].event_time == 1999
    finally:
        store.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("checkpoint ")]


def test_the_native_batch_writer_is_built_and_used() -> None:
    """``pip install`` builds streamfeat/rust (it needs cargo and libsqlite3-dev); without
    it every batch would go through sqlite3, which a background writer thread cannot use
    at speed (see streamfeat/online/embedded.py)."""
    from streamfeat.online import embedded

    assert embedded.SqliteBatchWriter is not None, "streamfeat._store_native is missing: reinstall with cargo on PATH"


def test_native_write_failures_are_online_store_errors(tmp_path: Path) -> None:
    path = tmp_path / "online.db"
    with EmbeddedStore(path) as store, sqlite3.connect(path, isolation_level=None) as other:
        assert store._native is not None
        other.execute("PRAGMA busy_timeout = 0")
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        store._native.close()  # reopened below with no patience for the lock
        from streamfeat._store_native import SqliteBatchWriter

        from streamfeat.online.embedded import _UPDATE_VALUES, _UPSERT

        store._native = SqliteBatchWriter(str(path), ["PRAGMA busy_timeout = 0"], _UPSERT, _UPDATE_VALUES)
        with pytest.raises(OnlineStoreError, match="cannot write to the embedded online store.*locked"):
            store.write(VIEW, FP, {"u1": row(1)})
        other.execute("ROLLBACK")
        assert store.write(VIEW, FP, {"u1": row(1)}) == 1
    with EmbeddedStore(path, readonly=True) as reader:
        assert reader.get_raw(VIEW, FP, ["u1"]) == [row(1)]


def test_a_native_write_lets_other_threads_run(tmp_path: Path) -> None:
    """While one thread writes a large batch, another counts in pure Python. With the GIL
    released for the transaction, the counter keeps most of its speed alone (measured:
    72 %); holding it, the counter ran only while rows were copied out of Python (7 %)."""
    import threading

    with EmbeddedStore(tmp_path / "online.db") as store:
        rows = {f"u{i}": StoredEntity(bytes(600), 1, 0) for i in range(100_000)}
        started = time.perf_counter()
        alone = 0
        while time.perf_counter() - started < 0.2:
            alone += 1
        alone_rate = alone / (time.perf_counter() - started)
        done = threading.Event()
        counted = [0]

        def count() -> None:
            while not done.is_set():
                counted[0] += 1

        counter = threading.Thread(target=count)
        counter.start()
        try:
            started = time.perf_counter()
            store.write(VIEW, FP, rows)
            elapsed = time.perf_counter() - started
        finally:
            done.set()
            counter.join()
        assert counted[0] / elapsed > 0.35 * alone_rate, (counted[0] / elapsed, alone_rate)


@pytest.mark.parametrize("native_writes", [True, False], ids=["native-writes", "sqlite3-writes"])
def test_event_times_read_each_rows_newest_event_time_only(tmp_path: Path, native_writes: bool) -> None:
    with EmbeddedStore(tmp_path / "online.db", native_writes=native_writes) as store:
        store.write(VIEW, FP, {"u1": row(1), "u2": row(3)})
        store.write(VIEW, FP, {"u1": StoredEntity(None, 2, 2_500, CachedValues(b"{}", 0, 9))})  # values-only
        assert store.event_times(VIEW, FP, ["u1", "nobody", "u2", "u1"]) == [2_500, None, 3_000, 2_500]
        assert store.event_times(VIEW, "fedcba9876543210", ["u1"]) == [None]
        assert store.event_times(VIEW, FP, []) == []
        many = [f"e{i}" for i in range(2_000)]  # more than one query's worth of entities
        store.write(VIEW, FP, {e: row(i + 1) for i, e in enumerate(many)})
        assert store.event_times(VIEW, FP, many) == [1_000 * (i + 1) for i in range(2_000)]
