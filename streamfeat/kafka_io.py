"""A thin layer over confluent-kafka: batch reads of one partition, and record sinks.

Kafka errors surface as :class:`KafkaIOError`. Offsets are never committed to Kafka:
the next offset of each partition lives in the state store, committed atomically
with the state it produced (see :mod:`streamfeat.pipeline`).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition

from streamfeat.errors import RejectSinkError
from streamfeat.record_batch import PackedValues, Timestamps

try:  # the columns of a batch of messages in one native call (no Python loop per message)
    from streamfeat._store_native import message_columns
except ImportError:  # not built: the same loop in Python
    message_columns = None

_log = logging.getLogger(__name__)

__all__ = ["CLIENT_SETTING_PREFIXES", "FETCH_CONFIG", "READER_FIXED_SETTINGS", "KafkaIOError", "KafkaRejectSink", "KafkaServedLog", "PartitionBatch", "PartitionReader", "RecordProducer", "check_consumer_config", "client_settings", "ensure_topics", "list_partitions", "offsets_for_time", "produce_jsonl", "read_range"]


class KafkaIOError(RejectSinkError):
    """Kafka could not be read or written (a reject sink error too: the pipeline retries it)."""


@dataclass(frozen=True, slots=True)
class PartitionBatch:
    """Records of one partition in offset order. ``offsets`` may be a ``range`` (every
    offset between the first and the last: no call per record to read them);
    ``newest_timestamp`` is the largest of ``timestamps`` (``None`` without any)."""

    offsets: Sequence[int]
    payloads: Sequence[bytes]  # a list, or PackedValues from the native reader
    timestamps: Sequence[int | None]  # a list, or Timestamps from the native reader
    newest_timestamp: int | None = None


def _newest(timestamps: list[int | None]) -> int | None:
    """The largest of ``timestamps`` (``None`` without any)."""
    return max((t for t in timestamps if t is not None), default=None)


#: Prefixes of the librdkafka settings that say how to reach and talk to the cluster
#: (TLS, SASL, client id, sockets, metadata), which every client of a run needs: the
#: partition readers' extra settings pass these on to the dead-letter producer, topic
#: creation and metadata reads (:func:`client_settings`).
CLIENT_SETTING_PREFIXES = (
    "security.",
    "ssl.",
    "ssl_",
    "sasl.",
    "enable.ssl.",
    "enable.sasl.",
    "client.",
    "socket.",
    "broker.",
    "api.version.",
    "metadata.",
    "topic.metadata.",
    "reconnect.backoff",
    "retry.backoff",
    "connections.max.idle.ms",
    "resolve.canonical.bootstrap.servers.only",
    "log.",
    "log_level",
    "debug",
)


def client_settings(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """The settings of ``extra`` (librdkafka settings for the partition readers) that say
    how to reach the cluster (:data:`CLIENT_SETTING_PREFIXES`): what a producer or admin
    client of the same run needs too. Reader-only settings (``fetch.*``, ``queued.*``, ...)
    are left out."""
    return {key: value for key, value in (extra or {}).items() if key.startswith(CLIENT_SETTING_PREFIXES)}


def list_partitions(
    bootstrap: str, topic: str, *, timeout_s: float = 10.0, extra: Mapping[str, Any] | None = None
) -> list[int]:
    """The partitions of ``topic``; raises KafkaIOError when the topic does not exist.
    ``extra``: client settings (:func:`client_settings`)."""
    config = {"bootstrap.servers": bootstrap, **(extra or {}), "group.id": "streamfeat-metadata",
              "enable.auto.commit": False}
    try:
        consumer = Consumer(config)
    except KafkaException as exc:
        raise KafkaIOError(f"cannot read metadata of topic {topic!r}: {exc}") from exc
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
    except KafkaException as exc:
        raise KafkaIOError(f"cannot read metadata of topic {topic!r} from {bootstrap}: {exc}") from exc
    finally:
        consumer.close()
    info = metadata.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        why = info.error if info is not None and info.error is not None else "no partitions"
        raise KafkaIOError(f"topic {topic!r} is not available on {bootstrap}: {why}")
    return sorted(info.partitions)


def ensure_topics(
    bootstrap: str, topics: dict[str, int], *, timeout_s: float = 30.0, extra: Mapping[str, Any] | None = None
) -> list[str]:
    """Create the topics of ``{name: partitions}`` that do not exist yet; returns those
    created. Waits until every partition of each has a leader. ``extra``: client settings
    (:func:`client_settings`)."""
    import time

    from confluent_kafka.admin import AdminClient, NewTopic

    try:
        admin = AdminClient({"bootstrap.servers": bootstrap, **(extra or {})})
    except KafkaException as exc:
        raise KafkaIOError(f"cannot create topics {sorted(topics)}: {exc}") from exc
    try:
        existing = admin.list_topics(timeout=timeout_s).topics
    except KafkaException as exc:
        raise KafkaIOError(f"cannot list topics on {bootstrap}: {exc}") from exc
    missing = [name for name in topics if name not in existing]
    if missing:
        futures = admin.create_topics([NewTopic(name, num_partitions=topics[name], replication_factor=1) for name in missing])
        for name, future in futures.items():
            try:
                future.result(timeout=timeout_s)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise KafkaIOError(f"cannot create topic {name!r}: {exc}") from exc
    deadline = time.monotonic() + timeout_s
    for name in topics:
        while True:
            info = admin.list_topics(topic=name, timeout=timeout_s).topics.get(name)
            if info is not None and info.error is None and info.partitions and all(
                p.leader >= 0 for p in info.partitions.values()
            ):
                break
            if time.monotonic() > deadline:
                raise KafkaIOError(f"topic {name!r} has no leader after {timeout_s:.0f} s")
            time.sleep(0.1)
    return missing


def offsets_for_time(
    bootstrap: str, topic: str, partitions: Iterable[int], time_ms: int, *, timeout_s: float = 10.0
) -> dict[int, int]:
    """For each partition, the first offset whose record timestamp is >= ``time_ms``
    (the high watermark when there is none): where a time range starts or ends."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"streamfeat-{topic}", "enable.auto.commit": False})
    try:
        wanted = [TopicPartition(topic, p, time_ms) for p in partitions]
        found = consumer.offsets_for_times(wanted, timeout=timeout_s)
        result: dict[int, int] = {}
        for tp in found:
            if tp.error is not None:
                raise KafkaIOError(f"cannot look up {topic}/{tp.partition} at time {time_ms}: {tp.error}")
            if tp.offset < 0:  # no record at or after the time: the end of the partition
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=timeout_s)
                result[tp.partition] = high
            else:
                result[tp.partition] = tp.offset
        return result
    except KafkaException as exc:
        raise KafkaIOError(f"cannot look up offsets of {topic!r} at time {time_ms}: {exc}") from exc
    finally:
        consumer.close()


