"""The SQLite online store: one local SQLite file in WAL mode — for files named
``*.sqlite``, ``*.sqlite3`` or ``*.db``. The default embedded store is now the LMDB file of
:mod:`streamfeat.online.lmdb_store`, which writes W1's random upserts about twice as fast;
this one stays for the files earlier releases wrote and needs only the standard library.

Why SQLite rather than RocksDB (which streamfeat already uses for operator state):
a RocksDB database admits one writer *process*, and other processes can only open it
as read-only or secondary instances that see new writes after an explicit
``try_catch_up_with_primary`` — so a feature server beside the streaming job would
read stale state or need its own catch-up loop. SQLite in WAL mode lets any number of
reader processes read the file while one writer writes, each reader seeing the last
committed batch, with no extra dependency (``sqlite3`` is in the standard library).

One table, keyed by ``(view, fingerprint, entity)``; beside the state bytes a row may
hold the values as of the write and the span they hold for (``vals``, ``valid_from``,
``valid_until``; :class:`~streamfeat.online.base.CachedValues`). A read for a time in
that span does not fetch the state bytes at all. ``state_version`` is NULL while the
state bytes belong to ``version``; a values-only write sets it to the version they do
belong to. Files written before those columns existed gain them when a writer opens
them. A batch is one transaction of one ``executemany`` upsert (and one ``UPDATE`` for
values-only rows) whose ``WHERE excluded.version > version`` keeps writes idempotent
and never regressing. ``synchronous=NORMAL``: a committed
batch survives a process crash; after a power loss the last batches may be gone,
which the runtime's replay from Kafka restores (old versions are then ignored).

Checkpoints (copying committed pages from the WAL into the database file, with an
fsync) run on a background thread of the writer, not inside the commit that crosses
SQLite's 1,000-page threshold: a writer publishing a few MB per batch would otherwise
pay a checkpoint in most commits (measured in process, 200k W1 events in batches of
2,000: 12,008 events/s with the thread, 9,807 without; commits had taken about a tenth
of a 500k-event profile). ``sqlite3`` releases the GIL while it works, so the copy
overlaps the next batch.

Batches are written through the native extension ``streamfeat._store_native`` when it
is built (Rust, rusqlite linked against the same system SQLite as Python's ``sqlite3``,
as SQLite's locking needs one copy per process): the rows are copied out of Python,
then the transaction runs without the GIL. ``sqlite3`` instead takes the GIL back after
every row; on the runtime's background writer thread (:mod:`streamfeat.online.background`)
each of those waits for the busy interpreter's switch interval, so writes crawled
(measured: 67,069 events/s end to end with the background thread on ``sqlite3``,
73,421 writing each batch in the pipeline's thread, 2M W1 events).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from streamfeat.errors import OnlineStoreError
from streamfeat.online.base import StoredEntity
from streamfeat.online.file_rows import stored_row, write_params

try:  # built from streamfeat/rust at install when a Rust toolchain is there
    from streamfeat._store_native import SqliteBatchWriter, SqliteWriteError
except ImportError:
    SqliteBatchWriter = None

    class SqliteWriteError(Exception):  # type: ignore[no-redef]  # never raised without the extension
        pass

__all__ = ["EmbeddedStore", "native_batch_writer_built"]

_log = logging.getLogger(__name__)


def native_batch_writer_built() -> bool:
    """Whether ``streamfeat._store_native`` (the batch writer without the GIL) is installed."""
    return SqliteBatchWriter is not None

_BUSY_TIMEOUT_MS = 10_000
#: The writer checkpoints itself (as SQLite would) only when the background thread has
#: fallen this far behind: a bound on the WAL file, in pages.
_WAL_LIMIT_PAGES = 100_000
_CHUNK = 500  # entities per SELECT ... IN (...), well under SQLite's variable limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS online_state (
    view        TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    entity      TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    event_time  INTEGER NOT NULL,
    vals        BLOB,
    valid_from  INTEGER NOT NULL DEFAULT 0,
    valid_until INTEGER NOT NULL DEFAULT 0,
    state_version INTEGER,
    state       BLOB    NOT NULL,
    PRIMARY KEY (view, fingerprint, entity)
) WITHOUT ROWID
"""
# ``state`` last: a row's record is laid out in column order and a large state spills
# into overflow pages, so everything before it (what a read inside the values' span
# needs) stays on the row's own page and such a read never touches the overflow chain.
# Added after the first release; ALTER TABLE brings older files up to date.
_CACHE_COLUMNS = {
    "vals": "vals BLOB",
    "valid_from": "valid_from INTEGER NOT NULL DEFAULT 0",
    "valid_until": "valid_until INTEGER NOT NULL DEFAULT 0",
    "state_version": "state_version INTEGER",
}

