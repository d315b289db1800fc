"""Redis briefly unavailable during ingestion: the pipeline retries with backoff, then
catches up; nothing is lost (a real redis-server is stopped and restarted)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time

import orjson
import pytest

from streamfeat.online import BackgroundWriter, FeatureReader, RedisStore
from streamfeat.pipeline import FeaturePipeline
from streamfeat.state import RocksDBStateStore
from benchmarks.streaming import free_ports
from tests.services.fixtures import redis_url  # noqa: F401  (fixture: makes sure redis-server is installed)
from tests.streamfeat.test_pipeline import ARRIVALS, PAYLOADS, VIEWS, expected_values


def start_redis(port: int, data_dir) -> subprocess.Popen:
    """A redis-server of our own with an append-only file, so a restart keeps the data."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir), "--appendonly", "yes",
         "--appendfsync", "always", "--save", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)


@pytest.mark.parametrize("background", [False, True], ids=["each-batch", "background-writer"])
def test_redis_stopped_and_restarted_during_ingestion(redis_url, tmp_path, background):  # noqa: F811
    (port,) = free_ports(1)
    redis = start_redis(port, tmp_path)
    url = f"redis://127.0.0.1:{port}/0"
    waits = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    restarted = []
    try:
        with RocksDBStateStore(tmp_path / "state") as state:
            online = RedisStore(url, socket_timeout=1.0)
            if background:  # the writer thread retries; the pipeline waits for it at each commit
                online = BackgroundWriter(online, retry_for_s=60, sleep=sleep)
            pipeline = FeaturePipeline(VIEWS, state_store=state, online_store=online, retry_for_s=60, sleep=sleep)
            batch = 500
            for start in range(0, len(PAYLOADS), batch):
                if start == 5_000:
                    redis.terminate()
                    redis.wait(timeout=20)

                    def restart() -> None:
                        time.sleep(1.5)
                        restarted.append(start_redis(port, tmp_path))

                    threading.Thread(target=restart, daemon=True).start()
                stop = min(start + batch, len(PAYLOADS))
                pipeline.process("transactions", 0, list(range(start, stop)), PAYLOADS[start:stop], ARRIVALS[start:stop])
            assert waits, "the outage was never noticed"
            assert state.offsets()[("transactions", 0)] == len(PAYLOADS)

            t = max(ARRIVALS) + 3_600_000
            want = expected_values(PAYLOADS, ARRIVALS, t)
            reader = FeatureReader(online, VIEWS)
            for view in VIEWS:
                keys = sorted({orjson.loads(p)[view.entity.key] for p in PAYLOADS})
                got = {v.entity: v.values for v in reader.get_many(view.name, keys, at=t)}
                assert got == want[view.name]
            online.close()
    finally:
        for process in [redis, *restarted]:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=20)


def test_a_redis_that_lost_its_keys_gets_every_state_back_at_start(redis_url, tmp_path):  # noqa: F811
    """The flow is down and Redis loses its keys (flushed, replaced by an empty server): the
    next start publishes every committed state again, entities with no new event too."""
    import uuid

    import redis as redis_py

    prefix = f"sf-test-{uuid.uuid4().hex[:12]}"
    client = redis_py.Redis.from_url(redis_url)
    try:
        with RocksDBStateStore(tmp_path / "state") as state:
            with RedisStore(redis_url, key_prefix=prefix) as online:
                pipeline = FeaturePipeline(VIEWS, state_store=state, online_store=online)
                pipeline.process("transactions", 0, list(range(3_000)), PAYLOADS[:3_000], ARRIVALS[:3_000])
                pipeline.commit(final=True)
            lost = list(client.scan_iter(match=prefix + ":*", count=1000))
            assert lost and client.delete(*lost) == len(lost)
            with RedisStore(redis_url, key_prefix=prefix) as online:
                restarted = FeaturePipeline(VIEWS, state_store=state, online_store=online)
                t = max(ARRIVALS[:3_000]) + 3_600_000
                want = expected_values(PAYLOADS[:3_000], ARRIVALS[:3_000], t)
                assert restarted.seeded == {name: len(values) for name, values in want.items()}
                reader = FeatureReader(online, VIEWS)
                for view in VIEWS:
                    got = {v.entity: v.values for v in reader.get_many(view.name, sorted(want[view.name]), at=t)}
                    assert got == want[view.name]
    finally:
        keys = list(client.scan_iter(match=prefix + ":*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