#: Consumer settings for batch reads: librdkafka keeps prefetching until this many
#: records (or this many KiB) wait per consumer. With its defaults (100k records,
#: 64 MiB) one consumer over the benchmark topic read 164,905 records/s; with these,
#: 762,164 (4 partitions, 2M W1 records, ``consume(num_messages=10000)``).
FETCH_CONFIG: dict[str, int] = {"queued.min.messages": 1_000_000, "queued.max.messages.kbytes": 32_768}


#: Settings of :class:`PartitionReader` that extra consumer settings may not change: they
#: decide which records are read and that offsets live only in the state store.
READER_FIXED_SETTINGS = frozenset(
    {
        "bootstrap.servers",
        "enable.auto.commit",
        "enable.auto.offset.store",
        "enable.partition.eof",
        "auto.offset.reset",
        "isolation.level",
    }
)


def check_consumer_config(extra: dict[str, str]) -> None:
    """Raise :class:`KafkaIOError` naming the setting when ``extra`` (librdkafka consumer
    settings for the partition readers) holds a fixed one or one librdkafka rejects.
    Builds a consumer without connecting anywhere."""
    fixed = sorted(READER_FIXED_SETTINGS.intersection(extra))
    if fixed:
        raise KafkaIOError(
            f"consumer setting {fixed[0]!r} is fixed by streamfeat (it decides which records are read, or where "
            f"offsets live); fixed: {', '.join(sorted(READER_FIXED_SETTINGS))}"
        )
    try:
        consumer = Consumer({"group.id": "streamfeat-config-check", **FETCH_CONFIG, **extra})
    except KafkaException as exc:
        raise KafkaIOError(f"invalid consumer setting: {exc.args[0].str() if exc.args else exc}") from exc
    consumer.close()