_UPSERT = """
INSERT INTO online_state (view, fingerprint, entity, state, version, event_time, vals, valid_from, valid_until)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (view, fingerprint, entity) DO UPDATE
    SET state = excluded.state, version = excluded.version, event_time = excluded.event_time,
        vals = excluded.vals, valid_from = excluded.valid_from, valid_until = excluded.valid_until,
        state_version = NULL
    WHERE excluded.version > online_state.version
       OR (excluded.version = online_state.version AND online_state.state_version IS NOT NULL)
"""
# A values-only row: the stored state stays, and ``state_version`` keeps its version
# (the right-hand sides of SET read the row as it was). One of the same version replaces
# the values of a row whose state is stale (a replay's later span for the same version).
_UPDATE_VALUES = """
UPDATE online_state
    SET version = ?1, event_time = ?2, vals = ?3, valid_from = ?4, valid_until = ?5,
        state_version = COALESCE(state_version, version)
    WHERE view = ?6 AND fingerprint = ?7 AND entity = ?8
      AND (version < ?1 OR (version = ?1 AND state_version IS NOT NULL))
"""

# ``?1`` is the read time: the state bytes are sent only when the cached values do not cover it.
_COLUMNS = (
    "CASE WHEN valid_from <= ?1 AND ?1 < valid_until THEN NULL ELSE state END, "
    "version, event_time, vals, valid_from, valid_until, state_version"
)
_LEGACY_COLUMNS = "state, version, event_time, NULL, 0, 0, NULL"  # a file from before the cache columns
_WHERE = "view = ?2 AND fingerprint = ?3"
_NEVER = -(2**63)  # a read time no cached span covers


