"""The Kafka layer against a real broker: offsets the log no longer holds fail loudly."""

from __future__ import annotations

import random
import uuid

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from streamfeat.kafka_io import (
    KafkaIOError,
    KafkaRejectSink,
    PartitionReader,
    RecordProducer,
    client_settings,
    ensure_topics,
    list_partitions,
    offsets_for_time,
    read_range,
)
from tests.services.fixtures import kafka_bootstrap  # noqa: F401  (fixture)


@pytest.fixture(params=["native", "consume"])
def reader_path(request, monkeypatch):
    """Each reader test twice: librdkafka read directly (the default where built), and
    through confluent-kafka's ``Consumer.consume`` (``STREAMFEAT_NATIVE_KAFKA=0``)."""
    import streamfeat.kafka_io as kafka_io

    monkeypatch.setenv(kafka_io.NATIVE_READER_ENV, "1" if request.param == "native" else "0")
    kafka_io._native_consumer_class.cache_clear()
    if request.param == "native":
        assert kafka_io._native_consumer_class() is not None, (
            "the native Kafka reader is not available: streamfeat._store_native not built, or librdkafka not found"
        )
    yield request.param
    kafka_io._native_consumer_class.cache_clear()


def _topic_with_records(bootstrap: str, count: int) -> str:
    topic = f"kio-{uuid.uuid4().hex[:10]}"
    ensure_topics(bootstrap, {topic: 1})
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(count):
        producer.produce(topic, value=b"%d" % i, timestamp=1_000 + i)
    assert producer.flush(30) == 0
    return topic


def _values(bootstrap: str, topic: str, partition: int = 0) -> list[bytes]:
    """Every record value of one partition, in offset order."""
    reader = PartitionReader(bootstrap, topic, partition, 0)
    try:
        last = reader.end_offset()
    finally:
        reader.close()
    return [bytes(p) for batch in read_range(bootstrap, topic, partition, 0, last, 100) for p in batch.payloads]


def test_resuming_below_the_log_start_is_an_error_not_a_skip(kafka_bootstrap, reader_path):  # noqa: F811
    topic = _topic_with_records(kafka_bootstrap, 100)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.delete_records([TopicPartition(topic, 0, 50)]).values():
        future.result()
    reader = PartitionReader(kafka_bootstrap, topic, 0, 10)  # a committed offset retention has deleted
    assert reader.native == (reader_path == "native")
    try:
        with pytest.raises(KafkaIOError, match="no longer in the log"):
            for _ in range(20):
                reader.read(100, 1.0)
    finally:
        reader.close()


def test_ranges_by_offset_and_time(kafka_bootstrap, reader_path):  # noqa: F811
    topic = _topic_with_records(kafka_bootstrap, 100)
    assert offsets_for_time(kafka_bootstrap, topic, [0], 1_030) == {0: 30}
    assert offsets_for_time(kafka_bootstrap, topic, [0], 99_999) == {0: 100}  # after the last: the end
    got = [o for batch in read_range(kafka_bootstrap, topic, 0, 30, 45, 4) for o in batch.offsets]
    assert got == list(range(30, 45))


def test_a_transactional_topic_ends_at_its_last_marker(kafka_bootstrap, reader_path):  # noqa: F811
    """A transaction's commit marker takes an offset no record is returned for: reading
    "to the end" must finish there, not wait for a record that never comes."""
    import time

    topic = f"kio-tx-{uuid.uuid4().hex[:10]}"
    ensure_topics(kafka_bootstrap, {topic: 1})
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": f"tx-{topic}"})
    producer.init_transactions(30)
    for start in (0, 5):
        producer.begin_transaction()
        for i in range(start, start + 5):
            producer.produce(topic, value=b"%d" % i)
        producer.commit_transaction(30)
    reader = PartitionReader(kafka_bootstrap, topic, 0, None)
    end = reader.end_offset()
    reader.close()
    assert end == 12  # 10 records + 2 commit markers
    started = time.monotonic()
    got = [p for batch in read_range(kafka_bootstrap, topic, 0, 0, end, 100) for p in batch.payloads]
    assert got == [b"%d" % i for i in range(10)]
    assert time.monotonic() - started < 10


