"""Smoke test: the streaming benchmark runs end to end on a tiny W1 prefix over a real broker."""

from __future__ import annotations

import json

from confluent_kafka.admin import AdminClient

import numpy as np
import orjson
import pytest

import benchmarks.streaming
from benchmarks.streaming import (
    MeasuredEvents,
    _run_online_store,
    keep_from_text,
    main,
    match_polls,
    paced_events,
    recent,
    windows_keep_events_from,
)
from streamfeat.workload import DAY_MS, W1, generate
from tests.services.fixtures import kafka_bootstrap  # noqa: F401


def test_tiny_run_writes_the_report_and_cleans_up(tmp_path, kafka_bootstrap: str) -> None:  # noqa: F811
    before = set(AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics)
    args = ["--events", "5000", "--partitions", "2", "--skip-entities", "--freshness-seconds", "2",
            "--freshness-event-times", "live"]  # the default, recent, is covered by test_freshness_quick
    report = main([*args, "--bootstrap", kafka_bootstrap, "--out", str(tmp_path)])
    written = json.loads((tmp_path / "streaming.json").read_text())
    assert written == report
    assert {"cpu", "cores", "python", "load_average_at_start", "git_commit"} <= written["machine"].keys()
    assert written["parameters"]["events"] == 5_000 and written["parameters"]["partitions"] == 2
    assert written["workload"]["is_w1"] and written["workload"]["events"] == 5_000
    assert written["workload"]["event_times"] == "recent" and written["workload"]["shift_days"] > 0
    assert written["produce"]["events"] == 5_000 and written["produce"]["produce_events_per_s"] > 0
    for name in ("consume_only", "consume_decode", "read_only", "read_decode"):
        assert written["ceilings"][name]["events"] == 5_000 and written["ceilings"][name]["events_per_s"] > 0
    assert written["ceilings"]["read_only"]["native_reader"]  # the flow's own reader, librdkafka read directly
    e2e = written["end_to_end"]
    assert e2e["records"] == 5_000 and e2e["accepted"] + e2e["late"] + e2e["dead_letters"] == 5_000
    assert e2e["events_per_s"] > 0 and e2e["online_writes"] > 0 and e2e["peak_rss_bytes"] > 0
    assert e2e["flow_cpu_seconds"] > 0 and e2e["flow_cpu_us_per_event"] > 0  # the flow's own CPU, measured
    assert e2e["state_on_disk"]["rocksdb_bytes"] > 0 and e2e["state_on_disk"]["online_store_bytes"] > 0
    assert 0 < e2e["ratio_to_consume_only"] and 0 < e2e["ratio_to_consume_decode"]
    assert 0 < e2e["ratio_to_read_only"] and 0 < e2e["ratio_to_read_decode"]
    assert written["memory_vs_entities"] == {"skipped": True}
    fresh = written["freshness"]
    assert fresh["status"] == "measured" and fresh["samples"] > 0 and fresh["unresolved"] == 0
    assert fresh["event_times"] == "live"
    assert "every window holds the whole run" in (tmp_path / "streaming.md").read_text()
    assert 0 < fresh["p50_ms"] <= fresh["p99_ms"] <= fresh["max_ms"]
    table = (tmp_path / "streaming.md").read_text()
    assert "streamfeat run end to end" in table and "Freshness" in table
    # where the machine's time went meanwhile: the flow's share and what the producer and broker took
    assert "this benchmark's producer and reader" in table and "p99 ms per 5 s of production" in table
    assert fresh["cpu"]["peak_rss_mb"]["benchmark"] > 0
    after = set(AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics)
    assert not {t for t in after - before if t.startswith("bench-")}, "benchmark topics were left behind"


