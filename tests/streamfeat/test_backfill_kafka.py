"""Backfill against a real Kafka broker: topic replays, live handover, and measured parity.

* A training set replayed from a topic equals the one replayed from the same events in a
  file (arrival = record timestamp = the file's arrival field).
* Handover: bootstrap state from the first half of a topic, stream the rest with
  ``streamfeat run``; every value equals a single streaming run over all of it.
* Parity (issue 4): stream a generated topic — out-of-order and late events, a daily
  refresh with a publish lag — through the live runtime in chunks, with kill -9
  restarts; after each chunk read random (entity, time) points through a reader with a
  controlled clock that logs what it served; then ``check_parity`` backfills the same
  points from the topic: zero mismatches.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
import uuid

import orjson
import pandas as pd

from streamfeat.backfill import bootstrap_from_kafka, get_training_set
from streamfeat.clock import ManualClock
from streamfeat.history import JsonlHistory, KafkaHistory
from streamfeat.kafka_io import ensure_topics
from streamfeat.loader import load_views
from streamfeat.online import FeatureReader, JsonlServedLog, LmdbStore
from streamfeat.parity import check_parity, read_served_log
from tests.services.fixtures import kafka_bootstrap  # noqa: F401  (fixture)
from tests.streamfeat.test_cluster_restart import free_ports, records_read
from tests.streamfeat.test_compile import produce
from tests.streamfeat.test_crash_recovery import FEATURES, committed, start, values
from tests.streamfeat.test_pipeline import ARRIVALS, PAYLOADS

DAY = 86_400_000

# The stream twice (the copy 40 days later, after every arrival of the first), so the
# chunks streamed with kills take long enough for a kill to land mid-stream.
LONG_PAYLOADS = PAYLOADS + [
    orjson.dumps({**orjson.loads(p), "ts": orjson.loads(p)["ts"] + 40 * DAY}) for p in PAYLOADS
]
LONG_ARRIVALS = ARRIVALS + [a + 40 * DAY for a in ARRIVALS]


def _setup(bootstrap: str, tmp_path, partitions: int):  # type: ignore[no-untyped-def]
    topic = f"backfill-{uuid.uuid4().hex[:10]}"
    ensure_topics(bootstrap, {topic: partitions, f"{topic}.dead-letters": 1, f"{topic}.late": 1})
    features = tmp_path / "features.py"
    features.write_text(FEATURES.format(topic=topic))
    (view,) = load_views(features)
    return topic, features, view


def test_topic_replay_equals_file_replay(kafka_bootstrap, tmp_path):  # noqa: F811
    topic, _features, view = _setup(kafka_bootstrap, tmp_path, 3)
    payloads, arrivals = PAYLOADS[:8_000] + [b"not json"], ARRIVALS[:8_000] + [ARRIVALS[7_999]]
    produce(kafka_bootstrap, topic, payloads, arrivals)
    lines = []
    for payload, arrival in zip(payloads, arrivals):
        try:
            lines.append(orjson.dumps({**orjson.loads(payload), "arrival": arrival}))
        except orjson.JSONDecodeError:
            lines.append(payload)
    (tmp_path / "h.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    rng = random.Random(11)
    keys = sorted({orjson.loads(p)["user_id"] for p in payloads[:-1]})
    spine = pd.DataFrame(
        {"user_id": [rng.choice(keys) for _ in range(500)], "ts": [rng.randint(arrivals[0], arrivals[-1] + 3 * DAY) for _ in range(500)]}
    )
    from_file = get_training_set(spine, view, JsonlHistory([tmp_path / "h.jsonl"], topic=topic))
    from_topic = get_training_set(spine, view, KafkaHistory(kafka_bootstrap, topic))
    pd.testing.assert_frame_equal(from_file, from_topic)
    assert from_topic["count_lifetime"].sum() > 0


def test_backfill_then_live_equals_one_streaming_run(kafka_bootstrap, tmp_path):  # noqa: F811
    topic, features, view = _setup(kafka_bootstrap, tmp_path, 2)
    produce(kafka_bootstrap, topic, PAYLOADS, ARRIVALS)

    straight = tmp_path / "straight"
    run = start(features, kafka_bootstrap, straight)
    assert run.wait(timeout=300) == 0, run.stderr.read().decode()[-2000:]

    handover = tmp_path / "handover"
    half = ARRIVALS[len(ARRIVALS) // 2]
    report = bootstrap_from_kafka([view], kafka_bootstrap, state_dir=handover, until=half, batch_size=500)
    assert 0 < report.records < len(PAYLOADS)
    assert committed(handover, topic) == report.records == sum(a < half for a in ARRIVALS)
    run = start(features, kafka_bootstrap, handover)
    assert run.wait(timeout=300) == 0, run.stderr.read().decode()[-2000:]
    assert committed(handover, topic) == committed(straight, topic) == len(PAYLOADS)

    keys = sorted({orjson.loads(p)["user_id"] for p in PAYLOADS})
    for t in (max(ARRIVALS), max(ARRIVALS) + DAY, max(ARRIVALS) + 40 * DAY):
        want = values(straight, features, keys, t)
        got = values(handover, features, keys, t)
        assert {k: (want[k], got[k]) for k in keys if want[k] != got[k]} == {}


def _chunks(arrivals: list[int], n: int) -> list[tuple[int, int]]:
    """``n`` index ranges of the arrival-ordered stream, cut where the arrival changes, so
    every arrival of a chunk is below every arrival of the next."""
    bounds = [0]
    for c in range(1, n):
        cut = c * len(arrivals) // n
        while cut < len(arrivals) and arrivals[cut] == arrivals[cut - 1]:
            cut += 1
        bounds.append(cut)
    bounds.append(len(arrivals))
    return list(zip(bounds, bounds[1:]))


def test_served_values_equal_backfill_with_kill9_restarts(kafka_bootstrap, tmp_path):  # noqa: F811
    payloads, arrivals = LONG_PAYLOADS, LONG_ARRIVALS
    assert arrivals == sorted(arrivals)
    topic, features, view = _setup(kafka_bootstrap, tmp_path, 2)
    state_dir = tmp_path / "live"
    served = tmp_path / "served.jsonl"
    log = JsonlServedLog(served)
    clock = ManualClock(0)
    rng = random.Random(4242)
    keys = sorted({orjson.loads(p)["user_id"] for p in payloads}) + ["never-seen"]
    kills = 0
    for number, (lo, hi) in enumerate(_chunks(arrivals, 5)):
        produce(kafka_bootstrap, topic, payloads[lo:hi], arrivals[lo:hi])
        for _attempt in range(4 if number else 0):  # kill -9 mid-chunk (retry if the run was quicker)
            # Kill once this run has read a random share of what is left of the chunk (its
            # metrics say how much), so the kill lands mid-stream however fast or slow the
            # start-up and the run are on a shared machine.
            threshold = int(rng.uniform(0.05, 0.6) * (hi - committed(state_dir, topic)))
            (port,) = free_ports(1)
            process = start(features, kafka_bootstrap, state_dir, metrics_port=port)
            deadline = time.monotonic() + 120
            while records_read(port) < threshold and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            finished = process.poll() is not None
            if not finished:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait(timeout=30)
            if finished or committed(state_dir, topic) < hi:
                break
        process = start(features, kafka_bootstrap, state_dir)
        assert process.wait(timeout=300) == 0, process.stderr.read().decode()[-2000:]
        assert committed(state_dir, topic) == hi
        # Serve as of times up to the end of what was ingested: a clock behind an entity's
        # newest arrival is evaluated at that arrival (the reader logs the time it used).
        with LmdbStore(state_dir / "online.lmdb", readonly=True) as online:
            reader = FeatureReader(online, [view], clock=clock, served_log=log)
            for _ in range(240):
                clock.set(rng.randint(arrivals[lo] - 2 * DAY, arrivals[hi - 1]))
                if rng.random() < 0.2:
                    reader.get_many(view.name, rng.sample(keys, 5))
                else:
                    reader.get(view.name, rng.choice(keys))
    log.close()
    print(f"kill -9 landed {kills} times mid-stream")
    assert kills >= 3, f"only {kills} kill(s) landed while the dataflow ran"

    answers = read_served_log([served])
    assert len(answers) >= 1_000
    assert len({(a.entity, a.as_of) for a in answers}) >= 900
    report = check_parity([view], answers, KafkaHistory(kafka_bootstrap, topic))
    print(report.render())
    assert report.replay is not None and sum(report.replay.late.values()) > 0, "the stream should hold late events"
    assert report.ok, report.render()
    assert report.answers == len(answers)

    # The CLI gate agrees, and fails on a tampered log.
    cli = [sys.executable, "-m", "streamfeat.cli", "parity", str(features), "--bootstrap-servers", kafka_bootstrap,
           "--no-progress", "--served-log"]
    done = subprocess.run([*cli, str(served)], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stdout.decode()[-2000:] + done.stderr.decode()[-2000:]
    assert b"OK: zero mismatches" in done.stdout
    tampered = tmp_path / "tampered.jsonl"
    lines = served.read_bytes().splitlines()
    record = orjson.loads(lines[7])
    record["values"]["count_lifetime"] += 1
    lines[7] = orjson.dumps(record)
    tampered.write_bytes(b"\n".join(lines) + b"\n")
    done = subprocess.run([*cli, str(tampered)], capture_output=True, timeout=300)
    assert done.returncode == 1
    assert b"user_txn:count_lifetime" in done.stdout and b"FAIL: 1 mismatches" in done.stdout
