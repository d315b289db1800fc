"""Repartitioning a topic not keyed by entity, on the real broker: the runtime's values
equal those of a topic keyed by entity, SIGKILLed repartitioners leave every record
exactly once for read_committed readers, and keyless records become dead letters."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
import zlib
from collections import Counter
from pathlib import Path

import orjson
from confluent_kafka import OFFSET_BEGINNING, OFFSET_INVALID, Consumer, Producer, TopicPartition

from streamfeat.ingest import Reason
from streamfeat.kafka_io import ensure_topics, list_partitions
from streamfeat.repartition import RepartitionConfig, Repartitioner, entity_key
from streamfeat.state import RocksDBStateStore
from tests.services.fixtures import kafka_bootstrap  # noqa: F401  (fixture)
from tests.streamfeat.test_crash_recovery import ARRIVALS as DOUBLE_ARRIVALS
from tests.streamfeat.test_crash_recovery import FEATURES, values
from tests.streamfeat.test_crash_recovery import PAYLOADS as DOUBLE_PAYLOADS
from tests.streamfeat.test_crash_recovery import start as start_run
from tests.streamfeat.test_pipeline import ARRIVALS, PAYLOADS

# -- helpers ---------------------------------------------------------------------------


def create_topics(bootstrap, topics: dict[str, int]) -> None:
    """Topics that keep everything: the test records carry 2023 timestamps, which the
    broker's default 7-day time retention would delete at its next check."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=n, replication_factor=1, config={"retention.ms": "-1"}) for name, n in topics.items()]
    )
    for future in futures.values():
        future.result(timeout=30)
    ensure_topics(bootstrap, topics)


def retention_ms(bootstrap, topic) -> str:
    from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

    resource = ConfigResource(ResourceType.TOPIC, topic)
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the answer arrives
    return admin.describe_configs([resource])[resource].result(timeout=30)["retention.ms"].value


def user_of(payload: bytes) -> str:
    return orjson.loads(payload)["user_id"]


def produce_unkeyed(bootstrap, topic, payloads, arrivals, *, partitions, seed, by_entity):
    """Produce with RANDOM keys (never the entity). ``by_entity``: each entity's events go
    to one partition (a hash of the entity), so they keep their relative order; otherwise
    each record goes to a random partition."""
    rng = random.Random(seed)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20})
    for payload, arrival in zip(payloads, arrivals, strict=True):
        try:
            record = orjson.loads(payload)
        except orjson.JSONDecodeError:
            record = None
        user = record.get("user_id") if isinstance(record, dict) else None
        if by_entity and isinstance(user, str):
            partition = zlib.crc32(user.encode()) % partitions
        else:
            partition = rng.randrange(partitions)
        key = rng.randbytes(8).hex().encode()
        producer.produce(topic, value=payload, key=key, partition=partition, timestamp=arrival)
        producer.poll(0)
    assert producer.flush(30) == 0


def read_topic(bootstrap, topic, *, isolation="read_committed"):
    """Every visible record of ``topic``: (partition, offset, key, value, timestamp), in
    partition then offset order."""
    partitions = list_partitions(bootstrap, topic)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-read-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "isolation.level": isolation})
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        records = []
        deadline = time.monotonic() + 60
        while True:
            for message in consumer.consume(num_messages=10_000, timeout=0.5):
                assert message.error() is None, message.error()
                records.append((message.partition(), message.offset(), message.key(), message.value(),
                                message.timestamp()[1]))
            positions = {tp.partition: tp.offset for tp in consumer.position(tps)}
            if all(ends[p] == 0 or (positions[p] != OFFSET_INVALID and positions[p] >= ends[p]) for p in ends):
                break
            assert time.monotonic() < deadline, f"{topic}: read to {positions}, ends {ends}"
        return sorted(records)
    finally:
        consumer.close()