def test_recent_moves_the_stream_by_whole_days_to_end_before_now() -> None:
    now = 1_795_000_000_000  # a fixed "now" (2026-11-18)
    for events in (1_000, 200_000):
        spec = recent(W1, events, now_ms=now)
        shift = spec.start_ms - W1.start_ms
        assert shift > 0 and shift % DAY_MS == 0
        stream, original = generate(spec, limit=events), generate(W1, limit=events)
        assert (stream.event_time - original.event_time == shift).all() and (stream.user == original.user).all()
        newest = int(max(stream.event_time.max(), stream.arrival.max()))
        assert now - 3 * DAY_MS < newest <= now  # populated recent windows, nothing in the future
    assert recent(W1, 1_000, now_ms=W1.start_ms) == W1  # never moved backwards


def test_windows_keep_events_once_the_stream_comes_within_their_size_of_arrival() -> None:
    """Sent live, the recent stream's events arrive long after they happened; an operator
    drops what no read as of its arrival can include, so each window starts keeping events
    at the first event that arrives less than its size after it happened."""
    from streamfeat.examples.transactions import user_txn

    rate = 1_000.0
    arrivals = 2_000_000_000_000 + np.arange(50_000) * 1  # one a millisecond: 50 s of production
    # 40 days late at the start, 2 days late at the end, linearly
    delays = np.linspace(40 * DAY_MS, 2 * DAY_MS, len(arrivals)).astype(np.int64)
    kept = windows_keep_events_from(user_txn, arrivals - delays, arrivals, rate)
    assert list(kept) == ["1h", "7d", "30d", "365d"]  # the view's sliding windows, smallest first
    assert kept["1h"] is None and kept["365d"] == 0.0
    # 30 days late at 10/38 of the stream, 7 days late at 33/38
    assert kept["30d"] == pytest.approx(50 * 10 / 38, abs=0.1) and kept["7d"] == pytest.approx(50 * 33 / 38, abs=0.1)
    text = keep_from_text(kept)
    assert "1h never, 7d from 43.4 s, 30d from 13.2 s, 365d from 0.0 s" in text
    assert keep_from_text(None) == "" and keep_from_text({}) == ""


def test_paced_events_encodes_a_slice_at_a_time_as_the_whole_stream_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = generate(W1, limit=1_000)
    times, arrivals = batch.event_time + 5, batch.arrival + 7
    users = batch.user_ids()
    watched = sorted(set(users[::3]))
    monkeypatch.setattr(benchmarks.streaming, "ENCODE_SLICE", 64)  # slices end mid-stream
    values, keys, measured = paced_events(batch, times, arrivals, watched)
    assert keys == [user.encode() for user in users]
    expected = [{**record, "ts": int(ts), "arrival": int(at)} for record, ts, at in zip(batch.records(), times, arrivals)]
    assert [orjson.loads(value) for value in values] == expected
    # the measured events: each watched user's events newer than all its earlier ones
    newest: dict[str, int] = {}
    wanted = []
    for i, (user, ts) in enumerate(zip(users, times.tolist())):
        if user in watched and ts > newest.get(user, -1):
            wanted.append((user, ts, i))
            newest[user] = ts
    got = [(measured.users[u], ts, i) for u, ts, i in
           zip(measured.user.tolist(), measured.event_time.tolist(), measured.position.tolist())]
    assert got == wanted and len(got) > 100
    assert measured.newest().tolist() == [newest.get(user, -1) for user in watched]