#: Set to 0 to read Kafka through confluent-kafka's ``Consumer`` even where the native
#: reader works (an A/B switch and an escape hatch).
NATIVE_READER_ENV = "STREAMFEAT_NATIVE_KAFKA"


@functools.cache
def _native_consumer_class() -> Any:
    """``streamfeat._store_native.KafkaPartitionConsumer`` over the librdkafka that
    confluent-kafka loaded (found in this process's memory map), or ``None`` when the
    native module is not built, the library cannot be found or opened, or the reader is
    switched off (:data:`NATIVE_READER_ENV`)."""
    if os.environ.get(NATIVE_READER_ENV, "1") == "0":
        return None
    try:
        from streamfeat._store_native import KafkaPartitionConsumer, load_librdkafka
    except ImportError:
        _log.warning("streamfeat._store_native is not installed: Kafka is read through confluent-kafka's Consumer, a "
                     "Python object per record (slower). Install cargo, then `pip install -e .` again.")
        return None
    import confluent_kafka.cimpl  # noqa: F401 - loads librdkafka, so its path is in the map

    try:
        with open("/proc/self/maps") as maps:  # address, perms, offset, device, inode, path
            fields = [line.split(None, 5) for line in maps if "librdkafka" in line]
    except OSError as exc:
        _log.warning("reading Kafka through confluent-kafka's Consumer (slower): cannot find librdkafka's file: %s", exc)
        return None
    paths = {f[5].strip() for f in fields if len(f) == 6}
    paths = {path for path in paths if path.startswith("/") and os.path.exists(path)}
    if len(paths) != 1:
        _log.warning("reading Kafka through confluent-kafka's Consumer (slower): librdkafka's file not found in this "
                     "process (%s)", paths)
        return None
    try:
        load_librdkafka(paths.pop())
    except OSError as exc:
        _log.warning("reading Kafka through confluent-kafka's Consumer (slower): %s", exc)
        return None
    return KafkaPartitionConsumer