def group_committed(bootstrap, group, topic) -> int:
    """Sum over partitions of the group's committed offsets (0 where none). Read as
    read_uncommitted: a stable read would wait for the transaction the kill left open."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "isolation.level": "read_uncommitted"})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in list_partitions(bootstrap, topic)], timeout=30)
        return sum(max(0, tp.offset) for tp in found)
    finally:
        consumer.close()


def start_repartition(features: Path, bootstrap: str, *, partitions: int, stop_at_end: bool, batch: int = 10_000):
    argv = [sys.executable, "-m", "streamfeat.cli", "repartition", str(features), "--bootstrap-servers", bootstrap,
            "--partitions", str(partitions), "--batch-size", str(batch)]
    return subprocess.Popen(
        argv + (["--stop-at-end"] if stop_at_end else []),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def committed_offsets(state_dir: Path, topic: str) -> dict[int, int]:
    offsets: dict[int, int] = {}
    for part in state_dir.glob(f"{topic}-*"):
        with RocksDBStateStore(part) as store:
            offsets.update({p: o for (t, p), o in store.offsets().items() if t == topic})
    return offsets


# -- pure ------------------------------------------------------------------------------


def test_entity_key_matches_the_runtime():
    assert entity_key(b'{"user_id": "u1", "x": 1}', "user_id") == (b"u1", "", "")
    assert entity_key(b'{"user_id": 42}', "user_id")[0] == b"42"  # the runtime reads int keys as strings
    assert entity_key(b'{"user_id": "\xc3\xa9"}', "user_id")[0] == "é".encode()
    for payload, reason in [
        (b"not json", Reason.MALFORMED_JSON),
        (b"[1, 2]", Reason.NOT_AN_OBJECT),
        (b'{"merchant_id": "m1"}', Reason.MISSING_FIELD),
        (b'{"user_id": null}', Reason.WRONG_TYPE),
        (b'{"user_id": true}', Reason.WRONG_TYPE),
        (b'{"user_id": 1.5}', Reason.WRONG_TYPE),
        (b'{"user_id": ""}', Reason.BAD_KEY),
        (b'{"user_id": "' + b"x" * 2000 + b'"}', Reason.BAD_KEY),
    ]:
        key, why, detail = entity_key(payload, "user_id")
        assert key is None and why == reason and detail, payload


# -- with the broker -------------------------------------------------------------------


def test_repartitioned_topic_gives_the_values_of_a_topic_keyed_by_entity(kafka_bootstrap, tmp_path):  # noqa: F811
    name = f"repart-{uuid.uuid4().hex[:10]}"
    keyed, unkeyed = f"{name}-keyed", f"{name}-unkeyed"
    target = f"{unkeyed}.by-user_id"
    create_topics(kafka_bootstrap, {keyed: 2, unkeyed: 3})
    from tests.streamfeat.test_compile import produce

    produce(kafka_bootstrap, keyed, PAYLOADS, ARRIVALS)  # keyed by user_id, the reference
    produce_unkeyed(kafka_bootstrap, unkeyed, PAYLOADS, ARRIVALS, partitions=3, seed=11, by_entity=True)

    source_features = tmp_path / "source.py"
    source_features.write_text(FEATURES.format(topic=unkeyed))
    done = start_repartition(source_features, kafka_bootstrap, partitions=2, stop_at_end=True, batch=3_000)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err.decode()[-2000:]
    assert f"{len(PAYLOADS):,} records" in out.decode() and "0 dead letters" in out.decode()
    assert len(list_partitions(kafka_bootstrap, target)) == 2
    assert retention_ms(kafka_bootstrap, target) == "-1", "the repartition topic keeps what its source keeps"

    records = read_topic(kafka_bootstrap, target)
    assert len(records) == len(PAYLOADS)
    by_user: dict[str, list[tuple[bytes, int]]] = {}
    placed: dict[str, set[int]] = {}
    for partition, _offset, key, value, stamp in records:  # partition, then offset order
        assert key.decode() == user_of(value)
        by_user.setdefault(key.decode(), []).append((value, stamp))
        placed.setdefault(key.decode(), set()).add(partition)
    want: dict[str, list[tuple[bytes, int]]] = {}
    for payload, arrival in zip(PAYLOADS, ARRIVALS, strict=True):
        want.setdefault(user_of(payload), []).append((payload, arrival))
    assert all(len(parts) == 1 for parts in placed.values()), "an entity lives in one target partition"
    assert by_user == want, "each entity's records, bytes and timestamps, in their source order"

    straight_features = tmp_path / "keyed.py"
    straight_features.write_text(FEATURES.format(topic=keyed))
    reference = start_run(straight_features, kafka_bootstrap, tmp_path / "keyed")
    assert reference.wait(timeout=300) == 0, reference.stderr.read().decode()[-2000:]

    repartitioned_features = tmp_path / "repartitioned.py"
    repartitioned_features.write_text(FEATURES.format(topic=target))
    last = {}
    for partition, offset, *_ in records:
        last[partition] = offset + 1
    # The repartition topic is transactional: each partition ends with a commit marker no
    # reader sees, and `run --stop-at-end` still finishes there (the consumer's position).
    started = time.monotonic()
    repartitioned = start_run(repartitioned_features, kafka_bootstrap, tmp_path / "repartitioned")
    assert repartitioned.wait(timeout=300) == 0, repartitioned.stderr.read().decode()[-2000:]
    assert time.monotonic() - started < 120
    assert committed_offsets(tmp_path / "repartitioned", target) == last

    keys = sorted(want)
    for t in (max(ARRIVALS), max(ARRIVALS) + 86_400_000, max(ARRIVALS) + 40 * 86_400_000):
        expected = values(tmp_path / "keyed", straight_features, keys, t)
        got = values(tmp_path / "repartitioned", repartitioned_features, keys, t)
        assert {k for k in keys if expected[k] != got[k]} == set()


def test_entities_spread_over_source_partitions_keep_each_partitions_order(kafka_bootstrap, tmp_path):  # noqa: F811
    """What holds when an entity's events come from several source partitions: each
    source partition's subsequence keeps its order, and the interleaving — the
    repartitioner's read order — is what every reader of the repartition topic sees."""
    topic = f"repart-spread-{uuid.uuid4().hex[:10]}"
    create_topics(kafka_bootstrap, {topic: 3})
    payloads = [orjson.dumps({**orjson.loads(p), "n": i}) for i, p in enumerate(PAYLOADS[:6000])]
    produce_unkeyed(kafka_bootstrap, topic, payloads, ARRIVALS[:6000], partitions=3, seed=12, by_entity=False)
    config = RepartitionConfig(bootstrap=kafka_bootstrap, source_topic=topic, key_field="user_id", partitions=2,
                               batch_size=700, stop_at_end=True)
    with Repartitioner(config) as repartitioner:
        stats = repartitioner.run()
    assert stats.records == stats.repartitioned == 6000

    source = read_topic(kafka_bootstrap, topic)
    target = read_topic(kafka_bootstrap, config.target)
    origin = {orjson.loads(value)["n"]: partition for partition, _, _, value, _ in source}
    sequences: dict[tuple[str, int], list[int]] = {}
    for _, _, key, value, _ in target:
        n = orjson.loads(value)["n"]
        sequences.setdefault((key.decode(), origin[n]), []).append(n)
    assert sum(len(s) for s in sequences.values()) == 6000
    assert all(s == sorted(s) for s in sequences.values()), "per (entity, source partition) order is kept"
    assert len({user for user, _ in sequences}) < len(sequences), "some entity really spans source partitions"
    assert read_topic(kafka_bootstrap, config.target) == target, "a replay reads the same order"