def test_native_message_columns_read_what_the_python_loop_reads(kafka_bootstrap, monkeypatch):  # noqa: F811
    """``message_columns`` (one native call per batch) gives the columns the Python loop
    gives: offsets, values (``None`` as ``b""``) and timestamps — and so does the native
    reader of librdkafka (``KafkaPartitionConsumer``), batch by batch."""
    import streamfeat.kafka_io as kafka_io

    assert kafka_io.message_columns is not None, "streamfeat._store_native is not built"
    topic = f"kio-cols-{uuid.uuid4().hex[:10]}"
    ensure_topics(kafka_bootstrap, {topic: 1})
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(50):
        producer.produce(topic, value=None if i % 7 == 3 else b"v%d" % i, timestamp=5_000 + i)
    assert producer.flush(30) == 0

    def read_all() -> tuple[list, list, list, list]:
        reader = PartitionReader(kafka_bootstrap, topic, 0, None)
        offsets, payloads, stamps, newest = [], [], [], []
        try:
            while len(offsets) < 50:
                batch = reader.read(20, 1.0)
                offsets += batch.offsets
                payloads += batch.payloads
                stamps += batch.timestamps
                if batch.offsets:
                    newest.append(batch.newest_timestamp)
                    assert batch.newest_timestamp == max(batch.timestamps)
        finally:
            reader.close()
        return offsets, payloads, stamps, newest

    monkeypatch.setenv(kafka_io.NATIVE_READER_ENV, "0")
    kafka_io._native_consumer_class.cache_clear()
    native = read_all()
    monkeypatch.setattr(kafka_io, "message_columns", None)
    python = read_all()
    assert python[:3] == native[:3]
    monkeypatch.setenv(kafka_io.NATIVE_READER_ENV, "1")
    kafka_io._native_consumer_class.cache_clear()
    direct = read_all()  # librdkafka read directly: values in one buffer
    kafka_io._native_consumer_class.cache_clear()
    assert direct == native
    assert native[0] == list(range(50))
    assert native[1][3] == b"" and native[1][4] == b"v4"
    assert native[2] == [5_000 + i for i in range(50)]


class _Message:
    """What ``message_columns`` reads of a confluent-kafka ``Message``: four methods."""

    def __init__(self, offset: int, value: bytes | None, stamp: tuple[int, int], error: object = None) -> None:
        self._offset, self._value, self._stamp, self._error = offset, value, stamp, error

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return self._stamp

    def error(self) -> object:
        return self._error


def test_message_columns_give_a_range_only_for_offsets_without_gaps():
    from streamfeat.kafka_io import message_columns

    assert message_columns is not None, "streamfeat._store_native is not built"
    run = [_Message(7 + i, b"v%d" % i, (1, 100 - i)) for i in range(4)]
    offsets, values, stamps, stop, newest = message_columns(run)
    assert offsets == range(7, 11) and values == [b"v0", b"v1", b"v2", b"v3"]
    assert stamps == [100, 99, 98, 97] and stop is None and newest == 100
    gap = [_Message(3, b"a", (1, 5)), _Message(5, None, (0, -1)), _Message(6, b"c", (1, -1))]
    offsets, values, stamps, stop, newest = message_columns(gap)  # offset 4: a transaction marker
    assert type(offsets) is list and offsets == [3, 5, 6] and values == [b"a", b"", b"c"]
    assert stamps == [5, None, None] and stop is None and newest == 5
    failed = [_Message(1, b"a", (0, 0)), _Message(2, b"b", (0, 0), error="broker down"), _Message(3, b"c", (1, 9))]
    offsets, values, stamps, stop, newest = message_columns(failed)
    assert list(offsets) == [1] and values == [b"a"] and stamps == [None] and stop == 1 and newest is None
    assert message_columns([]) == ([], [], [], None, None)


def test_confluent_messages_read_in_place_equal_their_methods():
    """confluent-kafka's own ``Message`` objects are read in place (their layout checked
    once per process); the columns equal those read through the same messages' methods
    (``_Message`` copies of them), mixed in one batch too."""
    from confluent_kafka import KafkaError, Message

    from streamfeat._store_native import message_layout_verified
    from streamfeat.kafka_io import message_columns

    assert message_columns is not None, "streamfeat._store_native is not built"
    assert message_layout_verified(), "confluent-kafka's Message layout changed: messages are read through methods"
    rng = random.Random(17)
    for _ in range(200):
        real = []
        offset = rng.randrange(0, 1 << 40)
        for _ in range(rng.randrange(0, 12)):
            offset += rng.choice([1, 1, 1, 2])  # sometimes a gap (a transaction marker)
            kind = rng.choice([0, 1, 1, 2])  # not available, create time, log append time
            stamp = rng.choice([-1, 0, rng.randrange(1 << 42)])
            value = rng.choice([None, b"", b"x" * rng.randrange(1, 40)])
            error = KafkaError(KafkaError._PARTITION_EOF) if rng.random() < 0.05 else None
            real.append(Message(topic="t", partition=0, offset=offset, value=value, timestamp=(kind, stamp),
                                error=error))
        copies = [_Message(m.offset(), m.value(), m.timestamp(), m.error()) for m in real]
        mixed = [c if rng.random() < 0.5 else m for m, c in zip(real, copies, strict=True)]
        want = message_columns(copies)
        assert message_columns(real) == want
        assert message_columns(mixed) == want


