"""LmdbStore specifics: other OS processes read and write the file while this one writes,
the native and the py-lmdb paths share it, and the map grows when full. (The contract
every store keeps is in test_store_contract.py, run on both paths.)"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from streamfeat.errors import OnlineStoreError
from streamfeat.online import LmdbStore, StoredEntity, open_embedded_store
from streamfeat.online.base import CachedValues
from streamfeat.online.embedded import EmbeddedStore
from streamfeat.online.lmdb_store import _DEFAULT_MAP

VIEW, FP = "user_txn", "0123456789abcdef"

CHILD = """
import json, sys
from streamfeat.online import LmdbStore, StoredEntity
path, action, native, *args = sys.argv[1:]
native = native == "native"
if action == "read":
    with LmdbStore(path, readonly=True, native=native) as store:
        rows = store.get_raw(args[0], args[1], args[2:])
    print(json.dumps([None if r is None else [r.state.decode(), r.version, r.event_time] for r in rows]))
else:  # write: versions 1..N of entities e0..e{M-1}, one batch per version
    versions, entities = int(args[0]), int(args[1])
    with LmdbStore(path, native=native) as store:
        for v in range(1, versions + 1):
            store.write("user_txn", "0123456789abcdef",
                        {f"e{i}": StoredEntity(f"{action}-{v}".encode(), v, v) for i in range(entities)})
    print("[]")
"""


def child(path: Path, action: str, *args: object, native: bool = True) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(path), action, "native" if native else "py",
                             *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> list:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads(out)


def row(version: int) -> StoredEntity:
    return StoredEntity(state=f"v{version}".encode(), version=version, event_time=1_000 * version)


@pytest.mark.parametrize("reader_native", [True, False], ids=["native-reader", "py-lmdb-reader"])
@pytest.mark.parametrize("writer_native", [True, False], ids=["native-writer", "py-lmdb-writer"])
def test_another_process_reads_what_this_one_committed(tmp_path: Path, writer_native: bool,
                                                        reader_native: bool) -> None:
    path = tmp_path / "online.lmdb"
    with LmdbStore(path, native=writer_native) as store:
        store.write(VIEW, FP, {"u1": row(1)})
        assert finish(child(path, "read", VIEW, FP, "u1", "u2", native=reader_native)) == [["v1", 1, 1_000], None]
        store.write(VIEW, FP, {"u1": row(2), "u2": row(1)})
        assert finish(child(path, "read", VIEW, FP, "u1", "u2", native=reader_native)) == [
            ["v2", 2, 2_000], ["v1", 1, 1_000]]


def test_processes_writing_one_file_keep_the_newest_version_of_each_entity(tmp_path: Path) -> None:
    """Two writer processes (one native, one py-lmdb) and this one write the same entities
    at once; LMDB serialises their transactions and no version regresses."""
    path = tmp_path / "online.lmdb"
    with LmdbStore(path) as store:
        store.write(VIEW, FP, {f"e{i}": row(1) for i in range(50)})
        writers = [child(path, "a", 300, 50), child(path, "b", 200, 50, native=False)]
        for v in range(1, 151):
            store.write(VIEW, FP, {f"e{i}": StoredEntity(f"c-{v}".encode(), v, v) for i in range(50)})
        for process in writers:
            finish(process)
        rows = store.get_raw(VIEW, FP, [f"e{i}" for i in range(50)])
    assert {(r.state, r.version) for r in rows} == {(b"a-300", 300)}


def test_the_map_grows_when_full(tmp_path: Path) -> None:
    path = tmp_path / "online.lmdb"
    rng = random.Random(7)
    rows = {f"u{i}": StoredEntity(rng.randbytes(3000), 1, i) for i in range(3000)}  # ~10 MB, map of 1 MB
    for native in (True, False):
        target = path.with_name(f"{native}.lmdb")
        with LmdbStore(target, map_size=1 << 20, native=native) as store:
            assert store.write(VIEW, FP, rows) == 3000
            assert store.get_raw(VIEW, FP, ["u2999"]) == [rows["u2999"]]
        assert target.stat().st_size > 8 << 20
        with LmdbStore(target, readonly=True, native=not native) as reader:  # the other path reads it
            assert reader.get_raw(VIEW, FP, ["u0", "u1500"]) == [rows["u0"], rows["u1500"]]


def test_stores_on_one_file_in_a_process_share_it(tmp_path: Path) -> None:
    """A reader opened and closed beside the writer leaves the writer working (LMDB's
    locks are per process: a second environment on the file would break them)."""
    path = tmp_path / "online.lmdb"
    with LmdbStore(path) as writer:
        writer.write(VIEW, FP, {"u1": row(1)})
        with LmdbStore(path, readonly=True) as reader:
            assert reader.get_raw(VIEW, FP, ["u1"]) == [row(1)]
            with pytest.raises(OnlineStoreError, match="opened read-only"):
                reader.write(VIEW, FP, {"u1": row(2)})
        writer.write(VIEW, FP, {"u1": row(2)})
        assert finish(child(path, "read", VIEW, FP, "u1")) == [["v2", 2, 2_000]]


def test_cached_values_are_sent_only_outside_their_span(tmp_path: Path) -> None:
    with LmdbStore(tmp_path / "online.lmdb") as store:
        stored = StoredEntity(b"state", 3, 30, CachedValues(b'{"n":1}', 100, 200))
        store.write(VIEW, FP, {"u1": stored})
        assert store.get_raw(VIEW, FP, ["u1"], at=150)[0].state is None
        assert store.get_raw(VIEW, FP, ["u1"], at=200) == [stored]


def test_opening_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(OnlineStoreError, match="no embedded online store at .*absent.lmdb"):
        LmdbStore(tmp_path / "absent.lmdb", readonly=True)
    (tmp_path / "garbage.lmdb").write_bytes(b"not an lmdb file" * 1000)
    with pytest.raises(OnlineStoreError, match="cannot open the embedded online store"):
        LmdbStore(tmp_path / "garbage.lmdb")


def test_paths_choose_the_store_by_suffix(tmp_path: Path) -> None:
    for name, kind in (("a.lmdb", LmdbStore), ("b", LmdbStore), ("c.sqlite", EmbeddedStore), ("d.db", EmbeddedStore)):
        with open_embedded_store(tmp_path / name) as store:
            assert isinstance(store, kind)


def test_the_native_store_is_built() -> None:
    """``pip install`` builds streamfeat/rust (it needs cargo, libsqlite3-dev and
    liblmdb-dev); without it batches go through py-lmdb, which gives up the GIL per row and
    so cannot write at speed from the runtime's background thread."""
    from streamfeat.online.lmdb_store import native_lmdb_built

    assert native_lmdb_built(), "streamfeat._store_native is missing: reinstall with cargo and liblmdb-dev"


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = LmdbStore(tmp_path / "online.lmdb")
    store.close()
    store.close()  # twice is harmless
    with pytest.raises(OnlineStoreError, match="is closed"):
        store.get_raw(VIEW, FP, ["u1"])
    with pytest.raises(OnlineStoreError, match="is closed"):
        store.write(VIEW, FP, {"u1": row(1)})


