"""Repartition a source topic by entity, exactly once in effect.

The runtime decides lateness per entity in offset order within a partition, which
is only right when the topic is keyed by the entity. A topic that is not (keyed by
request id, round robin, ...) goes through a repartition topic first, as Kafka
Streams does: :class:`Repartitioner` reads every partition of the source, takes the
entity key out of each JSON record and writes the record — value bytes, headers and
the original record timestamp (the arrival the runtime uses) unchanged — to
``{topic}.by-{key_field}`` keyed by that entity. Records without a usable key go to
``{topic}.dead-letters`` in the format of :meth:`streamfeat.ingest.DeadLetter.to_json`.

Exactly once: each batch is one Kafka transaction holding its output records *and*
the source offsets it consumed (``send_offsets_to_transaction``), so a batch's output
and its progress commit together or not at all. A restart — of a process that was
killed at any moment — resumes from the committed offsets; ``init_transactions`` with
the same ``transactional.id`` aborts whatever the dead process left open and fences it
off. Readers of the repartition topic must read with ``isolation.level=read_committed``
(the runtime's :class:`~streamfeat.kafka_io.PartitionReader` does) so aborted records
stay invisible.

Order: records of one source partition keep their order in each target partition.
An entity whose events arrive on several source partitions gets them in the order
this process read them (librdkafka interleaves partitions by fetch); that order is
fixed once committed, so every replay of the repartition topic sees the same one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import orjson
from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from streamfeat.errors import StreamfeatError
from streamfeat.ingest import MAX_KEY_BYTES, MAX_RECORD_BYTES, DeadLetter, Reason
from streamfeat.kafka_io import client_settings, ensure_topics, list_partitions

__all__ = ["RepartitionConfig", "RepartitionError", "RepartitionStats", "Repartitioner", "entity_key", "repartition_topic"]


class RepartitionError(StreamfeatError):
    """The repartitioner cannot go on (a broker error that is not transient, a fenced producer, ...)."""


def repartition_topic(topic: str, key_field: str) -> str:
    """The default repartition topic of ``topic`` keyed by ``key_field``."""
    return f"{topic}.by-{key_field}"


def entity_key(payload: bytes, key_field: str) -> tuple[bytes | None, str, str]:
    """``(key, reason, detail)``: the record's entity key as the runtime reads it (a string,
    or an integer turned into its decimal string), or ``None`` with a dead-letter reason."""
    if len(payload) > MAX_RECORD_BYTES:
        return None, Reason.OVERSIZED, f"{len(payload)} bytes > limit {MAX_RECORD_BYTES}"
    try:
        record = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return None, Reason.MALFORMED_JSON, str(exc)
    if not isinstance(record, dict):
        return None, Reason.NOT_AN_OBJECT, f"expected a JSON object, got {type(record).__name__}"
    if key_field not in record:
        return None, Reason.MISSING_FIELD, f"field {key_field!r} is missing"
    value = record[key_field]
    if type(value) is int:
        value = str(value)
    elif type(value) is not str:
        kind = "null" if value is None else type(value).__name__
        return None, Reason.WRONG_TYPE, f"field {key_field!r} must be str, got {kind}"
    key = value.encode("utf-8", "surrogatepass")
    if not key or len(key) > MAX_KEY_BYTES:
        return None, Reason.BAD_KEY, f"entity key {key_field!r} must be 1..{MAX_KEY_BYTES} bytes"
    return key, "", ""


def _create_target(config: RepartitionConfig, partitions: int) -> None:
    """Create the repartition topic when missing, with the source's replication factor and
    ``retention.ms``: records keep their original timestamps, and time retention goes by
    them, so the copy expires what the source expires (a broker default of 7 days would
    delete a replay of older history at its next retention check)."""
    from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

    extra = client_settings(config.consumer_config)
    try:
        admin = AdminClient({"bootstrap.servers": config.bootstrap, **extra})
        topics = admin.list_topics(timeout=30).topics
        if config.target in topics:
            return
        source = topics[config.source_topic]
        replication = len(next(iter(source.partitions.values())).replicas)
        resource = ConfigResource(ResourceType.TOPIC, config.source_topic)
        entries = admin.describe_configs([resource])[resource].result(timeout=30)
        retention = entries.get("retention.ms")
        topic_config = {"retention.ms": retention.value} if retention is not None and retention.value else {}
        future = admin.create_topics(
            [NewTopic(config.target, num_partitions=partitions, replication_factor=replication, config=topic_config)]
        )[config.target]
        future.result(timeout=30)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise RepartitionError(f"cannot create the repartition topic {config.target!r}: {exc}") from exc
    ensure_topics(config.bootstrap, {config.target: partitions}, extra=extra)  # waits for every partition's leader


@dataclass(frozen=True, kw_only=True)
class RepartitionConfig:
    """Where to read, where to write, and how."""

    bootstrap: str
    source_topic: str
    key_field: str
    target_topic: str | None = None  # default "{source}.by-{key_field}"
    dead_letter_topic: str | None = None  # default "{source}.dead-letters"
    partitions: int | None = None  # target partitions when it is created (default: the source's)
    group: str | None = None  # consumer group holding the progress; default "streamfeat-repartition.{target}"
    batch_size: int = 10_000  # records per transaction (at most)
    poll_timeout_s: float = 0.5
    stop_at_end: bool = False  # stop once the records present at start are repartitioned
    transaction_timeout_ms: int = 60_000
    consumer_config: dict[str, Any] = field(default_factory=dict)
    producer_config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.key_field:
            raise RepartitionError("the entity key field must be a non-empty string")
        if self.target == self.source_topic:
            raise RepartitionError(f"the repartition topic must differ from the source topic {self.source_topic!r}")
        if self.partitions is not None and self.partitions < 1:
            raise RepartitionError(f"partitions must be >= 1, not {self.partitions}")
        if self.batch_size < 1:
            raise RepartitionError(f"batch size must be >= 1, not {self.batch_size}")

    @property
    def target(self) -> str:
        return self.target_topic or repartition_topic(self.source_topic, self.key_field)

    @property
    def dead_letters(self) -> str:
        return self.dead_letter_topic or f"{self.source_topic}.dead-letters"

    @property
    def group_id(self) -> str:
        return self.group or f"streamfeat-repartition.{self.target}"


@dataclass(slots=True)
class RepartitionStats:
    records: int = 0
    repartitioned: int = 0
    dead_letters: int = 0
    transactions: int = 0
    aborted: int = 0
    seconds: float = 0.0


class Repartitioner:
    """Consumes every partition of the source topic and writes it, keyed by entity, to
    the repartition topic in one transaction per batch (see the module docstring).

    One repartitioner runs per group: its ``transactional.id`` is the group, so a second
    one started with the same group fences the first (the first then stops with an error)."""

    def __init__(self, config: RepartitionConfig) -> None:
        self.config = config
        extra = client_settings(config.consumer_config)  # how to reach the cluster, for every client
        source_partitions = list_partitions(config.bootstrap, config.source_topic, extra=extra)
        self.partitions = source_partitions
        _create_target(config, config.partitions or len(source_partitions))
        ensure_topics(config.bootstrap, {config.dead_letters: 1}, extra=extra)
        have = len(list_partitions(config.bootstrap, config.target, extra=extra))
        if config.partitions is not None and have != config.partitions:
            raise RepartitionError(
                f"{config.target!r} already exists with {have} partitions, not {config.partitions}: changing the "
                f"count would move entities between partitions (and their state); repartition into a new topic"
            )
        self.stats = RepartitionStats()
        self._open = False  # a transaction is begun and not yet committed or aborted
        self._errors: list[str] = []
        self._producer = Producer({
            "bootstrap.servers": config.bootstrap,
            "transactional.id": config.group_id,
            "transaction.timeout.ms": config.transaction_timeout_ms,
            "enable.idempotence": True,
            "linger.ms": 5,
            # Java's default partitioner, so other clients writing to the topic agree on placement.
            "partitioner": "murmur2_random",
            **config.producer_config,
        })
        try:
            # Aborts a transaction a killed predecessor left open and fences it off; must come
            # before the consumer reads the committed offsets.
            self._producer.init_transactions(30)
        except KafkaException as exc:
            raise RepartitionError(f"cannot start transactions as {config.group_id!r}: {exc}") from exc
        self._consumer = Consumer({
            "bootstrap.servers": config.bootstrap,
            "group.id": config.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            # Sources written transactionally are read without aborted records; the committed
            # offsets are then fetched as stable (KIP-447).
            "isolation.level": "read_committed",
            **config.consumer_config,
        })
        self._tps = [TopicPartition(config.source_topic, p) for p in source_partitions]
        self._start = self._committed()
        self._assign(self._start)
        self._end: dict[int, int] | None = None
        if config.stop_at_end:
            self._end = {}
            for tp in self._tps:
                try:
                    _, high = self._consumer.get_watermark_offsets(tp, timeout=10)
                except KafkaException as exc:
                    raise RepartitionError(f"cannot read the end offset of {tp.topic}/{tp.partition}: {exc}") from exc
                self._end[tp.partition] = high

    # -- offsets ---------------------------------------------------------------------

    def _committed(self) -> dict[int, int]:
        """The group's committed offset per source partition (the log start where none)."""
        try:
            found = self._consumer.committed([TopicPartition(tp.topic, tp.partition) for tp in self._tps], timeout=30)
        except KafkaException as exc:
            raise RepartitionError(f"cannot read the committed offsets of group {self.config.group_id!r}: {exc}") from exc
        start: dict[int, int] = {}
        for tp in found:
            if tp.error is not None:
                raise RepartitionError(f"committed offset of {tp.topic}/{tp.partition}: {tp.error}")
            if tp.offset >= 0:
                start[tp.partition] = tp.offset
            else:
                low, _ = self._consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10)
                start[tp.partition] = low
        return start

    def _assign(self, offsets: dict[int, int]) -> None:
        # Manual assignment, no group membership: a restart after a SIGKILL need not wait
        # for the dead member's session to time out. Progress still lives in the group.
        self._consumer.assign([TopicPartition(self.config.source_topic, p, o) for p, o in offsets.items()])

    def positions(self) -> dict[int, int]:
        """The next source offset to read per partition (past transaction markers too)."""
        found = self._consumer.position([TopicPartition(tp.topic, tp.partition) for tp in self._tps])
        return {tp.partition: max(tp.offset, self._start[tp.partition]) if tp.offset != OFFSET_INVALID
                else self._start[tp.partition] for tp in found}

    def at_end(self) -> bool:
        """With ``stop_at_end``: every partition is read up to its end offset at start."""
        if self._end is None:
            return False
        positions = self.positions()
        return all(positions[p] >= end for p, end in self._end.items())

    # -- the loop --------------------------------------------------------------------

    def _delivered(self, error: KafkaError | None, _message: object) -> None:
        if error is not None:
            self._errors.append(str(error))

    def _produce(self, topic: str, key: bytes | None, value: bytes, message: Message | None, stamp: int | None) -> None:
        headers = message.headers() if message is not None else None
        while True:
            try:
                if stamp is None:
                    self._producer.produce(topic, value=value, key=key, headers=headers, on_delivery=self._delivered)
                else:
                    self._producer.produce(
                        topic, value=value, key=key, headers=headers, timestamp=stamp, on_delivery=self._delivered
                    )
                return
            except BufferError:
                self._producer.poll(0.05)

    def _read(self) -> list[Message]:
        try:
            messages = self._consumer.consume(num_messages=self.config.batch_size, timeout=self.config.poll_timeout_s)
        except KafkaException as exc:
            raise RepartitionError(f"reading {self.config.source_topic}: {exc}") from exc
        good: list[Message] = []
        for message in messages:
            error = message.error()
            if error is None:
                good.append(message)
            elif error.code() == KafkaError._PARTITION_EOF or error.retriable():
                continue
            else:
                raise RepartitionError(f"reading {self.config.source_topic}: {error}")
        return good

    def _write(self, messages: Sequence[Message]) -> None:
        """One transaction: every message's record (or dead letter) and the offsets after them."""
        config = self.config
        self._producer.begin_transaction()
        self._open = True
        next_offsets: dict[int, int] = {}
        dead = 0
        for message in messages:
            value = message.value() or b""
            kind, stamp = message.timestamp()
            stamp = stamp if kind != 0 and stamp >= 0 else None
            partition, offset = message.partition(), message.offset()
            key, reason, detail = entity_key(value, config.key_field)
            if key is None:
                letter = DeadLetter(reason, detail, value, config.source_topic, partition, offset)
                self._produce(config.dead_letters, None, letter.to_json(), None, None)
                dead += 1
            else:
                self._produce(config.target, key, value, message, stamp)
            next_offsets[partition] = offset + 1
        offsets = [TopicPartition(config.source_topic, p, o) for p, o in sorted(next_offsets.items())]
        self._producer.send_offsets_to_transaction(offsets, self._consumer.consumer_group_metadata(), 30)
        for attempt in range(5):
            try:
                self._producer.commit_transaction(60)
                break
            except KafkaException as exc:  # a retriable commit may simply be called again
                if not exc.args[0].retriable() or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        self._open = False
        if self._errors:
            errors, self._errors = self._errors, []
            raise RepartitionError(f"records not delivered in a committed transaction: {errors[:3]}")
        self.stats.records += len(messages)
        self.stats.dead_letters += dead
        self.stats.repartitioned += len(messages) - dead
        self.stats.transactions += 1

    def step(self) -> int:
        """Read one batch and commit it in one transaction; returns the records read."""
        messages = self._read()
        if not messages:
            return 0
        try:
            self._write(messages)
        except KafkaException as exc:
            error = exc.args[0]
            if not error.txn_requires_abort():
                raise RepartitionError(f"transaction failed ({'fatal' if error.fatal() else 'not abortable'}): "
                                       f"{error}") from exc
            # Nothing of the batch is visible; read it again from the committed offsets.
            self._producer.abort_transaction(60)
            self._open = False
            self._errors.clear()
            self.stats.aborted += 1
            self._start = self._committed()
            self._assign(self._start)
        return len(messages)

    def run(self, on_batch=None) -> RepartitionStats:  # type: ignore[no-untyped-def]
        """Repartition until stopped (or, with ``stop_at_end``, until the end at start)."""
        started = time.perf_counter()
        while not self.at_end():
            read = self.step()
            self.stats.seconds = time.perf_counter() - started
            if read and on_batch is not None:
                on_batch(self.stats)
        self.stats.seconds = time.perf_counter() - started
        return self.stats

    def close(self) -> None:
        """Close the consumer. A transaction left open by a failed batch is aborted when the
        producer can still do so; a fenced or failed producer leaves it to the broker (the
        transaction timeout, or the next ``init_transactions`` with this id)."""
        self._consumer.close()
        if self._open:
            self._open = False
            try:
                self._producer.abort_transaction(10)
            except KafkaException as exc:
                if not (exc.args[0].fatal() or exc.args[0].txn_requires_abort() or exc.args[0].retriable()):
                    raise RepartitionError(f"cannot abort the open transaction: {exc}") from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