_SHIFT = 40 * 86_400_000
KILL_PAYLOADS = DOUBLE_PAYLOADS + [
    orjson.dumps({**orjson.loads(p), "ts": orjson.loads(p)["ts"] + _SHIFT}) for p in DOUBLE_PAYLOADS
]
KILL_ARRIVALS = DOUBLE_ARRIVALS + [a + _SHIFT for a in DOUBLE_ARRIVALS]


def test_sigkilled_repartitioner_writes_every_record_exactly_once(kafka_bootstrap, tmp_path):  # noqa: F811
    topic = f"repart-kill-{uuid.uuid4().hex[:10]}"
    create_topics(kafka_bootstrap, {topic: 3})
    produce_unkeyed(kafka_bootstrap, topic, KILL_PAYLOADS, KILL_ARRIVALS, partitions=3, seed=13, by_entity=False)
    features = tmp_path / "features.py"
    features.write_text(FEATURES.format(topic=topic))
    group = f"streamfeat-repartition.{topic}.by-user_id"

    rng = random.Random(20261128)
    progress, waits = [], []
    total = len(KILL_PAYLOADS)
    while len([p for p in progress if 0 < p < total]) < 4:
        assert len(progress) < 25, f"too little progress between kills: {progress}"
        process = start_repartition(features, kafka_bootstrap, partitions=2, stop_at_end=False, batch=100)
        waits.append(round(rng.uniform(0.8, 2.5), 2))  # start-up ~1 s: some kills land in it, most mid-stream
        time.sleep(waits[-1])
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        progress.append(group_committed(kafka_bootstrap, group, topic))
    print(f"kills after {waits} s; source offsets committed after each kill: {progress}")
    assert progress == sorted(progress), "committed progress never goes backwards"
    final = start_repartition(features, kafka_bootstrap, partitions=2, stop_at_end=True, batch=1000)
    _out, err = final.communicate(timeout=300)
    assert final.returncode == 0, err.decode()[-2000:]
    assert group_committed(kafka_bootstrap, group, topic) == total

    target = f"{topic}.by-user_id"
    committed = read_topic(kafka_bootstrap, target)
    everything = read_topic(kafka_bootstrap, target, isolation="read_uncommitted")
    print(f"{len(committed)} committed records; {len(everything) - len(committed)} more in aborted transactions")
    assert len(committed) == total
    assert Counter(value for *_, value, _ in committed) == Counter(KILL_PAYLOADS)
    assert Counter((key, value, stamp) for _, _, key, value, stamp in committed) == Counter(
        (user_of(p).encode(), p, a) for p, a in zip(KILL_PAYLOADS, KILL_ARRIVALS, strict=True)
    )
    assert read_topic(kafka_bootstrap, f"{topic}.dead-letters") == []


