"""Online writes on a background thread, coalesced: :class:`BackgroundWriter`.

Why: the streaming runtime spent about 38 % of its time inside the embedded store's
upserts (a timed 2M-event run), work that ``sqlite3`` (and redis-py's socket I/O) does
with the GIL released. Handed to one thread, it overlaps the next batch's decoding and
operators on the machine's other core.

Why coalesced: while the thread writes, the batches handed to it meanwhile are merged
per entity — only each entity's newest row is written. A busy writer thus writes
fewer rows per event, so its share of the work shrinks as the load grows instead of
falling further behind (a plain queue of batches did: measured at stop 18, freshness
got worse). Dropping an intermediate version loses nothing a reader could need: rows
are versioned per entity and a store keeps only the newest anyway. A store that takes
packed rows (:mod:`streamfeat.online.packed`: the embedded LMDB store's native writer)
is handed the batches' buffers as they are, in order, and does that merge itself
without the GIL; ``max_pending_rows`` then counts rows before the merge.

Exactly-once in effect still holds without waiting for the thread: the pipeline commits,
with its state and offsets, the entities whose rows it handed over before the commit
and the writer had not yet confirmed (:attr:`submitted`, :attr:`written_through`), and
a restart publishes their committed state again. Rows of batches after the commit are
replayed. (:meth:`flush` waits until every row handed over so far is written.)

A write that fails is retried with backoff for ``retry_for_s``; after that the writer
stops writing and every later call raises :class:`~streamfeat.errors.PublishFailedError`
(the pipeline then stops without committing, so the restart replays those batches).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Self

from streamfeat.errors import OnlineStoreError, PublishFailedError
from streamfeat.online.base import OnlineStore, StoredEntity
from streamfeat.online.packed import PackedRows, pack_rows

__all__ = ["BackgroundWriter"]

_log = logging.getLogger(__name__)

_Group = tuple[str, str]  # (view, fingerprint)


class BackgroundWriter:
    """An :class:`~streamfeat.online.base.OnlineStore` that hands writes to ``store`` on
    one background thread (see the module docstring); reads wait for them first.

    :meth:`write` returns at once with the number of rows handed over (not the number
    the store accepted as newer); it blocks only while ``max_pending_rows`` rows wait.
    Thread-safe: partitions of a process may share one writer. :meth:`close` writes what
    is pending, stops the thread and closes ``store``.
    """

    def __init__(
        self,
        store: OnlineStore,
        *,
        retry_for_s: float = 60.0,
        max_pending_rows: int = 200_000,
        sleep: Callable[[float], None] = time.sleep,
        name: str = "streamfeat online writer",
    ) -> None:
        if max_pending_rows < 1:
            raise ValueError(f"max_pending_rows must be >= 1, got {max_pending_rows}")
        self.store = store
        self.retry_for_s = retry_for_s
        self.max_pending_rows = max_pending_rows
        self._sleep = sleep
        self._changed = threading.Condition()
        # Rows waiting, newest per entity; and the full rows a values-only row superseded
        # before they were written (their state bytes must still reach the store first).
        self._pending: dict[_Group, dict[str, StoredEntity]] = {}
        self._superseded: dict[_Group, dict[str, StoredEntity]] = {}
        # A store that takes packed rows (the embedded store's native writer) gets every
        # write packed, in order, and merges them per entity itself, without the GIL.
        self._packs_rows = bool(getattr(store, "accepts_packed_rows", False))
        self._packed: list[tuple[str, str, bytes]] = []
        self._pending_rows = 0
        self._submitted = 0  # write() calls so far
        self._written = 0  # of those, how many the store has
        self._failure: BaseException | None = None
        self._closing = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- the caller's side -----------------------------------------------------------------

    @property
    def accepts_packed_rows(self) -> bool:
        """Whether :meth:`write` hands :class:`~streamfeat.online.packed.PackedRows` on
        as they are (the store takes them); otherwise they are unpacked first."""
        return self._packs_rows

    def write(self, view: str, fingerprint: str, rows: Mapping[str, StoredEntity] | PackedRows) -> int:
        if not rows:
            return 0
        if self._packs_rows:
            packed = rows if isinstance(rows, PackedRows) else pack_rows(rows)
        elif isinstance(rows, PackedRows):
            rows = rows.to_rows()
        with self._changed:
            self._check_usable()
            while self._pending_rows >= self.max_pending_rows and self._failure is None:
                self._changed.wait()
            self._check_usable()
            if self._packs_rows:
                self._packed.append((view, fingerprint, packed.data))
                self._pending_rows += len(packed)
                self._submitted += 1
                self._changed.notify_all()
                return len(packed)
            assert not isinstance(rows, PackedRows)
            group = (view, fingerprint)
            pending = self._pending.setdefault(group, {})
            before = len(pending)
            waiting = rows.keys() & pending.keys() if pending else ()
            if not waiting:
                pending.update(rows)  # no entity of these rows is pending: nothing to compare
            else:
                for entity, row in rows.items():
                    old = pending.get(entity)
                    if old is not None:
                        if old.version > row.version:
                            continue  # never regress (a store would ignore it anyway)
                        if row.state is None and old.state is not None:
                            self._superseded.setdefault(group, {})[entity] = old
                    pending[entity] = row
            self._pending_rows += len(pending) - before
            self._submitted += 1
            self._changed.notify_all()
        return len(rows)

    @property
    def submitted(self) -> int:
        """:meth:`write` calls so far. The rows of the ``n``-th are in the store once
        :attr:`written_through` is at least ``n`` (read it after a write: a count that
        other threads' writes raised meanwhile only delays the confirmation)."""
        return self._submitted

    @property
    def written_through(self) -> int:
        """How many :meth:`write` calls, from the first, have their rows in the store."""
        return self._written

    @property
    def pending_rows(self) -> int:
        """Rows handed over and waiting for the thread to take them (merged per entity)."""
        return self._pending_rows

    def flush(self) -> None:
        """Return once every row handed over so far is in the store; raise
        :class:`PublishFailedError` if the writer gave up."""
        with self._changed:
            target = self._submitted
            while self._written < target and self._failure is None:
                self._changed.wait()
            self._raise_failure()

    def get_raw(
        self, view: str, fingerprint: str, entities: Sequence[str], *, at: int | None = None
    ) -> list[StoredEntity | None]:
        self.flush()
        return self.store.get_raw(view, fingerprint, entities, at=at)

    def close(self) -> None:
        """Write what is pending, stop, close the store; raise :class:`PublishFailedError`
        if the writer gave up (rows handed over were then never written)."""
        with self._changed:
            if self._closed:
                return
            self._closing = True
            self._changed.notify_all()
        self._thread.join()
        self._closed = True
        try:
            self._raise_failure()
        finally:
            self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_usable(self) -> None:
        self._raise_failure()
        if self._closing:
            raise OnlineStoreError(f"{self!r} is closed")

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise PublishFailedError(
                f"background writes to {self.store!r} failed for {self.retry_for_s:.0f} s; nothing more is written "
                f"(restart: the batches since the last commit are replayed): {self._failure}"
            ) from self._failure

    # -- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._packed and not self._closing:
                    self._changed.wait()
                if not self._pending and not self._packed:
                    return  # closing, nothing left
                pending, superseded, packed, taken = self._pending, self._superseded, self._packed, self._submitted
                self._pending, self._superseded, self._packed, self._pending_rows = {}, {}, [], 0
                self._changed.notify_all()  # room for blocked writers
            try:
                self._write_with_retries(pending, superseded, packed)
            except OnlineStoreError as exc:
                with self._changed:
                    self._failure = exc
                    self._pending, self._superseded, self._packed, self._pending_rows = {}, {}, [], 0
                    self._changed.notify_all()
                return
            with self._changed:
                self._written = taken
                self._changed.notify_all()

    def _write_with_retries(
        self,
        pending: dict[_Group, dict[str, StoredEntity]],
        superseded: dict[_Group, dict[str, StoredEntity]],
        packed: list[tuple[str, str, bytes]],
    ) -> None:
        """Write every group (superseded full rows first), or the packed rows; a failure
        retries the whole round (writes are idempotent) with exponential backoff until
        ``retry_for_s``."""
        delay = 0.05
        deadline = time.monotonic() + self.retry_for_s
        while True:
            try:
                if packed:
                    self.store.write_packed(packed)  # type: ignore[attr-defined]  # accepts_packed_rows
                for group, rows in superseded.items():
                    self.store.write(*group, rows)
                for group, rows in pending.items():
                    self.store.write(*group, rows)
                return
            except OnlineStoreError as exc:
                if time.monotonic() + delay > deadline:
                    raise
                _log.warning("online store write failed, retrying in %.2f s: %s", delay, exc)
                self._sleep(delay)
                delay = min(delay * 2, 5.0)

    def __repr__(self) -> str:
        return f"BackgroundWriter({self.store!r})"
