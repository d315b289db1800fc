"""Definitions -> a bytewax dataflow over Kafka. The one module that imports bytewax.

Each Kafka partition of the views' topic is one bytewax source partition, so a
cluster of workers and processes (``-w``, ``-p``) shares the partitions. A partition
owns its state — a RocksDB store at ``STATE_DIR/{topic}-{partition}`` holding its
entities' state and its next offset — and runs the one processing path
(:class:`~streamfeat.pipeline.FeaturePipeline`): read a batch, decode, apply,
publish, commit state and offset atomically. Entities live in exactly one partition
because the topic is keyed by entity, so state follows its partition to whichever
worker runs it. bytewax recovery is not used: on restart each partition resumes
from the offset committed with its state.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bytewax import operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from streamfeat.collector import BatchCollector
from streamfeat.definitions import FeatureView
from streamfeat.errors import DefinitionError, StreamfeatError
from streamfeat.kafka_io import (
    KafkaRejectSink,
    PartitionReader,
    check_consumer_config,
    client_settings,
    list_partitions,
)
from streamfeat.metrics import RuntimeMetrics
from streamfeat.online import (
    SQLITE_SUFFIXES,
    BackgroundWriter,
    OnlineStore,
    is_redis_target,
    online_store_target,
    open_online_store,
)
from streamfeat.online.embedded import native_batch_writer_built
from streamfeat.online.lmdb_store import native_lmdb_built
from streamfeat.pipeline import FeaturePipeline
from streamfeat.state import RocksDBStateStore, partition_state_dir

__all__ = ["KafkaRunConfig", "PartitionProgress", "RunStop", "build_dataflow", "open_online_store"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class KafkaRunConfig:
    """How ``streamfeat run`` consumes Kafka."""

    bootstrap: str
    state_dir: Path
    online_store: str | None = None  # embedded file path or redis:// URL; default STATE_DIR/online.lmdb
    batch_size: int = 500_000  # most records per batch; a batch takes what is waiting
    # A partition that had less than a full batch waiting is read again this much later;
    # meanwhile the worker serves its other partitions (reads never block, so a quiet
    # partition cannot hold up a busy one, and a record waits at most about this long).
    poll_interval_s: float = 0.02
    stop_at_end: bool = False  # drain what the topic holds at start, then stop (backfills, tests)
    dead_letter_topic: str | None = None  # default "{topic}.dead-letters"
    late_topic: str | None = None  # default "{topic}.late"
    cache_capacity: int = 100_000  # entities kept in memory, shared by all partitions of the topic
    allow_new_views: bool = False  # start views without state in a store that consumed the topic already
    publish_values: bool = True  # publish values as of now beside the state, for fast serving reads
    # State and offsets are committed at most this often (0: after every batch); a crash
    # replays what came since. Large states are published values-only in between.
    commit_interval_ms: int = 1_000
    large_state_bytes: int = 16_384  # states this large are published values-only between commits
    # Commits durable at RocksDB's memtable flushes, one at least this often (the default,
    # since stop 41: a crash replays from the last flushed commit, and each commit's write,
    # which holds the GIL, is less than half as long), or (True) through its write-ahead log
    # (streamfeat.state.store.RocksDBStateStore; docs/operations.md, durability).
    state_wal: bool = False
    state_flush_interval_ms: int = 10_000
    # Online writes on one background thread per process, shared by its partitions and
    # coalesced per entity (streamfeat.online.background), or (False) by each batch before
    # the next is read. None: background, for Redis too since the native core releases the
    # GIL (measured at ea94106, 1M W1 events, same topic: 249,377 / 202,020 / 224,719 events/s
    # in the background against 230,415 / 174,825 / 198,020 in the batch's thread with -w 2,
    # 196,850 against 161,551 with -w 1); for the embedded store only when its native batch
    # writer is built, which writes without the GIL.
    background_publish: bool | None = None
    # librdkafka settings for the partition readers (`streamfeat run --consumer-config`):
    # fetch sizes, client.rack, ...; not those of `kafka_io.READER_FIXED_SETTINGS`.
    consumer_config: dict[str, Any] = field(default_factory=dict)

    @property
    def client_config(self) -> dict[str, Any]:
        """The reader settings every other client of the run needs too: how to reach the
        cluster (:func:`streamfeat.kafka_io.client_settings`)."""
        return client_settings(self.consumer_config)


@dataclass(frozen=True, slots=True)
class PartitionProgress:
    """What one batch of one partition did (the dataflow's output items)."""

    partition: int
    records: int
    accepted: int
    late: int
    dead_letters: int
    published: int
    next_offset: int | None


class RunStop:
    """A request to stop a running dataflow cleanly, from a signal handler or any thread.

    Once :meth:`request` is called, each partition of this process commits what it has
    processed (state, offsets, and the online rows handed to a background writer) at
    its next batch boundary and ends, so a restart replays nothing. A single-process
    run then completes; :meth:`wait_stopped` tells a cluster member, whose dataflow
    waits for its peers, when its own partitions are done.
    """

    def __init__(self) -> None:
        self._requested = threading.Event()
        self._lock = threading.Lock()
        self._running = 0
        self._stopped = threading.Event()

    def request(self) -> None:
        with self._lock:
            self._requested.set()
            if self._running == 0:
                self._stopped.set()

    @property
    def requested(self) -> bool:
        return self._requested.is_set()

    def wait_stopped(self, timeout_s: float | None = None) -> bool:
        """Whether, after a request, every partition of this process ended (within ``timeout_s``)."""
        return self._stopped.wait(timeout_s)

    def _partition_started(self) -> None:
        with self._lock:
            self._running += 1
            self._stopped.clear()

    def _partition_ended(self) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0 and self._requested.is_set():
                self._stopped.set()


class _FeaturePartition(StatefulSourcePartition[PartitionProgress, None]):
    def __init__(
        self,
        views: Sequence[FeatureView],
        config: KafkaRunConfig,
        topic: str,
        partition: int,
        partitions: int,
        stop: RunStop | None = None,
    ) -> None:
        self.topic, self.partition, self.config = topic, partition, config
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.state = RocksDBStateStore(
            partition_state_dir(config.state_dir, topic, partition),
            wal=config.state_wal,
            flush_interval_s=config.state_flush_interval_ms / 1000,
        )
        if _publish_in_background(config):
            self.online: OnlineStore = _SHARED_WRITERS.acquire(config.online_store, config.state_dir)
        else:
            self.online = open_online_store(config.online_store, config.state_dir)
        # Rejects are flushed by the pipeline before each commit, not per batch.
        rejects = KafkaRejectSink(
            config.bootstrap,
            config.dead_letter_topic or f"{topic}.dead-letters",
            config.late_topic or f"{topic}.late",
            flush_each_write=False,
            extra=config.client_config,
        )
        self.pipeline = FeaturePipeline(
            views,
            state_store=self.state,
            online_store=self.online,
            rejects=rejects,
            # The budget is split over every partition of the topic, so resident state stays
            # bounded however many entities (and partitions on this process) there are.
            cache_capacity=max(1_000, config.cache_capacity // max(1, partitions)),
            allow_new_views=config.allow_new_views,
            publish_values=config.publish_values,
            commit_interval_ms=config.commit_interval_ms,
            large_state_bytes=config.large_state_bytes,
            # The topic's partitions commit one after the other, spread over the interval.
            commit_phase=(partition % max(1, partitions)) / max(1, partitions),
        )
        for name, count in self.pipeline.seeded.items():
            if count:  # (a new state has none: only its marker was written)
                _log.info("partition %s-%s: view %s: published its %d committed states into the online store, which "
                          "had not received this state store's states", topic, partition, name, count)
        start = self.pipeline.next_offset(topic, partition)
        self.reader = PartitionReader(config.bootstrap, topic, partition, start, extra=config.consumer_config)
        self.position = start or 0
        self.end = self.reader.end_offset() if config.stop_at_end else None
        self.metrics = RuntimeMetrics(topic, partition)
        self.batches = 0
        self._awake: datetime | None = None
        self._collector = BatchCollector()
        self._stop = stop
        self._ended = False
        if stop is not None:
            stop._partition_started()

    def _end(self) -> None:
        """Commit everything processed and end this partition (bytewax: end of input)."""
        self.pipeline.commit(final=True)
        if self._stop is not None and not self._ended:
            self._stop._partition_ended()
        self._ended = True
        raise StopIteration

    def next_batch(self) -> list[PartitionProgress]:
        if self._stop is not None and self._stop.requested:
            self._end()
        if self.end is not None and self.position >= self.end:
            self._end()
        batch = self.reader.read(self.config.batch_size, 0)
        # A full batch means a backlog: come back at once. Otherwise let records gather.
        self._awake = None if len(batch.offsets) >= self.config.batch_size else (
            datetime.now(UTC) + timedelta(seconds=self.config.poll_interval_s))
        if not batch.offsets:
            if self.end is not None and (self.reader.position() or -1) >= self.end:
                self._end()  # only transaction markers were left before the end
            if self.pipeline.commit_if_due():  # a quiet partition still commits on time
                self.metrics.committed(self.pipeline.committed_offset(self.topic, self.partition))
            return []
        started = time.perf_counter()
        report = self.pipeline.process(self.topic, self.partition, batch.offsets, batch.payloads, batch.timestamps)
        if report.next_offset is not None:
            self.position = report.next_offset
        lag = self.reader.cached_end_offset()
        self.metrics.batch(
            report,
            time.perf_counter() - started,
            None if lag is None else max(0, lag - self.position),
            batch.newest_timestamp,
        )
        self.metrics.committed(self.pipeline.committed_offset(self.topic, self.partition))
        if isinstance(self.online, BackgroundWriter):
            self.metrics.online_pending(self.online.pending_rows)
        self.batches += 1
        self._collector.after_batch()
        if self.batches % 100 == 1:
            self.metrics.state_size(self.state.size_on_disk())
            store = self.online.store if isinstance(self.online, BackgroundWriter) else self.online
            write_counts = getattr(store, "write_counts", None)  # the embedded store's native writer
            if write_counts is not None and (counts := write_counts()) is not None:
                self.metrics.online_rows_by_place(*counts)
        return [
            PartitionProgress(
                self.partition,
                report.records - report.skipped,
                sum(report.accepted.values()),
                len(report.late),
                len(report.dead_letters),
                report.published,
                report.next_offset,
            )
        ]

    def next_awake(self) -> datetime | None:
        return None if self._stop is not None and self._stop.requested else self._awake

    def snapshot(self) -> None:
        return None  # the position lives in the state store, committed with the state

    def close(self) -> None:
        try:
            self.pipeline.commit(final=True)  # what a restart would otherwise replay
        except StreamfeatError as exc:
            _log.warning("partition %s-%s: could not commit at close (a restart replays from the last commit): %s",
                         self.topic, self.partition, exc)
        self._collector.close()
        self.reader.close()
        try:
            if isinstance(self.online, BackgroundWriter):
                _SHARED_WRITERS.release(self.online)
            else:
                self.online.close()
        except StreamfeatError as exc:
            _log.warning("partition %s-%s: closing the online store failed (a restart replays from the last "
                         "commit): %s", self.topic, self.partition, exc)
        self.state.close()


def _publish_in_background(config: KafkaRunConfig) -> bool:
    if config.background_publish is not None:
        return config.background_publish
    target = online_store_target(config.online_store, config.state_dir)
    if is_redis_target(target):
        return True
    # A background thread needs writes that release the GIL for a whole batch: the native ones.
    native = native_batch_writer_built() if Path(target).suffix in SQLITE_SUFFIXES else native_lmdb_built()
    if not native:
        _warn_no_native_writer(target)
    return native


@functools.cache
def _warn_no_native_writer(target: str) -> None:
    _log.warning("the embedded online store's native writer (streamfeat._store_native) is not installed: %s is "
                 "written through Python, in the foreground and slower. Install cargo, libsqlite3-dev and "
                 "liblmdb-dev (Debian), then `pip install -e .` again.", target)


class _SharedWriters:
    """One online store behind one :class:`BackgroundWriter` per store target in this
    process, shared by its partitions: one connection and one thread write every
    partition's rows (several connections would queue on the file's write lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, tuple[BackgroundWriter, int]] = {}

    def acquire(self, spec: str | None, state_dir: Path) -> BackgroundWriter:
        target = online_store_target(spec, state_dir)
        with self._lock:
            writer, users = self._open.get(target, (None, 0))
            if writer is None:
                writer = BackgroundWriter(open_online_store(target, state_dir))  # its thread name holds no URL
            self._open[target] = (writer, users + 1)
            return writer

    def release(self, writer: BackgroundWriter) -> None:
        """Give ``writer`` back; the last user closes it (writing what is pending)."""
        with self._lock:
            for target, (known, users) in self._open.items():
                if known is writer:
                    if users > 1:
                        self._open[target] = (known, users - 1)
                        return
                    del self._open[target]
                    break
        writer.close()


_SHARED_WRITERS = _SharedWriters()


class _KafkaFeatureSource(FixedPartitionedSource[PartitionProgress, None]):
    def __init__(self, views: Sequence[FeatureView], config: KafkaRunConfig, stop: RunStop | None = None) -> None:
        topics = {view.source.topic for view in views}
        if len(topics) != 1:
            raise DefinitionError(f"one dataflow consumes one topic; these views read {sorted(topics)}")
        self.views, self.config, self.topic, self.stop = list(views), config, topics.pop(), stop

    def list_parts(self) -> list[str]:
        return [str(p) for p in list_partitions(self.config.bootstrap, self.topic, extra=self.config.client_config)]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _FeaturePartition:
        partitions = len(list_partitions(self.config.bootstrap, self.topic, extra=self.config.client_config))
        return _FeaturePartition(self.views, self.config, self.topic, int(for_part), partitions, self.stop)


class _ProgressSink(DynamicSink[PartitionProgress]):
    """Hands each progress item to ``on_progress``, one call at a time: each worker
    thread writes its own sink partition, and a callback that adds the items up
    (``total += item.records``) would otherwise lose a sum when two threads interleave
    (the summary of a stopped run once counted one batch fewer than it had committed)."""

    def __init__(self, on_progress) -> None:  # type: ignore[no-untyped-def]
        self.on_progress = on_progress
        self._calls = threading.Lock()

    def build(self, step_id: str, worker_index: int, worker_count: int) -> StatelessSinkPartition[PartitionProgress]:
        on_progress, calls = self.on_progress, self._calls

        class _Partition(StatelessSinkPartition[PartitionProgress]):
            def write_batch(self, items: list[PartitionProgress]) -> None:
                with calls:
                    for item in items:
                        on_progress(item)

        return _Partition()


def build_dataflow(  # type: ignore[no-untyped-def]
    views: Sequence[FeatureView], config: KafkaRunConfig, on_progress=None, *, stop: RunStop | None = None
) -> Dataflow:
    """The streaming dataflow: Kafka partitions -> feature pipeline -> progress items.
    ``on_progress``: called with each :class:`PartitionProgress`, from the workers' threads
    but never by two at once. ``stop``: ends the run cleanly when requested (:class:`RunStop`)."""
    if config.consumer_config:
        check_consumer_config(config.consumer_config)  # here, rather than in each partition's reader
    flow = Dataflow("streamfeat")
    progress = op.input("kafka", flow, _KafkaFeatureSource(views, config, stop))
    op.output("progress", progress, _ProgressSink(on_progress or (lambda item: None)))
    return flow