def test_records_without_a_usable_key_go_to_dead_letters(kafka_bootstrap, tmp_path):  # noqa: F811
    topic = f"repart-dead-{uuid.uuid4().hex[:10]}"
    create_topics(kafka_bootstrap, {topic: 2})
    good = PAYLOADS[:50]
    bad = [b'{"merchant_id": "m1", "amount": 1.0, "ts": 5}', b"not json", b'{"user_id": null}', b"[1]"]
    numeric = b'{"user_id": 42, "merchant_id": "m1", "amount": 1.0, "ts": 5}'
    payloads = good + bad + [numeric]
    produce_unkeyed(kafka_bootstrap, topic, payloads, ARRIVALS[: len(payloads)], partitions=2, seed=14,
                    by_entity=False)
    config = RepartitionConfig(bootstrap=kafka_bootstrap, source_topic=topic, key_field="user_id", stop_at_end=True)
    with Repartitioner(config) as repartitioner:
        stats = repartitioner.run()
    assert (stats.records, stats.repartitioned, stats.dead_letters) == (len(payloads), len(good) + 1, len(bad))

    source = {value: (partition, offset) for partition, offset, _, value, _ in read_topic(kafka_bootstrap, topic)}
    letters = [orjson.loads(value) for *_, value, _ in read_topic(kafka_bootstrap, f"{topic}.dead-letters")]
    assert sorted(letter["reason"] for letter in letters) == sorted(
        [Reason.MISSING_FIELD, Reason.MALFORMED_JSON, Reason.WRONG_TYPE, Reason.NOT_AN_OBJECT]
    )
    for letter in letters:  # the format of streamfeat.ingest.DeadLetter.to_json
        assert set(letter) == {"reason", "detail", "topic", "partition", "offset", "payload"}
        assert letter["topic"] == topic and letter["detail"]
        assert source[letter["payload"].encode()] == (letter["partition"], letter["offset"])
    target = read_topic(kafka_bootstrap, config.target)
    assert len(target) == len(good) + 1 and (b"42", numeric) in {(key, value) for _, _, key, value, _ in target}


def test_a_second_repartitioner_with_the_same_group_fences_the_first(kafka_bootstrap):  # noqa: F811
    import pytest

    from streamfeat.repartition import RepartitionError

    topic = f"repart-fence-{uuid.uuid4().hex[:10]}"
    create_topics(kafka_bootstrap, {topic: 2})
    produce_unkeyed(kafka_bootstrap, topic, PAYLOADS[:3000], ARRIVALS[:3000], partitions=2, seed=15, by_entity=False)
    config = RepartitionConfig(bootstrap=kafka_bootstrap, source_topic=topic, key_field="user_id", batch_size=500,
                               stop_at_end=True)
    first = Repartitioner(config)
    try:
        assert first.step() > 0
        with Repartitioner(config) as second:  # same group, same transactional.id: fences the first
            with pytest.raises(RepartitionError):
                for _ in range(20):
                    first.step()
            second.run()
    finally:
        first.close()
    target = read_topic(kafka_bootstrap, config.target)
    assert Counter(value for *_, value, _ in target) == Counter(PAYLOADS[:3000])