def _setting_text(value: Any) -> str | None:
    """A consumer setting as librdkafka's text (as confluent-kafka passes it), or ``None``
    for a value only confluent-kafka takes (a callback, say)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return None


class PartitionReader:
    """Reads one topic-partition from a given offset, in batches (``extra`` overrides
    any setting, :data:`FETCH_CONFIG` included).

    Where the native module is built, librdkafka is read directly and a batch comes as a
    few buffers (:mod:`streamfeat.record_batch`): no Python object per record (measured
    against confluent-kafka's ``consume`` in ``benchmarks/results/freshness_134000_s43/``).
    Otherwise, with a setting only confluent-kafka takes (a callback), or with
    :data:`NATIVE_READER_ENV` set to 0, through confluent-kafka's ``Consumer``."""

    def __init__(self, bootstrap: str, topic: str, partition: int, start: int | None, *, extra: dict | None = None):
        self.topic = topic
        self.partition = partition
        config = {
            "bootstrap.servers": bootstrap,
            "group.id": f"streamfeat-{topic}",  # required by librdkafka; offsets are never committed here
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": False,
            "fetch.min.bytes": 1,
            # A start offset the log no longer holds (retention or deleted records) is an
            # error, never a silent jump to the end: records would be skipped unseen.
            "auto.offset.reset": "error",
            "isolation.level": "read_committed",
            **FETCH_CONFIG,
            **(extra or {}),
        }
        self._native: Any = None
        native = _native_consumer_class()
        texts = {name: _setting_text(value) for name, value in config.items()}
        if native is not None and None not in texts.values():
            try:
                self._native = native(list(texts.items()), topic, partition, start)
            except ValueError as exc:
                raise KafkaIOError(f"cannot read {topic}/{partition}: {exc}") from exc
            return
        self._consumer = Consumer(config)
        self._consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING if start is None else start)])

    @property
    def native(self) -> bool:
        """Whether this reader reads librdkafka directly (not through confluent-kafka)."""
        return self._native is not None

    def end_offset(self, timeout_s: float = 10.0) -> int:
        """The partition's high watermark now (the offset after the last record)."""
        if self._native is not None:
            try:
                return int(self._native.end_offset(int(timeout_s * 1000)))
            except OSError as exc:
                raise KafkaIOError(f"cannot read the end offset of {self.topic}/{self.partition}: {exc}") from exc
        try:
            _, high = self._consumer.get_watermark_offsets(TopicPartition(self.topic, self.partition), timeout=timeout_s)
        except KafkaException as exc:
            raise KafkaIOError(f"cannot read the end offset of {self.topic}/{self.partition}: {exc}") from exc
        return high

    def position(self) -> int | None:
        """The offset the consumer will read next. It moves past transaction markers,
        which are offsets no record is ever returned for, so "read up to the end" checks
        this rather than the last record's offset + 1."""
        if self._native is not None:
            try:
                return self._native.position()
            except OSError as exc:
                raise KafkaIOError(f"cannot read the position in {self.topic}/{self.partition}: {exc}") from exc
        try:
            (tp,) = self._consumer.position([TopicPartition(self.topic, self.partition)])
        except KafkaException as exc:
            raise KafkaIOError(f"cannot read the position in {self.topic}/{self.partition}: {exc}") from exc
        return tp.offset if tp.offset >= 0 else None

    def cached_end_offset(self) -> int | None:
        """The end offset last reported by the broker with fetched data (no request)."""
        if self._native is not None:
            return self._native.cached_end_offset()
        try:
            _, high = self._consumer.get_watermark_offsets(TopicPartition(self.topic, self.partition), cached=True)
        except KafkaException:
            return None
        return high if high >= 0 else None

    def read(self, max_records: int, timeout_s: float) -> PartitionBatch:
        """Up to ``max_records`` records (possibly none) waiting at most ``timeout_s``."""
        if self._native is not None:
            offsets, values, ends, stamps, newest, error = self._native.read(max_records, int(timeout_s * 1000))
            if error is not None:
                self._raise(*error)
            return PartitionBatch(offsets, PackedValues(values, ends), Timestamps(stamps), newest)
        messages = self._consumer.consume(num_messages=max_records, timeout=timeout_s)
        offsets: list[int]
        if message_columns is not None:
            read, payloads, timestamps, stop, newest = message_columns(messages)
            if stop is None:
                return PartitionBatch(read, payloads, timestamps, newest)
            offsets = list(read)
            messages = messages[stop:]  # from the first with an error: the loop below decides
        else:
            offsets, payloads, timestamps = [], [], []
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                if error.retriable():
                    break  # read again later; nothing consumed past this point is lost
                self._raise(error.code(), str(error))
            offsets.append(message.offset())
            payloads.append(message.value() or b"")
            kind, stamp = message.timestamp()
            timestamps.append(stamp if kind != 0 and stamp >= 0 else None)
        return PartitionBatch(offsets, payloads, timestamps, _newest(timestamps))

    def _raise(self, code: int, text: str) -> None:
        if code == KafkaError._AUTO_OFFSET_RESET:
            raise KafkaIOError(
                f"{self.topic}/{self.partition}: the offset to resume from is no longer in the log (deleted "
                f"by retention or delete-records), so records between it and the log start were never "
                f"read. Nothing was skipped silently: rebuild the state from what the topic holds "
                f"(`streamfeat backfill --state-dir`) or restore it from a backup. ({text})"
            )
        raise KafkaIOError(f"reading {self.topic}/{self.partition}: {text}")

    def close(self) -> None:
        if self._native is not None:
            self._native.close()
        else:
            self._consumer.close()


