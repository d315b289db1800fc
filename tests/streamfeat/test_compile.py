"""The bytewax dataflow against a real Kafka broker: same values as the operators."""

from __future__ import annotations

import re
import uuid

import orjson
import pytest
from bytewax.run import cli_main
from confluent_kafka import Consumer, Producer

from streamfeat.compile import KafkaRunConfig, build_dataflow
from streamfeat.kafka_io import KafkaIOError, ensure_topics
from streamfeat.online import FeatureReader, LmdbStore
from tests.services.fixtures import kafka_bootstrap  # noqa: F401  (fixture)
from tests.streamfeat.test_pipeline import ARRIVALS, PAYLOADS, VIEWS, expected_values

USER_VIEW = VIEWS[0]


def produce(bootstrap, topic, payloads, arrivals):
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20})
    for payload, arrival in zip(payloads, arrivals, strict=True):
        try:
            key = str(orjson.loads(payload).get("user_id", "u1")).encode()
        except orjson.JSONDecodeError:
            key = b"u1"
        producer.produce(topic, value=payload, key=key, timestamp=arrival)
        producer.poll(0)
    assert producer.flush(30) == 0


def test_online_writes_go_to_the_background_where_measured_faster(tmp_path):
    from streamfeat.compile import _publish_in_background
    from streamfeat.online.embedded import native_batch_writer_built

    auto = KafkaRunConfig(bootstrap="unused:9092", state_dir=tmp_path)
    assert native_batch_writer_built() and _publish_in_background(auto)
    assert _publish_in_background(KafkaRunConfig(bootstrap="x", state_dir=tmp_path, online_store="redis://h:1/0"))
    assert not _publish_in_background(
        KafkaRunConfig(bootstrap="x", state_dir=tmp_path, online_store="redis://h:1/0", background_publish=False))
    assert not _publish_in_background(KafkaRunConfig(bootstrap="x", state_dir=tmp_path, background_publish=False))



def test_a_missing_native_writer_is_said_once(tmp_path, monkeypatch, caplog):
    import streamfeat.compile as compile_module

    monkeypatch.setattr(compile_module, "native_lmdb_built", lambda: False)
    compile_module._warn_no_native_writer.cache_clear()
    config = KafkaRunConfig(bootstrap="unused:9092", state_dir=tmp_path)
    with caplog.at_level("WARNING", logger="streamfeat.compile"):
        assert not compile_module._publish_in_background(config)
        assert not compile_module._publish_in_background(config)  # a second partition: no second warning
    warnings = [r.getMessage() for r in caplog.records if "native writer" in r.getMessage()]
    assert len(warnings) == 1 and "liblmdb-dev" in warnings[0]
    compile_module._warn_no_native_writer.cache_clear()


