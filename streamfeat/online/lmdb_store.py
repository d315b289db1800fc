"""The embedded online store in an LMDB file: :class:`LmdbStore`.

Why LMDB beside the SQLite file (:mod:`streamfeat.online.embedded`): SQLite in WAL mode
writes each upserted row's 4 KiB page twice (into the WAL, then at the checkpoint), and
its random upserts of W1 rows ran at about 45,000 to 57,000 rows/s here — slower than
the pipeline publishes at half its load, so freshness fell seconds behind. LMDB writes a
touched page once, copy-on-write, and a reader is a memory-mapped B+tree lookup.

Like the SQLite file it is readable by other processes while writers write (each read
sees the last committed batch), and several processes may write one file (LMDB
serialises their write transactions with a lock in ``PATH-lock``). Its rows follow the
same contract (:class:`~streamfeat.online.base.OnlineStore`): idempotent, never
regressing, values-only rows keep the stored state.

Writes and reads run through ``streamfeat._store_native`` (Rust against the system
``liblmdb``; a batch's transactions run without the GIL) when it is built, else
through ``py-lmdb``. Both read and write the same file layout (below), so a process with
the extension and one without can share a file. Within one process every store object on
a file shares one LMDB environment: LMDB's locks are per process, and closing a second
environment on the same file would drop the first one's.

Layout (row layout 2, recorded under the key ``\\0streamfeat\\0layout``; a file of another
layout is refused with how to rebuild it): one key per ``(view, fingerprint, entity)``,
``view \\0 fingerprint \\0 entity`` in UTF-8; the value is eight little-endian 64-bit
integers — version, event_time, valid_from, valid_until, state_version (``-2**63``: none),
the cached values' length (-1: none), the state bytes' length, ``seq`` — then those values,
then the state bytes, then room to spare.

Rows rewritten in place: the native writer writes a row over the stored one when it fits
there (a row written anew gets a quarter more room than it needs; not with ``durable=True``,
whose promise that a machine crash leaves each row's last committed version whole needs
LMDB's page copies), instead of LMDB copying
the row's whole 4 KiB page — about half of what an update of a random entity cost (stop 38,
``benchmarks/results/online_writer_s38/``). Readers in other processes may meet a row
halfway through such a write, so ``seq`` works as a seqlock: odd while the row is written,
even and higher after; a reader copies the row again when it finds ``seq`` odd or changed
once it has copied it (the native reader reads ``seq`` itself before and after its copy; the
``py-lmdb`` reader, which only gets whole copies, takes a copy as whole when the copies just
before and after it show its ``seq``: see ``_consistent_get``). A writer killed in the middle
leaves ``seq`` odd: readers then wait
two seconds and report the row as half written, and the next writer writes it again
whatever its version (the runtime publishes every row it had not confirmed again when it
restarts).

Durability: by default a commit leaves flushing to the OS (``MDB_NOSYNC``), like the
SQLite store's ``synchronous=NORMAL``: a process crash loses nothing; a machine crash
may lose or damage recent batches, which the runtime's replay from Kafka rewrites only
for the entities it touches again — ``durable=True`` flushes at each commit instead.

The native writer opens the file with ``MDB_WRITEMAP``: a write transaction changes its pages in
the shared memory map and the kernel writes the dirty pages back, instead of LMDB
copying each touched page into a buffer and writing it with ``pwrite`` at the commit
(``benchmarks/online_write.py`` measures both: updates of existing entities take about half
the time; first writes take longer, each new page of the file being a page fault, and a
running flow mostly updates). What comes with it: no nested
transactions (none are used); LMDB sets the file's size to the map's when it opens it, so
a writer opens with a map at least the file's present size, never cutting short a file
another process has grown; a writer allocates the map's disk blocks when it opens or
grows it (``fallocate``): a page first written through the map of a sparse file gets its
block then, and on a full disk that write would kill the process with ``SIGBUS`` — so a
full disk is a clear error when the map grows, and the file takes the map's size on disk
(at most twice what it holds, the map growing by doubling from 32 MiB);
a process that opens the file only to read does not use it, nor does the ``py-lmdb``
path (LMDB asks that the writers of a file agree on it only for ``durable=True``'s
flushes); and when a resize of the map fails, LMDB has unmapped it already, so the native
writer refuses every later use of the store in that process with that error (the
runtime then stops; a restart reopens the store).
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from streamfeat.errors import OnlineStoreError
from streamfeat.online.base import StoredEntity
from streamfeat.online.file_rows import stored_row, write_params
from streamfeat.online.packed import PackedRows, unpack_rows

try:  # built from streamfeat/rust at install when a Rust toolchain and liblmdb are there
    from streamfeat._store_native import LmdbError, LmdbFile
except ImportError:
    LmdbFile = None

    class LmdbError(Exception):  # type: ignore[no-redef]  # the py-lmdb path raises it too (damaged rows)
        pass


__all__ = ["LmdbStore", "native_lmdb_built"]

_HEADER = struct.Struct("<qqqqqqqQ")
_SEQ = struct.Struct("<Q")
_SEQ_AT = 56
_LAYOUT_KEY = b"\0streamfeat\0layout"
_LAYOUT = b"2"
_TORN_WAIT_S = 2.0  # how long a reader waits for a row being written in place (as the native reader)
_NO_STATE_VERSION = -(2**63)
_NEVER = -(2**63)  # a read time no cached span covers
_DEFAULT_MAP = 32 << 20  # the map at first (a writer allocates it on disk); grows by doubling when full
#: Rows per write transaction: a transaction holds a copy of each page it touches until it
#: commits, and a batch needs no single one (rows are versioned per entity). As in the
#: native writer (``ROWS_PER_TXN`` in streamfeat/rust/src/lmdb.rs).
ROWS_PER_TXN = 8192


def native_lmdb_built() -> bool:
    """Whether ``streamfeat._store_native`` (batches without the GIL) is installed."""
    return LmdbFile is not None


class _PyLmdbFile:
    """The native ``LmdbFile`` interface over ``py-lmdb`` (the same file layout)."""

    def __init__(self, path: str, readonly: bool, map_size: int, durable: bool, writemap: bool = False) -> None:
        import lmdb

        self._lmdb = lmdb
        # Always LMDB's page copies written with pwrite (``writemap`` is ignored): after a
        # failed resize of a shared map, py-lmdb's environment crashes the process when closed.
        self._env = lmdb.open(path, subdir=False, readonly=readonly, map_size=map_size, sync=durable,
                              metasync=False, lock=True, max_readers=1024, create=not readonly)
        self._env.reader_check()
        self._lock = threading.Lock()
        try:
            self._check_layout(readonly)
        except BaseException:
            self._env.close()
            raise

    def _check_layout(self, readonly: bool) -> None:
        """Refuse a file of another row layout; mark an empty one (a writer)."""
        with self._env.begin(write=not readonly) as txn:
            found = txn.get(_LAYOUT_KEY)
            if found == _LAYOUT:
                return
            if found is not None:
                problem = f"its rows are in layout {found.decode(errors='replace')}"
            elif txn.stat()["entries"]:
                problem = "its rows are in layout 1 (written by an earlier streamfeat)"
            else:
                if not readonly:
                    txn.put(_LAYOUT_KEY, _LAYOUT)
                return
        raise LmdbError(f"{problem}, and this streamfeat reads layout {_LAYOUT.decode()}: " + _REBUILD)

    def write_packed(self, groups: list[tuple[str, str, bytes]]) -> int:
        """Packed rows (:mod:`streamfeat.online.packed`), as the native writer takes them."""
        upserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        for view, fingerprint, data in groups:
            full, values_only = write_params(view, fingerprint, unpack_rows(data))
            upserts.extend(full)
            updates.extend(values_only)
        return self.write(upserts, updates)

    def write(self, upserts: list[tuple[Any, ...]], updates: list[tuple[Any, ...]]) -> int:
        upserts = sorted(upserts, key=lambda r: r[:3])
        updates = sorted(updates, key=lambda r: r[5:])
        changed = 0
        with self._lock:
            for start in range(0, len(upserts), ROWS_PER_TXN):
                changed += self._write_growing(upserts[start : start + ROWS_PER_TXN], [])
            for start in range(0, len(updates), ROWS_PER_TXN):
                changed += self._write_growing([], updates[start : start + ROWS_PER_TXN])
        return changed

    def _begin(self, *, write: bool) -> Any:
        """A transaction (hold ``_lock``: adopting a new map size needs none open in this
        process). When another process grew the map past this environment's, LMDB refuses
        a transaction (``MDB_MAP_RESIZED``) until the environment adopts the file's size."""
        try:
            return self._env.begin(write=write)
        except self._lmdb.MapResizedError:
            self._env.set_mapsize(0)  # 0: the size another process set
            return self._env.begin(write=write)

    def _write_growing(self, upserts: list[tuple[Any, ...]], updates: list[tuple[Any, ...]]) -> int:
        while True:
            try:
                return self._write(upserts, updates)
            except self._lmdb.MapFullError:
                self._env.set_mapsize(self._env.info()["map_size"] * 2)

    def _write(self, upserts: list[tuple[Any, ...]], updates: list[tuple[Any, ...]]) -> int:
        changed = 0
        with self._begin(write=True) as txn:
            for view, fp, entity, state, version, event_time, vals, valid_from, valid_until in upserts:
                key = _key(view, fp, entity)
                old = txn.get(key)
                seq = 0
                if old is not None:
                    # A row half written by a writer that died (maybe in its header) is written again.
                    old_seq = _torn_seq(old)
                    if old_seq is None:
                        h = _header(old, key)
                        if not (version > h[0] or (version == h[0] and h[4] != _NO_STATE_VERSION)):
                            continue
                        old_seq = h[7]
                    seq = (old_seq | 1) + 1
                txn.put(key, _encode(version, event_time, valid_from, valid_until, _NO_STATE_VERSION, vals, state, seq))
                changed += 1
            for version, event_time, vals, valid_from, valid_until, view, fp, entity in updates:
                key = _key(view, fp, entity)
                old = txn.get(key)
                if old is None:
                    continue
                if _torn_seq(old) is not None:
                    continue  # half written: its full row follows
                h = _header(old, key)
                if not (h[0] < version or (h[0] == version and h[4] != _NO_STATE_VERSION)):
                    continue
                state_start = _HEADER.size + max(h[5], 0)
                state = bytes(old[state_start : state_start + h[6]])
                state_version = h[0] if h[4] == _NO_STATE_VERSION else h[4]
                txn.put(key, _encode(version, event_time, valid_from, valid_until, state_version, vals, state,
                                     (h[7] | 1) + 1))
                changed += 1
        return changed

    def get(self, view: str, fp: str, entities: list[str], at: int) -> list[tuple[Any, ...] | None]:
        out: list[tuple[Any, ...] | None] = []
        with self._lock, self._begin(write=False) as txn:
            for entity in entities:
                key = _key(view, fp, entity)
                value = _consistent_get(txn, key)
                if value is None:
                    out.append(None)
                    continue
                version, event_time, valid_from, valid_until, state_version, vals_len, state_len, _ = _header(value, key)
                vals_end = _HEADER.size + max(vals_len, 0)
                covered = vals_len >= 0 and valid_from <= at < valid_until
                out.append((None if covered else bytes(value[vals_end : vals_end + state_len]), version, event_time,
                            bytes(value[_HEADER.size:vals_end]) if vals_len >= 0 else None, valid_from, valid_until,
                            None if state_version == _NO_STATE_VERSION else state_version))
        return out

    def event_times(self, view: str, fp: str, entities: list[str]) -> list[int | None]:
        out: list[int | None] = []
        with self._lock, self._begin(write=False) as txn:
            for entity in entities:
                key = _key(view, fp, entity)
                value = _consistent_get(txn, key)
                out.append(None if value is None else _header(value, key)[1])
        return out

    def close(self) -> None:
        with self._lock:
            self._env.close()