def read_range(
    bootstrap: str,
    topic: str,
    partition: int,
    start: int,
    end: int,
    batch_size: int,
    *,
    consumer_config: dict | None = None,
    idle_timeout_s: float = 30.0,
) -> Iterator[PartitionBatch]:
    """The records of ``topic``/``partition`` at offsets ``[start, end)``, in batches.

    Offsets missing from the log (compaction, transaction markers) are skipped; a range
    that yields nothing new for ``idle_timeout_s`` raises :class:`KafkaIOError`."""
    if start >= end:
        return
    reader = PartitionReader(bootstrap, topic, partition, start, extra=consumer_config)
    try:
        position = start
        idle_since = time.monotonic()
        while position < end:
            batch = reader.read(min(batch_size, end - position), 0.5)
            cut = len(batch.offsets)
            while cut and batch.offsets[cut - 1] >= end:
                cut -= 1
            if not cut:
                if batch.offsets or reader.end_offset() <= position or (reader.position() or -1) >= end:
                    return  # past `end` (only markers or later offsets remained), or the log ends before it
                if time.monotonic() - idle_since > idle_timeout_s:
                    raise KafkaIOError(
                        f"{topic}/{partition}: nothing read at offset {position} for {idle_timeout_s:.0f} s "
                        f"(the range ends at {end})"
                    )
                continue
            idle_since = time.monotonic()
            if cut < len(batch.offsets):
                stamps = batch.timestamps[:cut]
                batch = PartitionBatch(batch.offsets[:cut], batch.payloads[:cut], stamps, _newest(stamps))
            position = batch.offsets[-1] + 1
            yield batch
    finally:
        reader.close()