def test_progress_reaches_the_callback_from_one_worker_thread_at_a_time():
    """Each worker writes its own sink partition; a callback that adds items up must not
    lose a sum when two workers' batches interleave (a stopped run's summary once counted
    one batch of 40 fewer than it had committed)."""
    import sys
    import threading

    from streamfeat.compile import PartitionProgress, _ProgressSink

    totals = {"records": 0, "published": 0}

    def on_progress(item):  # read, then write: not atomic across threads
        for name in totals:
            totals[name] += getattr(item, name)

    sink = _ProgressSink(on_progress)
    partitions = [sink.build("progress", worker, 2) for worker in range(2)]
    item = PartitionProgress(0, records=40, accepted=40, late=0, dead_letters=0, published=40, next_offset=None)
    calls = 20_000

    def write(partition):
        for _ in range(calls):
            partition.write_batch([item])

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as CPython allows
    try:
        threads = [threading.Thread(target=write, args=(partition,)) for partition in partitions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert totals == {"records": 2 * calls * 40, "published": 2 * calls * 40}


def view_on(topic):
    """The test view, reading ``topic``."""
    return type(USER_VIEW)(
        USER_VIEW.name, entity=USER_VIEW.entity, source=type(USER_VIEW.source)(
            USER_VIEW.source.name, topic=topic, timestamp="ts", schema=dict(USER_VIEW.source.schema),
            max_ahead=USER_VIEW.source.max_ahead),
        features=USER_VIEW.features, allowed_lateness=USER_VIEW.allowed_lateness,
    )


@pytest.mark.parametrize("background", [None, False], ids=["auto-background", "each-batch"])
def test_dataflow_over_four_partitions_with_two_workers(kafka_bootstrap, tmp_path, background):  # noqa: F811
    topic = f"txns-{uuid.uuid4().hex[:10]}"
    ensure_topics(kafka_bootstrap, {topic: 4, f"{topic}.dead-letters": 1, f"{topic}.late": 1})
    payloads = PAYLOADS[:6000] + [b"not json"]
    arrivals = ARRIVALS[:6000] + [ARRIVALS[5999]]
    produce(kafka_bootstrap, topic, payloads, arrivals)

    view = view_on(topic)
    progress = []
    config = KafkaRunConfig(bootstrap=kafka_bootstrap, state_dir=tmp_path, stop_at_end=True, batch_size=500,
                            background_publish=background)
    cli_main(build_dataflow([view], config, progress.append), workers_per_process=2)

    assert sum(p.records for p in progress) == 6001
    assert sum(p.dead_letters for p in progress) == 1
    t = max(arrivals) + 60_000
    want = expected_values(PAYLOADS[:6000], ARRIVALS[:6000], t)[view.name]
    with LmdbStore(tmp_path / "online.lmdb", readonly=True) as online:
        got = {v.entity: v.values for v in FeatureReader(online, [view]).get_many(view.name, sorted(want), at=t)}
    assert got == want

    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"check-{topic}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([f"{topic}.dead-letters"])
    letters = []
    for _ in range(50):
        letters += [m for m in consumer.consume(10, timeout=0.5) if m.error() is None]
        if letters:
            break
    consumer.close()
    (letter,) = letters
    body = orjson.loads(letter.value())
    assert body["reason"] == "malformed_json" and body["payload"] == "not json" and body["topic"] == topic


def test_consumer_settings_go_to_the_partition_readers(kafka_bootstrap, tmp_path):  # noqa: F811
    """``consumer_config`` (``streamfeat run --consumer-config``) reaches librdkafka: fetches
    held for a megabyte or 5 ms still read every record, with the same values."""
    topic = f"txns-{uuid.uuid4().hex[:10]}"
    ensure_topics(kafka_bootstrap, {topic: 2, f"{topic}.dead-letters": 1, f"{topic}.late": 1})
    produce(kafka_bootstrap, topic, PAYLOADS[:1500], ARRIVALS[:1500])
    view = view_on(topic)
    progress = []
    settings = {"fetch.min.bytes": "1048576", "fetch.wait.max.ms": "5", "client.id": "streamfeat-test"}
    config = KafkaRunConfig(bootstrap=kafka_bootstrap, state_dir=tmp_path, stop_at_end=True, consumer_config=settings)
    cli_main(build_dataflow([view], config, progress.append), workers_per_process=1)

    assert sum(p.records for p in progress) == 1500
    t = max(ARRIVALS[:1500]) + 60_000
    want = expected_values(PAYLOADS[:1500], ARRIVALS[:1500], t)[view.name]
    with LmdbStore(tmp_path / "online.lmdb", readonly=True) as online:
        got = {v.entity: v.values for v in FeatureReader(online, [view]).get_many(view.name, sorted(want), at=t)}
    assert got == want


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"isolation.level": "read_uncommitted"}, "'isolation.level' is fixed by streamfeat"),
        ({"enable.auto.commit": "true"}, "'enable.auto.commit' is fixed by streamfeat"),
        ({"fetch.wait.max.ms": "soon"}, 'Invalid value for configuration property "fetch.wait.max.ms"'),
        ({"fetch.wait.maximum": "5"}, 'No such configuration property: "fetch.wait.maximum"'),
    ],
)
def test_a_bad_consumer_setting_stops_the_build(settings, message, tmp_path):
    """Checked when the dataflow is built, before any partition is read (no broker needed)."""
    config = KafkaRunConfig(bootstrap="127.0.0.1:1", state_dir=tmp_path, consumer_config=settings)
    with pytest.raises(KafkaIOError, match=re.escape(message)):
        build_dataflow([view_on("txns")], config)


