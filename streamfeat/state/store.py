"""Durable state: the :class:`StateStore` protocol and its RocksDB backend.

A store holds raw bytes only: entity states (encoded by the view operator) and the
Kafka offsets consumed so far. :meth:`StateStore.commit` writes state changes and
offsets in one atomic step, so after a crash (even ``kill -9``) the stored offsets
always describe exactly the events the stored state has seen: a runtime that resumes
from :meth:`StateStore.offsets` processes every event exactly once in effect.
"""

from __future__ import annotations

import os
import time
import uuid
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

import rocksdict

from streamfeat.errors import StateError, StateStoreError
from streamfeat.state import keys as layout

__all__ = ["RocksDBStateStore", "StateStore", "partition_state_dir"]


def partition_state_dir(state_dir: str | os.PathLike[str], topic: str, partition: int) -> Path:
    """Where the state of one topic-partition lives: ``STATE_DIR/{topic}-{partition}``.
    The streaming runtime and a bootstrapping backfill use the same directory, so one
    continues where the other stopped."""
    return Path(state_dir) / f"{topic}-{partition}"

Offsets = Mapping[tuple[str, int], int]


@runtime_checkable
class StateStore(Protocol):
    """Raw-bytes state plus consumed offsets, changed only by atomic commits."""

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        """The value of each key (``None`` where absent), in order."""
        ...

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Every ``(key, value)`` whose key starts with ``prefix``, in key order."""
        ...

    def commit(self, puts: Mapping[bytes, bytes], deletes: Iterable[bytes], offsets: Offsets) -> None:
        """Atomically write ``puts``, remove ``deletes`` and record ``offsets`` (topic, partition) ->
        next offset to consume. Either all of it becomes durable or none of it does."""
        ...

    def offsets(self) -> dict[tuple[str, int], int]:
        """The next offset to consume of every topic-partition committed so far."""
        ...

    def views(self) -> dict[str, str]:
        """The views registered as writing here: fingerprint -> view name."""
        ...

    def register_views(self, views: Mapping[str, str]) -> None:
        """Record (fingerprint -> view name) for :meth:`views`; idempotent."""
        ...

    def identity(self) -> str:
        """This store's own random id (32 hex characters), made and made durable at the first
        call and the same ever after: it tells an online store filled from this state from
        one that was not (:class:`~streamfeat.pipeline.FeaturePipeline`)."""
        ...

    def size_on_disk(self) -> int:
        """Bytes the store occupies on disk."""
        ...

    def close(self) -> None:
        """Release the store; idempotent. Any later call raises :class:`StateStoreError`."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


_RESERVED = (layout.OFFSET_PREFIX, layout.META_PREFIX)


def _checked_keys(keys: Iterable[bytes], what: str) -> list[bytes]:
    """``keys`` sorted, once each is known to be non-empty bytes outside the reserved O/M
    keyspaces. Per key, only a type check at C speed: sorted, an empty key comes first and
    a reserved one sits where a bisection for its prefix lands."""
    ordered = list(keys)
    bad = None
    if set(map(type, ordered)) - {bytes}:
        bad = next((key for key in ordered if not isinstance(key, bytes)), None)
    if bad is None and ordered:
        ordered.sort()
        if not ordered[0]:
            bad = ordered[0]
        for reserved in _RESERVED:
            at = bisect_left(ordered, reserved)
            if bad is None and at < len(ordered) and ordered[at].startswith(reserved):
                bad = ordered[at]
    if bad is not None:
        raise StateStoreError(
            f"cannot {what} {bad!r}: keys must be non-empty bytes outside the reserved O/M keyspaces"
        )
    return ordered