@pytest.mark.parametrize("native", [True, False], ids=["native", "py-lmdb"])
def test_a_batch_larger_than_one_transaction_is_written_whole(tmp_path: Path, native: bool) -> None:
    from streamfeat.online.lmdb_store import ROWS_PER_TXN

    n = 2 * ROWS_PER_TXN + 17
    with LmdbStore(tmp_path / "online.lmdb", native=native) as store:
        assert store.write(VIEW, FP, {f"u{i}": row(2) for i in range(0, n, 2)}) == len(range(0, n, 2))
        rows = {f"u{i}": row(1 if i % 2 == 0 else 3) for i in range(n)}  # the even ones are older
        values_only = {f"v{i}": StoredEntity(None, 5, 5, CachedValues(b"{}", 0, 9)) for i in range(n)}
        assert store.write(VIEW, FP, rows) == n // 2
        assert store.write(VIEW, FP, values_only) == 0  # values-only rows never create one
        found = store.get_raw(VIEW, FP, [f"u{i}" for i in range(n)])
    assert [r.version for r in found] == [2 if i % 2 == 0 else 3 for i in range(n)]


GROWING_READER = """
import json, sys
from streamfeat.online import LmdbStore
path, native = sys.argv[1], sys.argv[2] == "native"
with LmdbStore(path, readonly=True, native=native) as store:
    for line in sys.stdin:  # one read per line, until stdin closes
        rows = store.get_raw("user_txn", "0123456789abcdef", line.split())
        print(json.dumps([None if r is None else r.version for r in rows]), flush=True)
"""