class RecordProducer:
    """Writes records (dead letters, late events) to a topic.

    ``flush_each_send`` (the default) waits for the broker at every :meth:`send`;
    without it, :meth:`send` only hands the records to the producer and :meth:`flush`
    waits — what a pipeline does before each commit, so a batch's rejects cost no
    round trip of their own. The records since the last successful flush are kept and
    sent again by the next flush after one failed (a replay may write one twice
    either way; each carries its topic, partition and offset)."""

    def __init__(
        self, bootstrap: str, topic: str, *, flush_each_send: bool = True, extra: Mapping[str, Any] | None = None
    ) -> None:
        self.topic = topic
        self.flush_each_send = flush_each_send
        config = {"bootstrap.servers": bootstrap, **(extra or {}), "enable.idempotence": True, "linger.ms": 5}
        try:
            self._producer = Producer(config)
        except KafkaException as exc:
            raise KafkaIOError(f"cannot write to {topic!r}: {exc}") from exc
        self._errors: list[str] = []
        self._unflushed: list[tuple[bytes | None, bytes]] = []
        self._resend = False

    def _delivered(self, error: KafkaError | None, _message: object) -> None:
        if error is not None:
            self._errors.append(str(error))

    def _produce(self, key: bytes | None, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(self.topic, value=value, key=key, on_delivery=self._delivered)
                return
            except BufferError:
                self._producer.poll(0.1)

    def send(self, records: Iterable[tuple[bytes | None, bytes]], *, timeout_s: float = 30.0) -> int:
        count = 0
        for key, value in records:
            self._produce(key, value)
            self._unflushed.append((key, value))
            count += 1
        if self.flush_each_send:
            try:
                self.flush(timeout_s=timeout_s)
            except KafkaIOError:
                # The caller sends these again (the pipeline retries the write): not the flush.
                self._unflushed.clear()
                self._resend = False
                raise
        else:
            self._producer.poll(0)  # serve delivery reports of earlier sends
        return count

    def flush(self, *, timeout_s: float = 30.0) -> None:
        """Wait until every record sent is written; raise :class:`KafkaIOError` if any
        could not be (the next flush sends them all again)."""
        if self._resend:
            self._resend = False
            for key, value in self._unflushed:
                self._produce(key, value)
        remaining = self._producer.flush(timeout_s)
        if remaining or self._errors:
            errors, self._errors = self._errors, []
            self._resend = True
            raise KafkaIOError(f"could not write {remaining or len(errors)} record(s) to {self.topic!r}: {errors[:3]}")
        self._unflushed.clear()


class KafkaRejectSink:
    """Dead letters to one topic, late events to another (JSON values, keyed by entity
    for late events); see :class:`streamfeat.pipeline.RejectSink`. ``flush_each_write``:
    wait for the broker at every :meth:`write` (default); without it the pipeline's
    commit waits (:meth:`flush`). ``extra``: client settings (:func:`client_settings`)."""

    def __init__(
        self,
        bootstrap: str,
        dead_letter_topic: str,
        late_topic: str,
        *,
        flush_each_write: bool = True,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.dead = RecordProducer(bootstrap, dead_letter_topic, flush_each_send=flush_each_write, extra=extra)
        self.late = RecordProducer(bootstrap, late_topic, flush_each_send=flush_each_write, extra=extra)

    def write(self, dead_letters, late) -> None:  # type: ignore[no-untyped-def]
        from streamfeat.replay import late_to_json

        if dead_letters:
            self.dead.send((None, d.to_json()) for d in dead_letters)
        if late:
            self.late.send((r.entity.encode(), late_to_json(r)) for r in late)

    def flush(self) -> None:
        self.dead.flush()
        self.late.flush()


class KafkaServedLog:
    """A served log (see :class:`streamfeat.online.ServedLog`) on a Kafka topic, keyed by
    entity: one JSON record per answer. Records are sent asynchronously; :meth:`flush`
    and :meth:`close` wait for delivery."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
        self._errors: list[str] = []

    def _delivered(self, error: KafkaError | None, _message: object) -> None:
        if error is not None:
            self._errors.append(str(error))

    def record(self, served) -> None:  # type: ignore[no-untyped-def]
        from streamfeat.online.reader import served_record

        for answer in served:
            while True:
                try:
                    self._producer.produce(
                        self.topic, value=served_record(answer), key=answer.entity.encode(), on_delivery=self._delivered
                    )
                    break
                except BufferError:
                    self._producer.poll(0.1)
        self._producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> None:
        remaining = self._producer.flush(timeout_s)
        if remaining or self._errors:
            errors, self._errors = self._errors, []
            raise KafkaIOError(f"served log: {remaining or len(errors)} record(s) not delivered to {self.topic!r}: {errors[:3]}")

    def close(self) -> None:
        self.flush()


def produce_jsonl(
    bootstrap: str, topic: str, path: str, *, key_field: str, timestamp_field: str | None = None
) -> int:
    """Produce every line of a JSON Lines file to ``topic``, keyed by ``key_field`` (so an
    entity's events share a partition, in file order) and stamped with the integer
    ``timestamp_field`` (UTC ms) when given. Lines that are not JSON objects with the key
    are still produced (unkeyed), so the runtime dead-letters them: nothing is dropped."""
    import orjson

    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20, "batch.size": 1 << 20}
    )
    errors: list[str] = []

    def delivered(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            errors.append(str(error))

    count = 0
    with open(path, "rb") as handle:
        for line in handle:
            value = line.rstrip(b"\r\n")
            key = stamp = None
            try:
                record = orjson.loads(value)
            except orjson.JSONDecodeError:
                record = None
            if isinstance(record, dict):
                if record.get(key_field) is not None:
                    key = str(record[key_field]).encode()
                if timestamp_field and type(record.get(timestamp_field)) is int:
                    stamp = record[timestamp_field]
            while True:
                try:
                    if stamp is None:
                        producer.produce(topic, value=value, key=key, on_delivery=delivered)
                    else:
                        producer.produce(topic, value=value, key=key, timestamp=stamp, on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.1)
            count += 1
            if count % 10_000 == 0:
                producer.poll(0)
    remaining = producer.flush(60)
    if remaining or errors:
        raise KafkaIOError(f"{remaining or len(errors)} record(s) not delivered to {topic!r}: {errors[:3]}")
    return count