def test_match_polls_times_each_event_to_the_first_poll_that_saw_its_user_reach_it() -> None:
    measured = MeasuredEvents(
        ["a", "b", "c"],
        user=np.array([0, 1, 0, 1, 0]),
        event_time=np.array([100, 50, 200, 60, 300]),
        position=np.arange(5),
    )
    sent = np.array([1.0, 1.1, 1.2, 1.15, 1.4])
    poll_times = np.array([1.05, 1.25, 1.5, 2.0])
    seen = np.array([  # per poll, the stored event time of a, b, c (-1: none yet)
        [-1, -1, -1],
        [100, 60, -1],  # a's first event; b's second, and so its first, at once
        [250, 55, -1],  # b read lower than before still counts as 60
        [250, 60, -1],
    ])
    latencies, sent_seen = match_polls(measured, sent, poll_times, seen)
    # a@100 and b@50, b@60 at poll 1, a@200 at poll 2; a@300 never seen (left out)
    assert np.allclose(latencies, [0.25, 0.15, 0.3, 0.1]) and np.allclose(sent_seen, [1.0, 1.1, 1.2, 1.15])
    assert len(match_polls(measured, sent, np.array([]), np.empty((0, 3), dtype=np.int64))[0]) == 0


def test_an_online_store_flag_with_run_gets_a_new_file_per_measurement():
    assert _run_online_store(["-w", "1"]) == (["-w", "1"], None, None)
    assert _run_online_store(["--online-store", "/tmp/x.lmdb"]) == (["--online-store", "/tmp/x.lmdb"], "/tmp/x.lmdb", None)
    first, second = (_run_online_store(["--online-store", "/dev/shm/s-{run}.lmdb", "-w", "2"]) for _ in range(2))
    assert first[0][1] == first[1] == str(first[2]) and first[0][2:] == ["-w", "2"]
    assert first[1].startswith("/dev/shm/s-run-") and "{run}" not in first[1] and first[1] != second[1]


def test_the_native_paced_producer_sends_what_confluent_kafka_sends(kafka_bootstrap: str) -> None:  # noqa: F811
    """Same values, keys, timestamps and partitions (by key) as confluent-kafka's ``produce``,
    for records sent in ranges; on a real broker."""
    import time
    import uuid

    from confluent_kafka import Consumer, Producer

    from benchmarks.streaming import PRODUCER_CONFIG, create_topic, delete_topics, native_paced_producer

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    names = [f"bench-native-producer-{uuid.uuid4().hex[:8]}-{side}" for side in ("native", "python")]
    for name in names:
        create_topic(admin, name, 4)
    rng = np.random.default_rng(52)
    n = 3_000
    keys = [f"u{k}".encode() for k in rng.integers(0, 500, n).tolist()]
    values = [orjson.dumps({"i": i, "pad": "x" * int(rng.integers(0, 50))}) for i in range(n)]
    stamps = 1_790_000_000_000 + np.arange(n, dtype=np.int64) * 7
    config = {"bootstrap.servers": kafka_bootstrap, **PRODUCER_CONFIG, "linger.ms": 5}
    try:
        native = native_paced_producer(config, names[0], values, keys, stamps)
        assert native is not None, "the native module is built in the test environment"
        assert len(native) == n
        for start in range(0, n, 700):  # ranges, the last one past the end
            assert native.send(start, start + 700) == min(700, n - start)
        assert native.flush(30_000) == 0 and native.deliveries() == (n, 0, None)
        native.close()
        python = Producer(config)
        for i in range(n):
            python.produce(names[1], values[i], keys[i], timestamp=int(stamps[i]))
        assert python.flush(30) == 0

        def read(topic: str) -> dict[int, tuple[bytes, bytes, int, int]]:
            consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": topic, "auto.offset.reset": "earliest"})
            consumer.subscribe([topic])
            got: dict[int, tuple[bytes, bytes, int, int]] = {}
            deadline = time.monotonic() + 60
            try:
                while len(got) < n and time.monotonic() < deadline:
                    for message in consumer.consume(1000, 10):
                        assert message.error() is None
                        got[orjson.loads(message.value())["i"]] = (
                            message.value(), message.key(), message.timestamp()[1], message.partition())
            finally:
                consumer.close()
            return got

        sent, expected = read(names[0]), read(names[1])
        assert sent == expected and {value for value, *_ in sent.values()} == set(values)
        assert [sent[i][2] for i in range(n)] == stamps.tolist()
    finally:
        delete_topics(admin, [*names])
