"""The default online store: one local SQLite file in WAL mode.

Why SQLite rather than RocksDB (which streamfeat already uses for operator state):
a RocksDB database admits one writer *process*, and other processes can only open it
as read-only or secondary instances that see new writes after an explicit
``try_catch_up_with_primary`` — so a feature server beside the streaming job would
read stale state or need its own catch-up loop. SQLite in WAL mode lets any number of
reader processes read the file while one writer writes, each reader seeing the last
committed batch, with no extra dependency (``sqlite3`` is in the standard library).

One table, keyed by ``(view, fingerprint, entity)``. A batch is one transaction of
one ``executemany`` upsert whose ``DO UPDATE ... WHERE excluded.version > version``
keeps writes idempotent and never regressing. ``synchronous=NORMAL``: a committed
batch survives a process crash; after a power loss the last batches may be gone,
which the runtime's replay from Kafka restores (old versions are then ignored).
"""

from __future__ import annotations

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

__all__ = ["EmbeddedStore"]

_BUSY_TIMEOUT_MS = 10_000
_CHUNK = 500  # entities per SELECT ... IN (...), well under SQLite's variable limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS online_state (
    view        TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    entity      TEXT    NOT NULL,
    state       BLOB    NOT NULL,
    version     INTEGER NOT NULL,
    event_time  INTEGER NOT NULL,
    PRIMARY KEY (view, fingerprint, entity)
) WITHOUT ROWID
"""

_UPSERT = """
INSERT INTO online_state (view, fingerprint, entity, state, version, event_time) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (view, fingerprint, entity) DO UPDATE
    SET state = excluded.state, version = excluded.version, event_time = excluded.event_time
    WHERE excluded.version > online_state.version
"""

_SELECT_ONE = "SELECT state, version, event_time FROM online_state WHERE view = ? AND fingerprint = ? AND entity = ?"


class EmbeddedStore:
    """Online store in the SQLite file at ``path`` (created with its folder if missing).

    ``readonly=True`` opens an existing store for reading only — what a serving
    process beside the writer uses. One store object may be shared by threads.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.Lock()
        try:
            if readonly:
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                self._conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            if not readonly:
                self._prepare_for_writing()
        except (sqlite3.Error, OSError) as exc:
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
                self._conn.execute(_SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def write(self, view: str, fingerprint: str, rows: Mapping[str, StoredEntity]) -> int:
        if not rows:
            return 0
        params = [(view, fingerprint, entity, r.state, r.version, r.event_time) for entity, r in rows.items()]
        with self._guard("write to"):
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = conn.executemany(_UPSERT, params)
                written = cursor.rowcount
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return written

    def get_raw(self, view: str, fingerprint: str, entities: Sequence[str]) -> list[StoredEntity | None]:
        if len(entities) == 1:
            with self._guard("read from"):
                found = self._conn.execute(_SELECT_ONE, (view, fingerprint, entities[0])).fetchone()
            return [None if found is None else StoredEntity(found[0], found[1], found[2])]
        by_entity: dict[str, StoredEntity] = {}
        with self._guard("read from"):
            for start in range(0, len(entities), _CHUNK):
                chunk = list(dict.fromkeys(entities[start : start + _CHUNK]))
                marks = ", ".join("?" * len(chunk))
                query = (
                    "SELECT entity, state, version, event_time FROM online_state "
                    f"WHERE view = ? AND fingerprint = ? AND entity IN ({marks})"
                )
                for entity, state, version, event_time in self._conn.execute(query, (view, fingerprint, *chunk)):
                    by_entity[entity] = StoredEntity(state, version, event_time)
        return [by_entity.get(entity) for entity in entities]

    def close(self) -> None:
        with self._lock:
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