@pytest.mark.parametrize("native", [True, False], ids=["native-reader", "py-lmdb-reader"])
@pytest.mark.parametrize("writer_native", [True, False], ids=["native-writer", "py-lmdb-writer"])
def test_a_reader_open_while_the_writer_grows_the_map_keeps_reading(tmp_path: Path, native: bool,
                                                                    writer_native: bool) -> None:
    """Past the map the reader opened with, too (LMDB then refuses its transactions until it
    adopts the file's new size: MDB_MAP_RESIZED)."""
    path = tmp_path / "online.lmdb"
    rng = random.Random(3)
    with LmdbStore(path, map_size=1 << 20, native=writer_native) as store:
        store.write(VIEW, FP, {"u0": row(1)})
        reader = subprocess.Popen([sys.executable, "-c", GROWING_READER, str(path), "native" if native else "py"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert reader.stdin is not None and reader.stdout is not None
            reader.stdin.write("u0 u1\n")
            reader.stdin.flush()
            assert json.loads(reader.stdout.readline()) == [1, None]
            store.write(VIEW, FP, {f"u{i}": StoredEntity(rng.randbytes(3000), 2, i) for i in range(3000)})
            assert path.stat().st_size > 8 << 20  # the map grew past the writer's first
            reader.stdin.write("u0 u2999\n")
            reader.stdin.flush()
            assert json.loads(reader.stdout.readline()) == [2, 2]
            store.write(VIEW, FP, {f"w{i}": StoredEntity(rng.randbytes(3000), 2, i) for i in range(12_000)})
            assert path.stat().st_size > _DEFAULT_MAP  # and past the map the reader opened with
            reader.stdin.write("u0 w11999\n")
            reader.stdin.flush()
            assert json.loads(reader.stdout.readline()) == [2, 2]
        finally:
            out, err = reader.communicate(timeout=60)
        assert reader.returncode == 0, err


SMALL_MAP_WRITER = """
import sys
from streamfeat.online import LmdbStore
path, native = sys.argv[1], sys.argv[2] == "native"
with LmdbStore(path, map_size=1 << 20, native=native) as store:  # smaller than the file; opened, not written
    assert store.get_raw("user_txn", "0123456789abcdef", ["u0"])[0].version == 1
"""


@pytest.mark.parametrize("native", [True, False], ids=["native-child", "py-lmdb-child"])
def test_a_writer_with_a_smaller_map_never_cuts_short_a_file_another_process_grew(tmp_path: Path,
                                                                                   native: bool) -> None:
    """The native writer maps the file writable (MDB_WRITEMAP), and LMDB then sets the
    file's size to the map's when it opens it: a second writer asking for a smaller map
    must still open it at least at the file's size, or this process would fault writing
    past the file's end. (The py-lmdb child writes with pwrite, which never resizes the
    file; it stays here so that the path is held to the same.)"""
    path = tmp_path / "online.lmdb"
    rng = random.Random(9)
    with LmdbStore(path, map_size=1 << 20) as store:
        store.write(VIEW, FP, {f"u{i}": StoredEntity(rng.randbytes(3000), 1, i) for i in range(3000)})
        grown = path.stat().st_size
        assert grown >= 16 << 20
        done = subprocess.run([sys.executable, "-c", SMALL_MAP_WRITER, str(path), "native" if native else "py"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert path.stat().st_size >= grown
        # This process keeps writing into new pages of its map (past the used part).
        store.write(VIEW, FP, {f"x{i}": StoredEntity(rng.randbytes(3000), 1, i) for i in range(3000)})
        found = store.get_raw(VIEW, FP, ["u0", "x2999"])
    assert [r.version if r else None for r in found] == [1, 1]


@pytest.mark.parametrize("native", [True, False], ids=["native", "py-lmdb"])
def test_a_store_without_the_shared_map_writes_and_is_read_the_same(tmp_path: Path, native: bool) -> None:
    path = tmp_path / "online.lmdb"
    with LmdbStore(path, native=native, writemap=False) as store:
        store.write(VIEW, FP, {"u1": row(1), "u2": row(2)})
        assert finish(child(path, "read", VIEW, FP, "u1", "u2", "u3")) == [["v1", 1, 1_000], ["v2", 2, 2_000], None]
    assert path.stat().st_size < 1 << 20  # LMDB's pwrite path: the file is what was written


def test_the_native_writer_allocates_its_whole_map_on_disk(tmp_path: Path) -> None:
    """Written through the map, a page of a sparse file would get its disk block at the
    write — on a full disk, a SIGBUS. The native writer allocates the map's blocks when it
    opens and whenever it grows the map, so a full disk is an error there instead."""
    path = tmp_path / "online.lmdb"
    rng = random.Random(21)
    with LmdbStore(path, map_size=1 << 20) as store:
        assert path.stat().st_blocks * 512 >= path.stat().st_size >= 1 << 20
        store.write(VIEW, FP, {f"u{i}": StoredEntity(rng.randbytes(3000), 1, i) for i in range(3000)})
        assert path.stat().st_size >= 8 << 20  # grown
        assert path.stat().st_blocks * 512 >= path.stat().st_size
    for native in (True, False):  # without the shared map (and on the py-lmdb path): as written
        other = tmp_path / f"pwrite-{native}.lmdb"
        with LmdbStore(other, native=native, writemap=False) as store:
            store.write(VIEW, FP, {"u1": row(1)})
        assert other.stat().st_size < 1 << 20


GROWTH_BEYOND_LIMIT = """
import resource, signal, sys
from streamfeat.errors import OnlineStoreError
from streamfeat.online import LmdbStore, StoredEntity
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (6 << 20, 6 << 20))
with LmdbStore(sys.argv[1], map_size=1 << 20) as store:
    refusals = []
    for batch in range(20):
        try:
            store.write("v", "f", {f"u{batch}-{i}": StoredEntity(bytes(3000), 1, i) for i in range(300)})
        except OnlineStoreError as exc:
            refusals.append(str(exc))
    try:
        store.get_raw("v", "f", ["u0-0"])
    except OnlineStoreError as exc:
        refusals.append(str(exc))
for refusal in refusals:
    print("refused:", refusal)
"""


def test_a_map_that_cannot_grow_is_a_clear_error_every_time_after(tmp_path: Path) -> None:
    """A file size limit makes growing the map fail (as a full disk can): the write is
    refused with an OnlineStoreError that says why, and so is every later use of the store
    in that process — LMDB has unmapped the map, and touching it would crash the process."""
    done = subprocess.run([sys.executable, "-c", GROWTH_BEYOND_LIMIT, str(tmp_path / "online.lmdb")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    refusals = done.stdout.splitlines()
    assert len(refusals) >= 2, done.stdout + done.stderr
    assert all("cannot resize the store's map" in line and "opens it again" in line for line in refusals), refusals


@pytest.mark.parametrize("native", [True, False], ids=["native-writer", "py-lmdb-writer"])
def test_rows_replaced_in_place_keep_every_byte_whatever_their_sizes(tmp_path: Path, native: bool) -> None:
    """The native writer writes a row over the stored one when it fits in its room, else
    anew: rows growing past a page (overflow pages), shrinking back, keeping their size, and
    values-only writes over each, checked against what was written."""
    rng = random.Random(35)
    entities = [f"u{i}" for i in range(40)]
    expected: dict[str, tuple[bytes, int, int, bytes | None, int | None]] = {}
    version = 0
    with LmdbStore(tmp_path / "online.lmdb", native=native) as store:
        for _ in range(30):
            batch: dict[str, StoredEntity] = {}
            for entity in rng.sample(entities, 15):
                version += 1
                old = expected.get(entity)
                if old is not None and rng.random() < 0.3:  # values-only: the stored state stays
                    values = json.dumps({"n": version, "pad": "x" * rng.randrange(0, 300)}).encode()
                    batch[entity] = StoredEntity(None, version, version, CachedValues(values, 0, 1))
                    state_version = old[4] if old[4] is not None else old[1]
                    expected[entity] = (old[0], version, version, values, state_version)
                    continue
                size = rng.choice([0, 1, 17, 600, 2_100, 4_096, 9_000, 12_345])
                if old is not None and rng.random() < 0.3:
                    size = len(old[0])  # the same size: overwritten in place
                state = bytes(rng.randrange(256) for _ in range(size))
                values = json.dumps({"n": version}).encode() if rng.random() < 0.5 else None
                cached = None if values is None else CachedValues(values, 0, 1)
                batch[entity] = StoredEntity(state, version, version, cached)
                expected[entity] = (state, version, version, values, None)
            store.write(VIEW, FP, batch)
        found = dict(zip(entities, store.get_raw(VIEW, FP, entities), strict=True))
    for entity, (state, row_version, event_time, values, state_version) in expected.items():
        got = found[entity]
        assert got is not None
        assert (got.state, got.version, got.event_time) == (state, row_version, event_time), entity
        assert (None if got.cached is None else got.cached.values) == values, entity
        assert got.state_version == state_version, entity


READER = """
import sys, time
from streamfeat.online import LmdbStore
path, native, seconds = sys.argv[1], sys.argv[2] == "native", float(sys.argv[3])
entities = [f"u{i}" for i in range(50)]
reads = changes = 0
seen = {}
with LmdbStore(path, readonly=True, native=native) as store:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for entity, row in zip(entities, store.get_raw("user_txn", "0123456789abcdef", entities)):
            if row is None:
                continue
            reads += 1
            # every byte of a row tells its version: a row mixing two writes would show
            want = row.version.to_bytes(4, "little") * (len(row.state) // 4)
            assert row.state == want and row.event_time == row.version, (entity, row.version, len(row.state))
            assert row.cached is not None and row.cached.values == str(row.version).encode() * 3, entity
            changes += seen.get(entity) != row.version
            seen[entity] = row.version
print(reads, changes)
"""


@pytest.mark.parametrize("reader_native", [True, False], ids=["native-reader", "py-lmdb-reader"])
def test_a_reader_never_sees_a_row_halfway_through_a_write_in_place(tmp_path: Path, reader_native: bool) -> None:
    """Another process reads rows while this one rewrites them in place (and sometimes
    grows them past their room): every row it reads is whole — one version throughout."""
    path = tmp_path / "online.lmdb"
    rng = random.Random(38)
    sizes = {f"u{i}": 4 * rng.randrange(10, 400) for i in range(50)}
    with LmdbStore(path) as store:
        def write(version: int) -> None:
            rows = {}
            for entity, size in sizes.items():
                size = sizes[entity] = max(4, size + 4 * rng.randrange(-3, 5))
                rows[entity] = StoredEntity(version.to_bytes(4, "little") * (size // 4), version, version,
                                            CachedValues(str(version).encode() * 3, 0, 1))
            store.write(VIEW, FP, rows)

        write(1)
        reader = subprocess.Popen([sys.executable, "-c", READER, str(path), "native" if reader_native else "py", "3"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        version = 1
        while reader.poll() is None:
            version += 1
            write(version)
        out, err = reader.communicate()
        counts = store.write_counts()
    assert reader.returncode == 0, err
    reads, changes = map(int, out.split())
    assert reads > 1_000 and changes > 100, out  # it did read while rows changed
    assert counts is not None
    in_place, moved, new = counts
    assert new == 50 and in_place > 10 * moved > 0, counts


def test_rows_that_fit_are_written_in_place_and_others_move(tmp_path: Path) -> None:
    with LmdbStore(tmp_path / "online.lmdb") as store:
        store.write(VIEW, FP, {"a": StoredEntity(b"x" * 400, 1, 1), "b": StoredEntity(b"y" * 400, 1, 1)})
        assert store.write_counts() == (0, 0, 2)
        store.write(VIEW, FP, {"a": StoredEntity(b"x" * 450, 2, 2), "b": StoredEntity(b"y" * 2_000, 2, 2)})
        assert store.write_counts() == (1, 1, 2)  # 450 bytes fit the room of 400 (a quarter more); 2,000 not
        store.write(VIEW, FP, {"b": StoredEntity(b"z" * 10, 3, 3)})  # shrinking: in place
        assert store.write_counts() == (2, 1, 2)
        rows = store.get_raw(VIEW, FP, ["a", "b"])
    assert [(r.state, r.version) for r in rows if r is not None] == [(b"x" * 450, 2), (b"z" * 10, 3)]
    with LmdbStore(tmp_path / "py.lmdb", native=False) as store:
        store.write(VIEW, FP, {"a": StoredEntity(b"x", 1, 1)})
        assert store.write_counts() is None  # py-lmdb always writes through LMDB's copies
    with LmdbStore(tmp_path / "durable.lmdb", durable=True) as store:  # a machine crash must leave rows whole
        store.write(VIEW, FP, {"a": StoredEntity(b"x" * 400, 1, 1)})
        store.write(VIEW, FP, {"a": StoredEntity(b"y" * 400, 2, 2)})
        assert store.write_counts() == (0, 1, 1)
        assert [r.state for r in store.get_raw(VIEW, FP, ["a"]) if r is not None] == [b"y" * 400]


def _raw_row(version: int, state: bytes, seq: int) -> bytes:
    import struct

    return struct.pack("<qqqqqqqQ", version, version, 0, 0, -(2**63), -1, len(state), seq) + state


@pytest.mark.parametrize("native", [True, False], ids=["native", "py-lmdb"])
def test_a_row_left_half_written_is_reported_and_written_again(tmp_path: Path, native: bool,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer killed in the middle of a write in place leaves the row's seq odd: readers
    say so (after waiting for it), the next writer writes the row whatever its version, and
    a values-only row leaves it for the full row that follows."""
    import lmdb

    from streamfeat.online import lmdb_store

    monkeypatch.setattr(lmdb_store, "_TORN_WAIT_S", 0.2)
    path = tmp_path / "online.lmdb"
    with LmdbStore(path, native=native) as store:
        store.write(VIEW, FP, {"a": StoredEntity(b"old", 5, 5)})
    env = lmdb.open(str(path), subdir=False, lock=True)
    with env.begin(write=True) as txn:  # what a writer killed halfway leaves: seq odd
        txn.put(f"{VIEW}\0{FP}\0a".encode(), _raw_row(7, b"half", 3))
        # killed within the header: a state length the row cannot hold
        txn.put(f"{VIEW}\0{FP}\0b".encode(), _raw_row(7, b"half", 5)[:48] + (10**6).to_bytes(8, "little")
                + (5).to_bytes(8, "little") + b"half")
    env.close()
    with LmdbStore(path, native=native) as store:
        with pytest.raises(OnlineStoreError, match="stays half written"):
            store.get_raw(VIEW, FP, ["a"])
        assert store.write(VIEW, FP, {"a": StoredEntity(None, 9, 9, CachedValues(b"{}", 0, 1))}) == 0
        assert store.write(VIEW, FP, {"b": StoredEntity(None, 9, 9, CachedValues(b"{}", 0, 1))}) == 0
        assert store.write(VIEW, FP, {"a": StoredEntity(b"replayed", 6, 6)}) == 1  # older than 7, written all the same
        assert store.write(VIEW, FP, {"b": StoredEntity(b"replayed", 6, 6)}) == 1  # its header is no obstacle
        found = store.get_raw(VIEW, FP, ["a", "b"])
    assert [(r.state, r.version) for r in found if r is not None] == [(b"replayed", 6)] * 2


@pytest.mark.parametrize("native", [True, False], ids=["native", "py-lmdb"])
def test_a_file_of_the_earlier_row_layout_is_refused_with_how_to_rebuild_it(tmp_path: Path, native: bool) -> None:
    import lmdb

    path = tmp_path / "online.lmdb"
    env = lmdb.open(str(path), subdir=False, lock=True)
    with env.begin(write=True) as txn:  # layout 1: a 48-byte header, no layout key
        txn.put(f"{VIEW}\0{FP}\0a".encode(), bytes(48) + b"state")
    env.close()
    for readonly in (False, True):
        with pytest.raises(OnlineStoreError, match=r"layout 1 .*reads layout 2.*new --state-dir"):
            LmdbStore(path, native=native, readonly=readonly)
    empty = tmp_path / "empty.lmdb"
    with LmdbStore(empty, native=not native):
        pass  # a new file gets the layout key, and the other path reads it
    with LmdbStore(empty, native=native, readonly=True) as store:
        assert store.get_raw(VIEW, FP, ["a"]) == [None]


@pytest.mark.parametrize("native", [True, False], ids=["native", "py-lmdb"])
def test_event_times_read_each_rows_newest_event_time_only(tmp_path: Path, native: bool) -> None:
    path = tmp_path / "online.lmdb"
    with LmdbStore(path, native=native) as store:
        store.write(VIEW, FP, {"u1": row(1), "u2": row(3)})
        # a values-only row: a newer version and event time over the older state bytes
        store.write(VIEW, FP, {"u1": StoredEntity(None, 2, 2_500, CachedValues(b"{}", 0, 9))})
        assert store.event_times(VIEW, FP, ["u1", "nobody", "u2", "u1"]) == [2_500, None, 3_000, 2_500]
        assert store.event_times(VIEW, "fedcba9876543210", ["u1"]) == [None]
        assert store.event_times(VIEW, FP, []) == []
        with LmdbStore(path, readonly=True, native=not native) as reader:  # the other path, as a reader
            assert reader.event_times(VIEW, FP, ["u2", "u1"]) == [3_000, 2_500]
    with pytest.raises(OnlineStoreError, match="closed"):
        store.event_times(VIEW, FP, ["u1"])
