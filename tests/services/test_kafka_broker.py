"""Smoke test of a real Kafka broker: topic admin, keyed produce, group consume.

The broker comes from the ``kafka_bootstrap`` fixture (env var, testcontainers or
deploy/local/kafka.sh). The topic and group names are unique per run, so a shared
broker is fine; the topic is deleted afterwards.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 4
MESSAGES = 1000
KEYS = 37  # enough keys that the default partitioner puts some on every partition


@pytest.fixture
def topic(kafka_bootstrap: str):
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    name = f"streamfeat-smoke-{uuid.uuid4().hex[:12]}"
    futures = admin.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=1)])
    futures[name].result(timeout=30)
    # metadata propagates asynchronously: wait until every partition has a leader
    deadline = time.monotonic() + 30
    while True:
        md = admin.list_topics(topic=name, timeout=10).topics[name]
        if md.error is None and len(md.partitions) == PARTITIONS and all(p.leader >= 0 for p in md.partitions.values()):
            break
        assert time.monotonic() < deadline, f"topic {name} not ready: {md.error} {md.partitions}"
        time.sleep(0.1)
    yield name
    admin.delete_topics([name])[name].result(timeout=30)


def test_broker_metadata(kafka_bootstrap: str, topic: str) -> None:
    md = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)
    assert md.brokers, "broker list is empty"
    assert topic in md.topics
    assert sorted(md.topics[topic].partitions) == list(range(PARTITIONS))


def test_produce_and_consume_keyed_messages(kafka_bootstrap: str, topic: str) -> None:
    # -- produce: value = "<key>:<sequence number within key>"
    producer = Producer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "enable.idempotence": True,  # acks=all, ordered retries
            "linger.ms": 5,
        }
    )
    delivered: list[tuple[str, int, int]] = []  # (key, partition, offset)
    errors: list[str] = []

    def on_delivery(err, msg) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            delivered.append((msg.key().decode(), msg.partition(), msg.offset()))

    sent_per_key: Counter[str] = Counter()
    for i in range(MESSAGES):
        key = f"k{i % KEYS:02d}"
        producer.produce(topic, key=key, value=f"{key}:{sent_per_key[key]}", on_delivery=on_delivery)
        sent_per_key[key] += 1
        producer.poll(0)
    assert producer.flush(30) == 0, "messages still queued after flush"
    assert errors == []
    assert len(delivered) == MESSAGES

    partition_of_key = defaultdict(set)
    for key, partition, _ in delivered:
        partition_of_key[key].add(partition)
    assert all(len(parts) == 1 for parts in partition_of_key.values()), "a key landed on two partitions"
    assert {p for parts in partition_of_key.values() for p in parts} == set(range(PARTITIONS))

    # -- consume them all back with a consumer group, in batches
    group = f"streamfeat-smoke-{uuid.uuid4().hex[:12]}"
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    received: list[tuple[str, str, int]] = []  # (key, value, partition)
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 60
        while len(received) < MESSAGES and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=250, timeout=1.0):
                if msg.error() is not None:
                    raise KafkaException(msg.error())
                received.append((msg.key().decode(), msg.value().decode(), msg.partition()))
        # nothing beyond what was produced
        extra = consumer.consume(num_messages=10, timeout=1.0)
        assert [m for m in extra if m.error() is None] == []

        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
    finally:
        consumer.close()

    assert len(received) == MESSAGES, f"consumed {len(received)} of {MESSAGES}"
    assert Counter(k for k, _, _ in received) == sent_per_key

    # per-key order: sequence numbers 0, 1, 2, ... in consumption order
    seqs: dict[str, list[int]] = defaultdict(list)
    for key, value, partition in received:
        value_key, seq = value.split(":")
        assert value_key == key
        assert {partition} == partition_of_key[key]
        seqs[key].append(int(seq))
    for key, got in seqs.items():
        assert got == list(range(sent_per_key[key])), f"key {key} out of order"

    # the group's committed offsets cover every message (group coordinator works)
    assert all(tp.error is None for tp in committed)
    end_offsets = Counter(p for _, _, p in received)
    assert {tp.partition: tp.offset for tp in committed} == {p: end_offsets[p] for p in range(PARTITIONS)}