class RocksDBStateStore:
    """A :class:`StateStore` in a RocksDB directory (via rocksdict, in raw mode: bytes in,
    bytes out, never pickle).

    One process may open a path at a time (RocksDB holds a lock file). Every commit is one
    ``WriteBatch``, applied atomically.

    ``wal=True``: through the write-ahead log, so each commit survives the process being
    killed; with ``sync=True`` it is also fsynced, so it survives power loss too, at a large
    cost in commit latency.

    ``wal=False`` (what Kafka Streams and Flink do with their RocksDB state): commits skip the
    log and become durable when RocksDB flushes its memtable to a table file — when the
    memtable fills, at :meth:`close`, and at the first commit ``flush_interval_s`` after the
    last flush. A killed process then reopens at the last flushed commit: still consistent
    (a batch lands whole in one memtable, and memtables are flushed in order, so what
    survives is every commit up to some point, offsets included), only older — the
    runtime replays from those offsets, as after a crash between two commits. Writing the
    log took about half of each commit's write time (stop 34), with the GIL held.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        sync: bool = False,
        wal: bool = True,
        flush_interval_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if sync and not wal:
            raise ValueError("sync=True needs the write-ahead log (wal=True): without it nothing is fsynced per commit")
        if not flush_interval_s > 0:
            raise ValueError(f"flush_interval_s must be > 0, got {flush_interval_s!r}")
        self.path = Path(path)
        self.sync = sync
        self.wal = wal
        self.flush_interval_s = flush_interval_s
        self._monotonic = monotonic
        self._last_flush = monotonic()
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_keep_log_file_num(2)  # RocksDB's info LOG files, not the WAL
        # Bloom filters, in the memtable and in every table file: most reads of a live flow
        # are for entities the store does not hold yet (its first events), and without a
        # filter each one searches the memtable's skip list and every level-0 file. Measured
        # at stop 33 (benchmarks/results/pipeline_late_regime_s33/bloom_ab.log): 4M W1 events
        # through the pipeline in the freshness benchmark's regime, CPU in the third quarter
        # 7.02, 7.47, 7.50 s with the filters against 7.27, 8.58, 8.20 s without.
        options.set_memtable_prefix_bloom_ratio(0.1)
        options.set_memtable_whole_key_filtering(True)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(10, False)
        options.set_block_based_table_factory(table)
        write_options = rocksdict.WriteOptions()
        write_options.sync = sync
        write_options.disable_wal = not wal
        self._write_options = write_options
        try:
            self._db: rocksdict.Rdict | None = rocksdict.Rdict(str(self.path), options)
        except Exception as exc:  # rocksdict raises bare Exception for RocksDB errors
            raise StateStoreError(f"cannot open state store at {self.path}: {exc}") from exc
        try:
            self._check_format()
        except BaseException:
            self.close()
            raise

    def _check_format(self) -> None:
        (stored,) = self.get_many([layout.FORMAT_KEY])
        if stored is None:
            if next(self.scan(b""), None) is not None:
                raise StateError(
                    f"{self.path} holds data but no streamfeat format marker: not a streamfeat state store "
                    "(or one written in rocksdict's pickling mode)"
                )
            self._write({layout.FORMAT_KEY: layout.encode_format()}, ())
            return
        version = layout.decode_format(stored)
        if version != layout.FORMAT_VERSION:
            raise StateError(
                f"state store {self.path} has format version {version}; this streamfeat reads version "
                f"{layout.FORMAT_VERSION}. Rebuild the state (replay from the source) or use a matching streamfeat."
            )

    @property
    def db(self) -> rocksdict.Rdict:
        if self._db is None:
            raise StateStoreError(f"state store {self.path} is closed")
        return self._db

    # -- reads -----------------------------------------------------------------------------

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        if not keys:
            return []
        db = self.db
        try:
            values: list[bytes | None] = db.get(list(keys))
        except Exception as exc:
            raise StateStoreError(f"state store {self.path}: reading {len(keys)} keys failed: {exc}") from exc
        return values

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        db = self.db
        try:
            items = db.items(from_key=prefix)
            for key, value in items:
                if not key.startswith(prefix):
                    break
                yield key, value
        except Exception as exc:
            raise StateStoreError(f"state store {self.path}: scanning {prefix!r} failed: {exc}") from exc
        finally:
            items = None  # an open iterator keeps RocksDB alive past close()

    def offsets(self) -> dict[tuple[str, int], int]:
        return {layout.decode_offset_key(k): layout.decode_offset(v) for k, v in self.scan(layout.OFFSET_PREFIX)}

    def views(self) -> dict[str, str]:
        prefix = layout.VIEW_REGISTRY_PREFIX
        return {k[len(prefix) :].decode("ascii"): v.decode("utf-8") for k, v in self.scan(prefix)}

    def register_views(self, views: Mapping[str, str]) -> None:
        known = self.views()
        new = {layout.view_registry_key(fp): name.encode("utf-8") for fp, name in views.items() if known.get(fp) != name}
        if new:
            self._write(new, ())

    def identity(self) -> str:
        (stored,) = self.get_many([layout.IDENTITY_KEY])
        if stored is None:
            stored = uuid.uuid4().hex.encode("ascii")
            self._write({layout.IDENTITY_KEY: stored}, ())
            self.flush()  # durable now: without the write-ahead log, not before the next flush
        return stored.decode("ascii")

    def size_on_disk(self) -> int:
        total = 0
        for root, _dirs, files in os.walk(self.path):
            for name in files:
                try:
                    total += os.stat(os.path.join(root, name)).st_size
                except FileNotFoundError:  # RocksDB removed an obsolete file meanwhile
                    continue
        return total

    # -- writes ----------------------------------------------------------------------------

    def commit(self, puts: Mapping[bytes, bytes], deletes: Iterable[bytes], offsets: Offsets) -> None:
        ordered = _checked_keys(puts, "put")
        removes = list(deletes)
        _checked_keys(removes, "delete")
        writes = dict(puts)
        for (topic, partition), offset in offsets.items():
            key = layout.offset_key(topic, partition)
            if key not in writes:
                insort(ordered, key)
            writes[key] = layout.encode_offset(offset)
        self._write(writes, removes, ordered)

    def _write(self, puts: Mapping[bytes, bytes], deletes: Iterable[bytes], ordered: list[bytes] | None = None) -> None:
        """``ordered``: the keys of ``puts`` sorted, when the caller has them."""
        db = self.db
        batch = rocksdict.WriteBatch(raw_mode=True)
        try:
            for key in deletes:
                batch.delete(key)
            # In key order: RocksDB inserts a sorted batch into its memtable faster (measured at
            # stop 22, 40,000 random 300-byte states into a store of 1M: db.write 0.90 µs per key
            # sorted vs 1.83 as they came; sorting costs about 0.3 µs per key).
            for key in sorted(puts) if ordered is None else ordered:
                batch.put(key, puts[key])
        except ValueError as exc:  # raw mode rejects anything but bytes; nothing was written
            raise StateStoreError(f"state store {self.path}: commit rejected, nothing written: {exc}") from exc
        try:
            db.write(batch, self._write_options)
        except Exception as exc:
            raise StateStoreError(f"state store {self.path}: commit of {batch.len()} writes failed: {exc}") from exc
        if not self.wal and self._monotonic() - self._last_flush >= self.flush_interval_s:
            self.flush(wait=False)

    def flush(self, *, wait: bool = True) -> None:
        """Write RocksDB's memtable to a table file: every commit so far becomes durable
        (without the write-ahead log, the only way; ``wait=False`` starts it in RocksDB's
        background thread)."""
        try:
            self.db.flush(wait)
        except Exception as exc:
            raise StateStoreError(f"state store {self.path}: flushing its memtable failed: {exc}") from exc
        self._last_flush = self._monotonic()

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        db, self._db = self._db, None
        if db is None:
            return
        try:
            db.close()
        except Exception as exc:
            raise StateStoreError(f"closing state store {self.path} failed: {exc}") from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._db is None else "open"
        return f"RocksDBStateStore({str(self.path)!r}, sync={self.sync}, wal={self.wal}, {state})"