def _key(view: str, fp: str, entity: str) -> bytes:
    return f"{view}\0{fp}\0{entity}".encode()


_REBUILD = ("rebuild it — remove it (and its -lock file) with the state directory beside it and bootstrap both "
            "again (`streamfeat backfill FEATURES.py --bootstrap-servers ... --state-dir DIR`), or run the flow on a "
            "new --state-dir")


def _consistent_get(txn: Any, key: bytes) -> bytes | None:
    """The row under ``key`` as one consistent version: a native writer of another process
    may be writing it in place (module docstring). A copy's own bytes are read in no set
    order (``memcpy`` may read a long row's end before its header), so the ``seq`` inside a
    copy says nothing about the rest of it: a copy is taken as whole when the copies made
    just before and just after it show the same even ``seq`` as it does — no write began
    between the first of those reads and the last."""
    before = txn.get(key)
    deadline = None
    while before is not None and len(before) >= _HEADER.size:
        seq = _SEQ.unpack_from(before, _SEQ_AT)[0]
        value = txn.get(key)
        if value is None or len(value) < _HEADER.size:
            return value
        after = txn.get(key)
        if after is None or len(after) < _HEADER.size:
            return after
        if (
            not seq & 1
            and _SEQ.unpack_from(value, _SEQ_AT)[0] == seq
            and _SEQ.unpack_from(after, _SEQ_AT)[0] == seq
        ):
            return value
        if deadline is None:
            deadline = time.monotonic() + _TORN_WAIT_S
        elif time.monotonic() > deadline:
            raise LmdbError(f"the stored row of {key!r} stays half written: its writer stopped in the middle of "
                            "writing it (the flow writes it again when it restarts)")
        time.sleep(0.0002)
        before = after
    return before


