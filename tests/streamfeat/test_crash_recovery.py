"""Exactly-once in effect: SIGKILL the running dataflow at random moments, restart it
each time, and compare every value with an uninterrupted run — zero differences."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from streamfeat.loader import load_views
from streamfeat.online import FeatureReader, LmdbStore
from streamfeat.state import RocksDBStateStore
from tests.services.fixtures import kafka_bootstrap  # noqa: F401  (fixture)
from tests.streamfeat.test_compile import produce
from tests.streamfeat.test_pipeline import ARRIVALS as FIRST_ARRIVALS
from tests.streamfeat.test_pipeline import PAYLOADS as FIRST_PAYLOADS

# Twice the generated stream (the copy 20 days later), so that six kills all land mid-stream.
_SHIFT = 20 * 86_400_000
PAYLOADS = FIRST_PAYLOADS + [
    orjson.dumps({**orjson.loads(p), "ts": orjson.loads(p)["ts"] + _SHIFT}) for p in FIRST_PAYLOADS
]
ARRIVALS = FIRST_ARRIVALS + [a + _SHIFT for a in FIRST_ARRIVALS]

FEATURES = '''
from streamfeat import *
source = Source("transactions", topic={topic!r}, timestamp="ts",
                schema={{"user_id": str, "merchant_id": str, "amount": float, "ts": int}})
user_txn = FeatureView("user_txn", entity=Entity("user", key="user_id"), source=source, allowed_lateness="5m",
    features=[
        Count(window=Lifetime()),
        Count(window=Sliding("30d", tile="1d"), refresh="1d", publish_lag="2h"),
        Sum("amount", window=Sliding("7d")),
        Max("amount", window=Sliding("3d")),
        ApproxDistinct("merchant_id", window=Sliding("7d")),
        LastN("merchant_id", n=3),
    ])
'''


def stream_topic(
    bootstrap: str, directory: Path, prefix: str, partitions: int, payloads=PAYLOADS, arrivals=ARRIVALS
) -> tuple[str, Path]:
    """A new topic holding ``payloads`` (keyed by user), and a features file in ``directory`` reading it."""
    from streamfeat.kafka_io import ensure_topics

    topic = f"{prefix}-{uuid.uuid4().hex[:10]}"
    ensure_topics(bootstrap, {topic: partitions})
    produce(bootstrap, topic, payloads, arrivals)
    features = directory / "features.py"
    features.write_text(FEATURES.format(topic=topic))
    return topic, features


def start(
    features: Path, bootstrap: str, state_dir: Path, *, workers: int = 2, metrics_port: int | None = None,
    commit_interval: str | None = None, extra_flags: Sequence[str] = (),
) -> subprocess.Popen:
    extra = [] if metrics_port is None else ["--metrics-port", str(metrics_port)]
    if commit_interval is not None:
        extra += ["--commit-interval", commit_interval]
    extra += extra_flags
    return subprocess.Popen(
        [sys.executable, "-m", "streamfeat.cli", "run", str(features), "--bootstrap-servers", bootstrap,
         "--state-dir", str(state_dir), "--stop-at-end", "--batch-size", "40", "-w", str(workers), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def committed(state_dir: Path, topic: str) -> int:
    total = 0
    for part in state_dir.glob(f"{topic}-*"):
        with RocksDBStateStore(part) as store:
            total += sum(store.offsets().values())
    return total


def values(state_dir: Path, features: Path, keys: list[str], t: int) -> dict:
    (view,) = load_views(features)
    with LmdbStore(state_dir / "online.lmdb", readonly=True) as online:
        return {v.entity: v.values for v in FeatureReader(online, [view]).get_many(view.name, keys, at=t)}


# Without the write-ahead log a commit is durable at the next memtable flush: flushed at
# the first commit 250 ms after the last one here, so that kills land between durable commits.
DURABILITY = {"wal": ["--state-wal", "on"], "no-wal": ["--state-wal", "off", "--state-flush-interval", "250ms"]}


@pytest.mark.parametrize("durability", list(DURABILITY))
def test_sigkill_at_random_moments_changes_nothing(kafka_bootstrap, tmp_path, durability):  # noqa: F811
    topic, features = stream_topic(kafka_bootstrap, tmp_path, "crash", 2)

    straight = tmp_path / "straight"
    done = start(features, kafka_bootstrap, straight)
    assert done.wait(timeout=300) == 0, done.stderr.read().decode()[-2000:]

    from benchmarks.streaming import free_ports
    from tests.streamfeat.test_cluster_restart import records_read

    rng = random.Random(20261127)
    crashed = tmp_path / "crashed"
    progress = []  # events committed after each kill
    while len([p for p in progress if 0 < p < len(PAYLOADS)]) < 5:
        assert len(progress) < 15, f"the dataflow makes too little progress between kills: {progress}"
        done_before = progress[-1] if progress else 0
        # Kill once this run has read a random share of what is left (its metrics say how
        # much), so the kill lands mid-stream however slow start-up is on a busy machine;
        # sometimes right after start-up, before anything was committed. Commits every
        # 250 ms: a run reads the stream in a few seconds, and with the default second
        # most kills landed before a run's first commit, leaving nothing but the replay
        # of uncommitted batches to test.
        threshold = int(rng.uniform(0.0, 0.3) * (len(PAYLOADS) - done_before))
        (port,) = free_ports(1)
        process = start(features, kafka_bootstrap, crashed, metrics_port=port, commit_interval="250ms",
                        extra_flags=DURABILITY[durability])
        deadline = time.monotonic() + 120
        while records_read(port) < threshold and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process.poll() is None, f"the run finished before its kill; committed so far: {progress}"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        progress.append(committed(crashed, topic))
    print("committed offsets after each kill:", progress)
    assert progress == sorted(progress), "committed offsets never go backwards"
    final = start(features, kafka_bootstrap, crashed, extra_flags=DURABILITY[durability])
    assert final.wait(timeout=300) == 0, final.stderr.read().decode()[-2000:]
    assert committed(crashed, topic) == committed(straight, topic) == len(PAYLOADS)

    keys = sorted({orjson.loads(p)["user_id"] for p in PAYLOADS})
    for t in (max(ARRIVALS), max(ARRIVALS) + 86_400_000, max(ARRIVALS) + 40 * 86_400_000):
        want = values(straight, features, keys, t)
        got = values(crashed, features, keys, t)
        differences = {k: (want[k], got[k]) for k in keys if want[k] != got[k]}
        assert differences == {}


def test_two_processes_equal_one_worker(kafka_bootstrap, tmp_path):  # noqa: F811
    """A 2-process bytewax cluster over 4 partitions gives the values of a single worker."""
    from benchmarks.streaming import free_ports

    topic, features = stream_topic(kafka_bootstrap, tmp_path, "cluster", 4, FIRST_PAYLOADS, FIRST_ARRIVALS)

    single = start(features, kafka_bootstrap, tmp_path / "single", workers=1)
    assert single.wait(timeout=300) == 0, single.stderr.read().decode()[-2000:]

    addresses = ";".join(f"127.0.0.1:{port}" for port in free_ports(2))
    cluster_dir = tmp_path / "cluster"
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "streamfeat.cli", "run", str(features), "--bootstrap-servers", kafka_bootstrap,
             "--state-dir", str(cluster_dir), "--stop-at-end", "-i", str(i), "-a", addresses],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read().decode()[-2000:]
    assert committed(cluster_dir, topic) == committed(tmp_path / "single", topic) == len(FIRST_PAYLOADS)
    keys = sorted({orjson.loads(p)["user_id"] for p in FIRST_PAYLOADS})
    t = max(FIRST_ARRIVALS) + 3_600_000
    assert values(cluster_dir, features, keys, t) == values(tmp_path / "single", features, keys, t)