class EmbeddedStore:
    """Online store in the SQLite file at ``path`` (created with its folder if missing).

    ``readonly=True`` opens an existing store for reading only — what a serving
    process beside the writer uses. One store object may be shared by threads.
    ``cache_mib``: SQLite's page cache for this connection (its default, 2 MiB, holds
    few pages of a store with many entities, so point reads would go to the OS page
    by page); ``mmap_mib``: how much of the file reads map into memory instead of
    copying it through ``read()`` (0: off; default 256 for a read-only store, what
    serving opens, and 0 for a writer, whose resident memory it would otherwise grow).
    ``native_writes``: write batches through ``streamfeat._store_native`` when it was
    built (the same SQL on a second connection, without the GIL; see below), else
    through ``sqlite3``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        readonly: bool = False,
        cache_mib: int = 64,
        mmap_mib: int | None = None,
        native_writes: bool = True,
    ) -> None:
        if mmap_mib is None:
            mmap_mib = 256 if readonly else 0
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.Lock()
        self._checkpointer: _Checkpointer | None = None
        self._native: SqliteBatchWriter | None = None
        try:
            if readonly:
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                self._conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            pragmas = [
                f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}",
                f"PRAGMA cache_size = {-1024 * int(cache_mib)}",
                f"PRAGMA mmap_size = {1024 * 1024 * int(mmap_mib)}",
            ]
            for pragma in pragmas:
                self._conn.execute(pragma)
            if not readonly:
                self._prepare_for_writing()
                if native_writes and SqliteBatchWriter is not None:
                    # Set per connection: the same as this one's and _prepare_for_writing's.
                    pragmas += ["PRAGMA synchronous = NORMAL", f"PRAGMA wal_autocheckpoint = {_WAL_LIMIT_PAGES}"]
                    self._native = SqliteBatchWriter(str(self.path), pragmas, _UPSERT, _UPDATE_VALUES)
            self._columns = self._read_columns()
            self._select_one = f"SELECT {self._columns} FROM online_state WHERE {_WHERE} AND entity = ?4"
        except (sqlite3.Error, OSError, SqliteWriteError) as exc:
            raise OnlineStoreError(f"cannot open the embedded online store at {self.path}: {exc}") from exc

    def _prepare_for_writing(self) -> None:
        """WAL mode and the schema. Switching the journal mode can answer "database is
        locked" at once, without waiting, while another process opens the same new file
        (several partitions of a dataflow do): retry that for the busy timeout."""
        deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
                self._conn.execute(f"PRAGMA wal_autocheckpoint = {_WAL_LIMIT_PAGES}")
                self._conn.execute(_SCHEMA)
                present = {row[1] for row in self._conn.execute("PRAGMA table_info(online_state)")}
                for column, definition in _CACHE_COLUMNS.items():
                    if column not in present:
                        self._conn.execute(f"ALTER TABLE online_state ADD COLUMN {definition}")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _read_columns(self) -> str:
        """What a read selects, by the columns the file has (a reader may open a file an
        older writer made; with no table yet, a writer will create the current one)."""
        present = {row[1] for row in self._conn.execute("PRAGMA table_info(online_state)")}
        if not present or set(_CACHE_COLUMNS) <= present:
            return _COLUMNS
        if {"vals", "valid_from", "valid_until"} <= present:  # before values-only writes
            return _COLUMNS.replace(", state_version", ", NULL")
        return _LEGACY_COLUMNS

    def write(self, view: str, fingerprint: str, rows: Mapping[str, StoredEntity]) -> int:
        if not rows:
            return 0
        params, values_only = write_params(view, fingerprint, rows)
        if self._native is not None:
            with self._lock:
                try:
                    written = self._native.write(params, values_only)
                except SqliteWriteError as exc:
                    raise OnlineStoreError(f"cannot write to the embedded online store at {self.path}: {exc}") from exc
                self._request_checkpoint()
            return written
        with self._guard("write to"):
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                written = conn.executemany(_UPSERT, params).rowcount if params else 0
                if values_only:
                    written += conn.executemany(_UPDATE_VALUES, values_only).rowcount
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._request_checkpoint()
        return written

    def _request_checkpoint(self) -> None:
        if self._checkpointer is None:
            self._checkpointer = _Checkpointer(self.path)
        self._checkpointer.request()

    def get_raw(
        self, view: str, fingerprint: str, entities: Sequence[str], *, at: int | None = None
    ) -> list[StoredEntity | None]:
        t = _NEVER if at is None else at  # before every valid_from: the state is always sent
        columns = self._columns
        if len(entities) == 1:  # the serving hot path: no context manager, one prepared query
            with self._lock:
                try:
                    found = self._conn.execute(self._select_one, (t, view, fingerprint, entities[0])).fetchone()
                except sqlite3.Error as exc:
                    raise OnlineStoreError(f"cannot read from the embedded online store at {self.path}: {exc}") from exc
            return [None if found is None else stored_row(*found)]
        by_entity: dict[str, StoredEntity] = {}
        with self._guard("read from"):
            for start in range(0, len(entities), _CHUNK):
                chunk = list(dict.fromkeys(entities[start : start + _CHUNK]))
                marks = ", ".join("?" * len(chunk))
                query = f"SELECT entity, {columns} FROM online_state WHERE {_WHERE} AND entity IN ({marks})"
                for entity, *found in self._conn.execute(query, (t, view, fingerprint, *chunk)):
                    by_entity[entity] = stored_row(*found)
        return [by_entity.get(entity) for entity in entities]

    def event_times(self, view: str, fingerprint: str, entities: Sequence[str]) -> list[int | None]:
        """The event time of each entity's row (``None`` where there is none): the newest
        event applied to it, without reading the row's values or state (as
        :meth:`LmdbStore.event_times <streamfeat.online.LmdbStore.event_times>`)."""
        found: dict[str, int] = {}
        with self._guard("read from"):
            for start in range(0, len(entities), _CHUNK):
                chunk = list(dict.fromkeys(entities[start : start + _CHUNK]))
                marks = ", ".join("?" * len(chunk))
                query = ("SELECT entity, event_time FROM online_state WHERE view = ? AND fingerprint = ? "
                         f"AND entity IN ({marks})")
                found.update(self._conn.execute(query, (view, fingerprint, *chunk)))
        return [found.get(entity) for entity in entities]

    def close(self) -> None:
        with self._lock:
            if self._checkpointer is not None:
                self._checkpointer.stop()
                self._checkpointer = None
            if self._native is not None:
                try:
                    self._native.close()
                except SqliteWriteError as exc:
                    raise OnlineStoreError(f"cannot close the embedded online store at {self.path}: {exc}") from exc
                finally:
                    self._native = None
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """One thread at a time on the connection; sqlite3 errors become OnlineStoreError."""
        with self._lock:
            try:
                yield
            except sqlite3.Error as exc:
                raise OnlineStoreError(f"cannot {action} the embedded online store at {self.path}: {exc}") from exc

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.path)!r}{', readonly=True' if self.readonly else ''})"


class _Checkpointer:
    """A thread with its own connection that runs a passive checkpoint after each commit
    it is told of (requests made while one runs fold into the next). Passive: it never
    waits for or blocks readers and the writer. A failure is logged and retried at the
    next request; the writer's own bound (``wal_autocheckpoint``) still caps the WAL."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"checkpoint {path.name}", daemon=True)
        self._thread.start()

    def request(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    _log.warning("checkpoint of the embedded online store %s failed (retried after the next "
                                 "commit): %s", self._path, exc)
        finally:
            conn.close()