def test_a_producer_without_a_flush_per_send_writes_at_flush_and_sends_again_after_a_failure(kafka_bootstrap):  # noqa: F811
    topic = f"kio-{uuid.uuid4().hex[:10]}"
    ensure_topics(kafka_bootstrap, {topic: 1})
    producer = RecordProducer(kafka_bootstrap, topic, flush_each_send=False)
    assert producer.send([(b"k", b"1"), (None, b"2")]) == 2
    producer.flush()
    producer.send([(b"k", b"3")])
    producer._errors.append("delivery failed (as librdkafka reports one)")  # a delivery report's error
    with pytest.raises(KafkaIOError, match="could not write 1 record"):
        producer.flush()
    producer.flush()  # sends what the failed flush covered again
    producer.flush()  # nothing left
    assert _values(kafka_bootstrap, topic) == [b"1", b"2", b"3", b"3"]  # at least once: the failed one again


def test_client_settings_are_the_ones_that_say_how_to_reach_the_cluster():
    extra = {
        "fetch.wait.max.ms": "10", "queued.min.messages": "5", "client.rack": "eu-1a", "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN", "sasl.username": "u", "ssl.ca.location": "/ca.pem", "socket.keepalive.enable": "true",
    }
    assert client_settings(extra) == {
        "client.rack": "eu-1a", "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.username": "u",
        "ssl.ca.location": "/ca.pem", "socket.keepalive.enable": "true",
    }
    assert client_settings(None) == {}


def test_client_settings_reach_the_reject_producers_topic_creation_and_metadata(kafka_bootstrap):  # noqa: F811
    topic = f"kio-{uuid.uuid4().hex[:10]}"
    good = {"security.protocol": "plaintext", "client.id": "streamfeat-test"}
    assert ensure_topics(kafka_bootstrap, {topic: 2}, extra=good) == [topic]
    assert list_partitions(kafka_bootstrap, topic, extra=good) == [0, 1]
    sink = KafkaRejectSink(kafka_bootstrap, topic, topic, flush_each_write=True, extra=good)
    sink.dead.send([(b"k", b"x")])
    assert sorted(_values(kafka_bootstrap, topic, 0) + _values(kafka_bootstrap, topic, 1)) == [b"x"]
    # A value librdkafka refuses shows the setting got there: each client fails with a clear error.
    bad = {"security.protocol": "no-such-protocol"}
    with pytest.raises(KafkaIOError, match="cannot write to"):
        RecordProducer(kafka_bootstrap, topic, extra=bad)
    with pytest.raises(KafkaIOError, match="cannot create topics"):
        ensure_topics(kafka_bootstrap, {topic: 1}, extra=bad)
    with pytest.raises(KafkaIOError, match="cannot read metadata"):
        list_partitions(kafka_bootstrap, topic, extra=bad)


def test_a_producer_flushing_every_send_leaves_a_failed_send_to_its_caller(kafka_bootstrap):  # noqa: F811
    topic = f"kio-{uuid.uuid4().hex[:10]}"
    ensure_topics(kafka_bootstrap, {topic: 1})
    producer = RecordProducer(kafka_bootstrap, topic)  # flush_each_send=True
    producer._errors.append("delivery failed (as librdkafka reports one)")
    with pytest.raises(KafkaIOError):
        producer.send([(None, b"1")])
    producer.send([(None, b"1")])  # the caller's retry
    producer.send([(None, b"2")])
    assert _values(kafka_bootstrap, topic) == [b"1", b"1", b"2"]  # the failed send once more, by its caller; nothing a third time


def test_the_native_reader_is_the_default_and_steps_aside_for_callbacks(kafka_bootstrap, monkeypatch):  # noqa: F811
    """Where built, a reader reads librdkafka directly; a setting only confluent-kafka
    takes (a callback) makes it read through confluent-kafka; a bad setting is a clear error
    either way; position and end offsets agree between the two."""
    import streamfeat.kafka_io as kafka_io

    monkeypatch.delenv(kafka_io.NATIVE_READER_ENV, raising=False)
    kafka_io._native_consumer_class.cache_clear()
    topic = _topic_with_records(kafka_bootstrap, 30)
    readers = [
        PartitionReader(kafka_bootstrap, topic, 0, 5),
        PartitionReader(kafka_bootstrap, topic, 0, 5, extra={"error_cb": lambda error: None}),
    ]
    try:
        assert [reader.native for reader in readers] == [True, False]
        for reader in readers:
            got = []
            for _ in range(20):
                got += reader.read(100, 1.0).offsets
                if len(got) == 25:
                    break
            assert got == list(range(5, 30))
            assert reader.position() == 30 and reader.cached_end_offset() == 30 and reader.end_offset() == 30
    finally:
        for reader in readers:
            reader.close()
    with pytest.raises(KafkaIOError, match="no.such.setting"):
        PartitionReader(kafka_bootstrap, topic, 0, 0, extra={"no.such.setting": 1})
    kafka_io._native_consumer_class.cache_clear()