def test_runtime_metrics_are_exported(kafka_bootstrap, tmp_path):  # noqa: F811
    import urllib.request

    from benchmarks.streaming import free_ports

    from streamfeat.metrics import serve_metrics

    topic = f"metrics-{uuid.uuid4().hex[:10]}"
    ensure_topics(kafka_bootstrap, {topic: 2, f"{topic}.dead-letters": 1, f"{topic}.late": 1})
    produce(kafka_bootstrap, topic, PAYLOADS[:500] + [b"{}"], ARRIVALS[:501])
    view = type(USER_VIEW)(
        USER_VIEW.name, entity=USER_VIEW.entity, source=type(USER_VIEW.source)(
            USER_VIEW.source.name, topic=topic, timestamp="ts", schema=dict(USER_VIEW.source.schema)),
        features=USER_VIEW.features,
    )
    cli_main(build_dataflow([view], KafkaRunConfig(bootstrap=kafka_bootstrap, state_dir=tmp_path, stop_at_end=True)))
    (port,) = free_ports(1)
    serve_metrics(port)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    for name in ("streamfeat_records_total", "streamfeat_consumer_lag", "streamfeat_freshness_seconds",
                 "streamfeat_committed_offset", "streamfeat_dead_letters_total", "streamfeat_state_bytes",
                 "streamfeat_batch_seconds", "streamfeat_online_pending_rows",
                 'streamfeat_online_rows_by_place{place="new"}'):
        assert name in text, name
    assert f'streamfeat_dead_letters_total{{topic="{topic}"}} 1.0' in text


def test_produce_jsonl_keys_by_entity(kafka_bootstrap, tmp_path):  # noqa: F811
    from streamfeat.kafka_io import list_partitions, produce_jsonl

    topic = f"produce-{uuid.uuid4().hex[:10]}"
    ensure_topics(kafka_bootstrap, {topic: 3})
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(PAYLOADS[:300]) + b"\nnot json\n")
    assert produce_jsonl(kafka_bootstrap, topic, str(path), key_field="user_id") == 301
    assert list_partitions(kafka_bootstrap, topic) == [0, 1, 2]
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"c-{topic}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    seen = []
    for _ in range(60):
        seen += [m for m in consumer.consume(500, timeout=0.5) if m.error() is None]
        if len(seen) >= 301:
            break
    consumer.close()
    assert len(seen) == 301
    partitions_by_user = {}
    for message in seen:
        if message.key() is not None:
            partitions_by_user.setdefault(message.key(), set()).add(message.partition())
    assert all(len(parts) == 1 for parts in partitions_by_user.values())


def test_a_partition_read_never_blocks_and_says_when_to_come_back(kafka_bootstrap, tmp_path):  # noqa: F811
    """A short batch (records caught up) asks bytewax to come back after the poll interval,
    so a quiet partition never holds up the worker's other partitions; a full batch (a
    backlog) asks to be called again at once."""
    import time
    from datetime import UTC, datetime

    from streamfeat.compile import _FeaturePartition

    topic = f"awake-{uuid.uuid4().hex[:10]}"
    ensure_topics(kafka_bootstrap, {topic: 1})
    view = type(USER_VIEW)(
        USER_VIEW.name, entity=USER_VIEW.entity, source=type(USER_VIEW.source)(
            USER_VIEW.source.name, topic=topic, timestamp="ts", schema=dict(USER_VIEW.source.schema)),
        features=USER_VIEW.features,
    )
    config = KafkaRunConfig(bootstrap=kafka_bootstrap, state_dir=tmp_path, batch_size=50, poll_interval_s=0.5)
    partition = _FeaturePartition([view], config, topic, 0, 1)
    try:
        started = time.monotonic()
        assert partition.next_batch() == []  # nothing there: no waiting inside the read
        assert time.monotonic() - started < 0.3
        awake = partition.next_awake()
        assert awake is not None and 0.3 < (awake - datetime.now(UTC)).total_seconds() <= 0.5
        produce(kafka_bootstrap, topic, PAYLOADS[:120], ARRIVALS[:120])
        seen = 0
        deadline = time.monotonic() + 30
        while seen < 120 and time.monotonic() < deadline:
            items = partition.next_batch()
            seen += sum(item.records for item in items)
            if items and items[0].records == 50:
                assert partition.next_awake() is None  # a full batch: there may be more waiting
            elif items:
                assert partition.next_awake() is not None
        assert seen == 120
    finally:
        partition.close()