def _torn_seq(value: bytes) -> int | None:
    """The odd ``seq`` of a row left half written (read before the rest of its header), or None."""
    if len(value) < _HEADER.size:
        return None
    seq: int = _SEQ.unpack_from(value, _SEQ_AT)[0]
    return seq if seq & 1 else None


def _header(value: bytes, key: bytes) -> tuple[int, int, int, int, int, int, int, int]:
    if len(value) < _HEADER.size:
        raise LmdbError(f"the stored row of {key!r} is damaged (shorter than its header)")
    h: tuple[int, int, int, int, int, int, int, int] = _HEADER.unpack_from(value)
    if h[5] < -1 or h[6] < 0 or _HEADER.size + max(h[5], 0) + h[6] > len(value):
        raise LmdbError(f"the stored row of {key!r} is damaged (shorter than its header says)")
    return h


def _encode(version: int, event_time: int, valid_from: int, valid_until: int, state_version: int,
            vals: bytes | None, state: bytes, seq: int) -> bytes:
    head = _HEADER.pack(version, event_time, valid_from, valid_until, state_version,
                        -1 if vals is None else len(vals), len(state), seq)
    return b"".join((head, vals or b"", state))


class _OpenFiles:
    """The LMDB environment of each file open in this process, shared and counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, tuple[Any, int, bool]] = {}  # path -> (file, users, writable)

    def acquire(self, path: Path, *, readonly: bool, map_size: int, durable: bool, native: bool,
                writemap: bool = True) -> Any:
        key = str(path.resolve())
        with self._lock:
            if key in self._open:
                file, users, writable = self._open[key]
                if not readonly and not writable:
                    raise OnlineStoreError(f"the embedded online store {path} is open read-only in this process; "
                                           "open it for writing first (or close the readers)")
                self._open[key] = (file, users + 1, writable)
                return file
            if readonly and not path.exists():
                raise OnlineStoreError(f"no embedded online store at {path} (a writer creates it)")
            # A reader opens the environment writable when it may, so that a writer opened later in this
            # process shares it; it never writes through it.
            writable = not readonly or os.access(path, os.W_OK)
            if not readonly:
                path.parent.mkdir(parents=True, exist_ok=True)
            opener = LmdbFile if native and LmdbFile is not None else _PyLmdbFile
            # Writers change pages in the shared map (module docstring); a reader's environment,
            # writable only so that a later writer in this process can share it, does not.
            file = opener(key, not writable, map_size, durable, writemap and not readonly)
            self._open[key] = (file, 1, writable)
            return file

    def release(self, path: Path) -> None:
        key = str(path.resolve())
        with self._lock:
            file, users, writable = self._open[key]
            if users > 1:
                self._open[key] = (file, users - 1, writable)
                return
            del self._open[key]
            file.close()


_FILES = _OpenFiles()


class LmdbStore:
    """Online store in the LMDB file at ``path`` (and ``PATH-lock``), created with its
    folder if missing. ``readonly=True`` opens an existing store for reading only — what
    a serving process beside the writer uses. One store object may be shared by threads.
    ``native``: go through ``streamfeat._store_native`` when it was built; ``writemap``:
    write pages in the shared map (module docstring), ``False`` for LMDB's page copies
    written with ``pwrite`` (the first store object opened on a file in a process decides
    both for all of them on that file).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        readonly: bool = False,
        map_size: int = _DEFAULT_MAP,
        durable: bool = False,
        native: bool = True,
        writemap: bool = True,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        try:
            self._file = _FILES.acquire(self.path, readonly=readonly, map_size=map_size, durable=durable,
                                        native=native, writemap=writemap)
        except (LmdbError, OSError) as exc:
            raise OnlineStoreError(f"cannot open the embedded online store at {self.path}: {exc}") from exc
        except ImportError as exc:
            raise OnlineStoreError(f"cannot open the embedded online store at {self.path}: neither the native "
                                   "extension nor py-lmdb (pip install lmdb) is installed") from exc
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise OnlineStoreError(f"the embedded online store at {self.path} is closed")

    @property
    def accepts_packed_rows(self) -> bool:
        """Whether :meth:`write` takes :class:`~streamfeat.online.packed.PackedRows` without
        unpacking them in Python: with the native writer."""
        return LmdbFile is not None and isinstance(self._file, LmdbFile)

    def write(self, view: str, fingerprint: str, rows: Mapping[str, StoredEntity] | PackedRows) -> int:
        if isinstance(rows, PackedRows):
            return self.write_packed([(view, fingerprint, rows.data)]) if rows else 0
        self._check_open()
        if self.readonly:
            raise OnlineStoreError(f"the embedded online store at {self.path} was opened read-only")
        if not rows:
            return 0
        upserts, values_only = write_params(view, fingerprint, rows)
        try:
            written: int = self._file.write(upserts, values_only)
        except LmdbError as exc:
            raise OnlineStoreError(f"cannot write to the embedded online store at {self.path}: {exc}") from exc
        return written

    def write_packed(self, groups: Sequence[tuple[str, str, bytes]]) -> int:
        """Write packed rows, ``(view, fingerprint, data)`` per group in the order they were
        made (:mod:`streamfeat.online.packed`) — only each entity's newest rows — in one call
        that releases the GIL with the native writer; returns how many rows changed."""
        self._check_open()
        if self.readonly:
            raise OnlineStoreError(f"the embedded online store at {self.path} was opened read-only")
        try:
            written: int = self._file.write_packed(list(groups))
        except LmdbError as exc:
            raise OnlineStoreError(f"cannot write to the embedded online store at {self.path}: {exc}") from exc
        return written

    def write_counts(self) -> tuple[int, int, int] | None:
        """Rows this process wrote to the file since it opened it: (written over the stored
        row in place, moved to a new place having outgrown their room, new) — ``None`` on
        the ``py-lmdb`` path, which always writes through LMDB's page copies."""
        self._check_open()
        if not self.accepts_packed_rows:
            return None
        counts: tuple[int, int, int] = self._file.write_counts()
        return counts

    def get_raw(
        self, view: str, fingerprint: str, entities: Sequence[str], *, at: int | None = None
    ) -> list[StoredEntity | None]:
        self._check_open()
        try:
            found = self._file.get(view, fingerprint, list(entities), _NEVER if at is None else at)
        except LmdbError as exc:
            raise OnlineStoreError(f"cannot read from the embedded online store at {self.path}: {exc}") from exc
        return [None if row is None else stored_row(*row) for row in found]

    def event_times(self, view: str, fingerprint: str, entities: Sequence[str]) -> list[int | None]:
        """The event time of each entity's row (``None`` where there is none): the newest
        event applied to it. Reads only each row's header — a cheap way to watch how far
        the rows are (monitoring, ``benchmarks.freshness``) without reading their values."""
        self._check_open()
        try:
            found: list[int | None] = self._file.event_times(view, fingerprint, list(entities))
        except LmdbError as exc:
            raise OnlineStoreError(f"cannot read from the embedded online store at {self.path}: {exc}") from exc
        return found

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _FILES.release(self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LmdbStore({str(self.path)!r}{', readonly=True' if self.readonly else ''})"

