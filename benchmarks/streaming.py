"""End-to-end streaming throughput over a real Kafka broker, against its ceilings.

Run ``python -m benchmarks.streaming [--events N] [--partitions P] [--workers W]
[--quick] [--online embedded|redis] [--out DIR]``.

One run:

1. uses the Kafka broker at ``--bootstrap`` / ``STREAMFEAT_KAFKA_BOOTSTRAP``, or starts
   ``deploy/local/kafka.sh`` on its own port (19292) (stopped again at the end when this run started it);
2. creates a fresh topic (P partitions, unlimited retention) and produces a prefix of
   :data:`~streamfeat.workload.W1` to it — JSON values (orjson), keyed by ``user_id``,
   Kafka timestamp = the event's arrival time — with a batched lz4 producer, timing the
   produce calls and the final flush. By default (``--event-times recent``) the stream is
   moved forward by whole days so that the prefix ends about a day before the run
   (:func:`recent`): the flow reads its values as of the wall clock, and with W1's own
   times (2023, ``--event-times w1``) every sliding window would be empty by then, so
   those reads would cost less than they do in production;
3. measures four ceilings on that topic: consume-only (``consume(num_messages=10000)`` with the
   flow's :data:`~streamfeat.kafka_io.FETCH_CONFIG`
   over every partition, counting bytes) and consume+decode (plus ``orjson.loads``) through
   confluent-kafka's ``Consumer``; and, as the flow itself reads (:func:`reader_ceiling`:
   its ``PartitionReader``, librdkafka read directly, one thread per worker), read-only and
   read + the flow's decoder — since the flow stopped reading through ``Consumer`` (stop
   43) it can outrun the first two, so the ratio that says what the rest of the flow costs
   is the one to the last two;
4. runs ``streamfeat run FEATURES --bootstrap-servers ... --stop-at-end`` on the shipped
   example features (its source pointed at the topic) in a subprocess, polling its
   ``VmHWM`` for the peak resident memory, and reads the run's own summary line for
   records, seconds and online writes; then sums the state on disk;
5. memory vs entities: the same flow on two 1M-event streams with 100k and 1M users
   (a flatter user skew than W1's, so most of the users really appear);
6. freshness: with the producer paced at half the measured end-to-end rate and the flow
   running live, how long until a sampled event is visible in the embedded online store
   (each event arrives when sent; by default, ``--freshness-event-times recent``, it keeps
   the event time it had in the throughput run, so "half the maximum" is half the rate
   of the same work; ``live`` squeezes the prefix into seconds of event time instead:
   :func:`measure_freshness`);
7. writes ``benchmarks/results/streaming.{json,md}`` (written by the run, never by hand),
   deletes every topic it created and stops the services it started.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from benchmarks._common import REPO, RESULTS_DIR, machine, write_results
from benchmarks.cpu_share import CpuSampler, local_broker_pids, with_descendants
from streamfeat.kafka_io import FETCH_CONFIG
from streamfeat.loader import EXAMPLE_FEATURES
from streamfeat.online import is_redis_target
from streamfeat.workload import DAY_MS, W1, EventBatch, WorkloadSpec, generate, iter_batches

DEFAULT_EVENTS = 5_000_000
QUICK_EVENTS = 50_000
ENTITY_EVENTS = 1_000_000  # events per memory-vs-entities run
QUICK_ENTITY_EVENTS = 20_000
ENTITY_USERS = (100_000, 1_000_000)
# Flatter than W1's 1.1 so a 1M-event stream over 1M users really touches most of them
# (about 557k distinct, against about 137k with W1's skew).
ENTITY_ZIPF_S = 0.5
PRODUCE_BATCH = 100_000  # events generated and encoded at a time
FLOW_BATCH = 500_000  # streamfeat run --batch-size (its default)
CACHE_CAPACITY = 100_000  # KafkaRunConfig.cache_capacity default, reported for the record
FRESHNESS_SECONDS = 60.0  # paced production time
QUICK_FRESHNESS_SECONDS = 5.0
FRESHNESS_SAMPLE = 200  # most active users watched by the reader
FRESHNESS_POLL_S = 0.01
FRESHNESS_PROBES = ("header", "rows")  # how the reader polls (measure_freshness)
KAFKA_PORT = 19292  # the benchmark's own broker (tests use 19092)
REDIS_PORT = 16479
KAFKA_SH = REPO / "deploy" / "local" / "kafka.sh"
REDIS_SH = REPO / "deploy" / "local" / "redis.sh"
NATIVE_PRODUCER_ENV = "STREAMFEAT_BENCH_NATIVE_PRODUCER"  # 0: the paced producer calls confluent-kafka per event
TMPFS = Path("/dev/shm")  # where --online embedded-tmpfs puts the embedded store's file
PRODUCER_CONFIG = {
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 1_000_000,
    "queue.buffering.max.kbytes": 1_048_576,
    "acks": "all",
}
_SUMMARY = re.compile(
    r"([\d,]+) records from (\S+) in ([\d.]+) s; ([\d,]+) accepted, ([\d,]+) late, ([\d,]+) dead letters; "
    r"([\d,]+) online writes"
)


def recent(spec: WorkloadSpec, events: int, *, now_ms: int | None = None) -> WorkloadSpec:
    """``spec`` moved forward by whole days (tiles keep their alignment) so that its first
    ``events`` events end a day or two before ``now_ms`` (default: now).

    The prefix's end is estimated from the uniform event times (its spread is well under
    a day for any prefix of W1), plus a day of margin: no event time or Kafka timestamp
    lies in the future, and reads as of the wall clock see the recent windows populated,
    as a live deployment does — by the stream's end. Sent live, most of such a prefix
    arrives long after it happened, and an operator keeps an event only while a read as
    of its arrival or later can include it: a window starts keeping events only once the
    stream comes within its size of their arrival (:func:`windows_keep_events_from`)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    prefix_days = -(-events * spec.days // spec.events)  # ceil
    end = spec.start_ms + (prefix_days + 1) * DAY_MS
    shift_days = max(0, (now_ms - end) // DAY_MS)
    return dataclasses.replace(spec, start_ms=spec.start_ms + shift_days * DAY_MS)


def windows_keep_events_from(
    view: Any, event_times: np.ndarray, arrivals: np.ndarray, rate: float
) -> dict[str, float | None]:
    """Per window size among ``view``'s sliding windows: the second of a stream sent at
    ``rate`` from which that window keeps events — the first event that arrives less than
    the window's size after it happened (``None``: none does). An operator drops an event
    that no read as of its arrival or later can include (about: allowed lateness and tiles
    move the bound a little), so before that second the window's states stay empty and the
    flow's work per event is less than a live stream's, whose events arrive as they happen."""
    from streamfeat.durations import format_duration

    delays = np.asarray(arrivals, dtype=np.int64) - np.asarray(event_times, dtype=np.int64)
    windows = [getattr(feature, "window", None) for feature in view.features]
    sizes = sorted({size for window in windows if isinstance(size := getattr(window, "size", None), int)})
    kept: dict[str, float | None] = {}
    for size in sizes:
        first = np.flatnonzero(delays < size)
        kept[format_duration(size)] = round(float(first[0]) / rate, 1) if len(first) else None
    return kept


def keep_from_text(kept: Mapping[str, float | None] | None) -> str:
    """:func:`windows_keep_events_from` as a report's sentence ("" without it)."""
    if not kept:
        return ""
    seconds = ", ".join(f"{size} {'never' if at is None else f'from {at} s'}" for size, at in kept.items())
    return (
        f"Windows keep events (the flow drops an event no read as of its arrival or later can include): {seconds}. "
        "Until a window keeps events its states stay empty, and the flow does less per event than for a live "
        "stream, whose events arrive as they happen."
    )


# -- services -------------------------------------------------------------------------------


@contextmanager
def local_service(
    script: Path, given: str | None, name: str, port: int, *, extra: Sequence[str] = ()
) -> Iterator[dict[str, Any]]:
    """The address of a service: ``given`` as is, else ``script start --port PORT [EXTRA]``
    (stopped afterwards only when this call started it). The benchmark's own port keeps
    test sessions that start and stop the default-port servers from pulling it away mid-run."""
    if given:
        yield {"address": given, "source": "given", "started_here": False}
        return
    flags = ["--port", str(port), *extra]
    running = (
        subprocess.run(["bash", str(script), "status", *flags], check=False, capture_output=True, text=True).returncode
        == 0
    )
    started = subprocess.run(
        ["bash", str(script), "start", *flags], check=False, capture_output=True, text=True, timeout=900
    )
    if started.returncode != 0:
        raise SystemExit(f"{script.name} start failed:\n{started.stderr[-2000:]}")
    address = started.stdout.strip().splitlines()[-1]
    print(f"{name}: {address} ({'reused' if running else 'started'} via {script.relative_to(REPO)})", flush=True)
    try:
        yield {"address": address, "source": str(script.relative_to(REPO)), "started_here": not running}
    finally:
        if not running:
            subprocess.run(
                ["bash", str(script), "stop", *flags], check=False, capture_output=True, text=True, timeout=120
            )


def create_topic(admin: AdminClient, name: str, partitions: int) -> None:
    config = {"retention.ms": "-1", "retention.bytes": "-1"}  # the stream's timestamps are old: never expire them
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1, config=config)])[name].result(
        60
    )
    deadline = time.monotonic() + 60
    while True:
        info = admin.list_topics(topic=name, timeout=10).topics.get(name)
        if (
            info
            and info.error is None
            and len(info.partitions) == partitions
            and all(p.leader >= 0 for p in info.partitions.values())
        ):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"topic {name} has no leaders after 60 s")
        time.sleep(0.1)


def delete_topics(admin: AdminClient, names: list[str]) -> None:
    existing = admin.list_topics(timeout=10).topics
    names = [n for n in names if n in existing]
    if names:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            future.result(60)


# -- produce and ceilings ---------------------------------------------------------------------


def produce(bootstrap: str, topic: str, spec: WorkloadSpec, events: int) -> dict[str, Any]:
    """Write the first ``events`` events of ``spec``; times the produce calls plus the flush
    separately from generating and encoding."""
    producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER_CONFIG})
    errors: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            errors.append(str(error))

    dumps = orjson.dumps
    produce_one = producer.produce
    count = value_bytes = 0
    encode_s = produce_s = 0.0
    users: list[np.ndarray] = []
    last_event_time = spec.start_ms
    for batch in iter_batches(spec, PRODUCE_BATCH, limit=events):
        t0 = time.perf_counter()
        values = [dumps(r) for r in batch.records()]
        keys = [u.encode() for u in batch.user_ids()]
        stamps = batch.arrival.tolist()
        t1 = time.perf_counter()
        for key, value, stamp in zip(keys, values, stamps):
            while True:
                try:
                    produce_one(topic, value, key, timestamp=stamp, on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.05)
        producer.poll(0)
        produce_s += time.perf_counter() - t1
        encode_s += t1 - t0
        count += len(values)
        value_bytes += sum(map(len, values))
        users.append(batch.user)
        last_event_time = int(batch.event_time.max())
    t1 = time.perf_counter()
    remaining = producer.flush(120)
    produce_s += time.perf_counter() - t1
    if remaining or errors:
        raise SystemExit(f"producing to {topic}: {remaining} undelivered, errors {errors[:3]}")
    return {
        "events": count,
        "value_bytes": value_bytes,
        "users_seen": int(np.unique(np.concatenate(users)).size) if users else 0,
        "event_time_span_days": round((last_event_time - spec.start_ms) / DAY_MS, 2),
        "generate_encode_s": round(encode_s, 2),
        "produce_s": round(produce_s, 2),
        "produce_events_per_s": round(count / produce_s) if produce_s else None,
        "producer_config": PRODUCER_CONFIG,
    }


def settle_disk() -> float:
    """Write back every dirty page (``os.sync``) before a timed run, and return the seconds
    it took. The broker's log of the topic just produced, and the files of the run before,
    are otherwise written back during the next timed run (after 30 s dirty, by Linux's
    default). At stop 27, three direct runs over one 5M topic took 16.86 s (its production
    written back already), 16.52 s (after ``sync``) and 18.72 s (right after that run, 578 MB
    of its files still dirty). A broker on its own machine would not charge that to the flow."""
    started = time.perf_counter()
    os.sync()
    return round(time.perf_counter() - started, 3)


def consume_ceiling(bootstrap: str, topic: str, partitions: int, *, decode: bool) -> dict[str, Any]:
    """Read every record of ``topic`` once with one consumer (optionally ``orjson.loads``),
    after :func:`settle_disk`."""
    settled = settle_disk()
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-ceiling-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            **FETCH_CONFIG,  # what the flow's readers use
        }
    )
    try:
        total = sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions))
        started = time.perf_counter()
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        loads = orjson.loads
        count = size = 0
        while count < total:
            messages = consumer.consume(num_messages=10_000, timeout=0.1)
            for message in messages:
                if message.error() is not None:
                    continue
                value = message.value()
                size += len(value)
                if decode:
                    loads(value)
                count += 1
            if time.perf_counter() - started > 1800:
                raise SystemExit(f"ceiling read of {topic} stalled at {count:,} of {total:,}")
        seconds = time.perf_counter() - started
    finally:
        consumer.close()
    return {
        "events": count,
        "bytes": size,
        "seconds": round(seconds, 3),
        "events_per_s": round(count / seconds),
        "consumer_config": FETCH_CONFIG,
        "disk_settle_seconds": settled,
    }


def reader_ceiling(bootstrap: str, topic: str, partitions: int, *, workers: int, decode: bool) -> dict[str, Any]:
    """Read every record of ``topic`` once as the flow's workers read it — through
    :class:`~streamfeat.kafka_io.PartitionReader` (librdkafka read directly where the native
    module is built), in batches of :data:`FLOW_BATCH`, ``workers`` threads each taking
    every ``workers``-th partition — and, with ``decode``, parse and validate each batch
    with the flow's own decoder (:func:`~streamfeat.ingest.decode_records`, the example
    view's source). Nothing else: the ceiling of the flow's first stages, whose ratio to
    the flow says what the rest costs. (:func:`consume_ceiling` reads through
    confluent-kafka's ``Consumer``, a Python object per record, which the flow does not.)"""
    from streamfeat.ingest import decode_records
    from streamfeat.kafka_io import PartitionReader
    from streamfeat.loader import load_views

    settled = settle_disk()
    view = load_views(EXAMPLE_FEATURES)[0]
    source, entity_key = view.source, view.entity.key
    readers = [PartitionReader(bootstrap, topic, p, 0) for p in range(partitions)]
    try:
        ends = [reader.end_offset() for reader in readers]
        counts = [0] * partitions
        sizes = [0] * partitions
        native = all(reader.native for reader in readers)
        failures: list[BaseException] = []
        started = time.perf_counter()  # the threads start right after: their read is the timing

        def work(mine: list[int]) -> None:
            try:
                for p in mine:
                    reader = readers[p]
                    while (reader.position() or 0) < ends[p]:
                        if time.perf_counter() - started > 1800:
                            raise SystemExit(f"ceiling read of {topic}/{p} stalled at {counts[p]:,} of {ends[p]:,}")
                        batch = reader.read(FLOW_BATCH, 0.1)
                        if not batch.payloads:
                            continue
                        payloads = batch.payloads
                        value_ends = getattr(payloads, "ends", None)  # PackedValues: one buffer per batch
                        sizes[p] += int(value_ends[-1]) if value_ends is not None else sum(map(len, payloads))
                        if decode:
                            decode_records(source, entity_key, payloads, batch.timestamps, topic=topic, partition=p,
                                           offsets=batch.offsets)  # fmt: skip
                        counts[p] += len(batch.offsets)
            except BaseException as exc:  # re-raised in the calling thread
                failures.append(exc)

        threads = [
            threading.Thread(target=work, args=([p for p in range(partitions) if p % workers == w],))
            for w in range(workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        if failures:
            raise failures[0]
    finally:
        for reader in readers:
            reader.close()
    count = sum(counts)
    return {
        "events": count,
        "bytes": sum(sizes),
        "seconds": round(seconds, 3),
        "events_per_s": round(count / seconds),
        "threads": workers,
        "native_reader": native,
        "disk_settle_seconds": settled,
    }


# -- the streamfeat flow -------------------------------------------------------------------------


def features_file(directory: Path, topic: str) -> Path:
    source = EXAMPLE_FEATURES.read_text()
    if 'topic="transactions"' not in source:
        raise SystemExit(f'{EXAMPLE_FEATURES} no longer names topic="transactions"; update the benchmark')
    path = directory / f"features_{topic}.py"
    path.write_text(source.replace('topic="transactions"', f'topic="{topic}"'))
    return path


def _vmhwm(pid: int) -> int | None:
    return _status_bytes(pid, "VmHWM:")


def _rss_anon(pid: int) -> int | None:
    """Resident anonymous memory: RSS without file pages such as the embedded store's
    memory map (page cache the kernel may reclaim), sampled as the flow runs."""
    return _status_bytes(pid, "RssAnon:")


def _status_bytes(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def disk_usage(state_dir: Path, online_file: str | None = None) -> dict[str, int]:
    """Bytes under ``state_dir``: RocksDB partition stores vs the embedded online store (or
    ``online_file``'s, an embedded store kept elsewhere: ``--online-store PATH``)."""
    rocksdb = online = other = 0
    if online_file is not None and not is_redis_target(online_file) and Path(online_file).is_file():
        stat = Path(online_file).stat()
        online = min(stat.st_size, stat.st_blocks * 512)
    for path in state_dir.rglob("*"):
        if not path.is_file():
            continue
        stat = path.stat()
        size = stat.st_size
        top = path.relative_to(state_dir).parts[0]
        if top.startswith("online."):
            online += min(size, stat.st_blocks * 512)  # an LMDB file's size is its map's
        elif path.parent != state_dir:
            rocksdb += size
        else:
            other += size
    return {"rocksdb_bytes": rocksdb, "online_store_bytes": online, "other_bytes": other}


def run_flow(
    bootstrap: str,
    topic: str,
    work: Path,
    *,
    workers: int,
    online: str | None,
    label: str,
    flow_args: Sequence[str] = (),
) -> dict[str, Any]:
    """``streamfeat run --stop-at-end`` in a subprocess, after :func:`settle_disk`; its peak
    RSS, summary and state size."""
    settled = settle_disk()
    state_dir = work / f"state-{label}"
    command = [
        sys.executable, "-m", "streamfeat.cli", "run", str(features_file(work, topic)),
        "--bootstrap-servers", bootstrap, "-w", str(workers), "--stop-at-end",
        "--state-dir", str(state_dir), "--batch-size", str(FLOW_BATCH), *flow_args,
    ]  # fmt: skip
    if online:
        command += ["--online-store", online]
    log = work / f"flow-{label}.log"
    # The flow's CPU: what the children reaped meanwhile used (only this one is started here).
    # Throughput on a shared machine varies run to run by ±10 %; CPU per event far less.
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(log, "w") as out:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=out, text=True, cwd=work)
        peak = peak_anon = 0
        while child.poll() is None:
            peak = max(peak, _vmhwm(child.pid) or 0)
            peak_anon = max(peak_anon, _rss_anon(child.pid) or 0)
            time.sleep(0.1)
        stdout = child.stdout.read() if child.stdout else ""
    wall = time.perf_counter() - started
    now_reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (now_reaped.ru_utime + now_reaped.ru_stime) - (reaped.ru_utime + reaped.ru_stime)
    match = _SUMMARY.search(stdout)
    if child.returncode != 0 or match is None:
        raise SystemExit(f"streamfeat run ({label}) exited {child.returncode}:\n{stdout}\n{log.read_text()[-3000:]}")
    records, _, seconds, accepted, late, dead, published = match.groups()
    number = lambda s: int(s.replace(",", ""))
    seconds_f = float(seconds)
    return {
        "command": " ".join(["streamfeat", *command[3:]]),
        "records": number(records),
        "accepted": number(accepted),
        "late": number(late),
        "dead_letters": number(dead),
        "online_writes": number(published),
        "flow_seconds": seconds_f,
        "wall_seconds_with_startup": round(wall, 2),
        "events_per_s": round(number(records) / seconds_f) if seconds_f else None,
        "online_writes_per_s": round(number(published) / seconds_f) if seconds_f else None,
        "peak_rss_bytes": peak or None,
        "peak_rss_anon_bytes": peak_anon or None,
        "flow_cpu_seconds": round(cpu, 2),  # start-up and shutdown included
        "flow_cpu_us_per_event": round(cpu * 1e6 / number(records), 2) if number(records) else None,
        "state_on_disk": disk_usage(state_dir, online),
        "disk_settle_seconds": settled,
    }


def store_write_ceiling(target: str | None, work: Path, *, events: int = 200_000, passes: int = 3) -> dict[str, Any]:
    """Entity updates/s the online store itself sustains: the example view's states after
    the first ``events`` W1 events (encoded once, in process, with their values as of
    the last arrival, as the pipeline publishes them), written in batches of FLOW_BATCH
    rows — the pipeline's coalesced writes, without the rest of the flow."""
    from streamfeat.build import build_view
    from streamfeat.loader import EXAMPLE_FEATURES, load_views
    from streamfeat.online import StoredEntity, open_online_store
    from streamfeat.online.base import cache_values
    from streamfeat.workload import iter_batches

    (view,) = load_views(EXAMPLE_FEATURES)
    op = build_view(view)
    states: dict[str, Any] = {}
    for batch in iter_batches(W1, 100_000, limit=events):
        keys = batch.user_ids()
        columns = {"amount": batch.amount.tolist(), "merchant_id": batch.merchant_ids()}
        op.apply_batch(states, keys, batch.event_time.tolist(), batch.arrival.tolist(), op.columns_for(columns))
    at = max(state.now for state in states.values())
    encoded = [(key, op.to_bytes(state), state.seq, state.frontier, cache_values(op, state, at))
               for key, state in states.items()]
    sizes = sorted(len(e[1]) for e in encoded)
    prefix = f"bench-ceiling-{uuid.uuid4().hex[:8]}"
    store = open_online_store(target or str(work / "ceiling.lmdb"), work)
    written = 0
    # This process holds the states it encoded; keep the collector's passes over them out
    # of the store's figure (the runtime collects only young objects between batches).
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    try:
        for k in range(passes):
            for lo in range(0, len(encoded), FLOW_BATCH):
                rows = {
                    key: StoredEntity(data, k * 1_000_000_000 + seq, frontier, cached)
                    for key, data, seq, frontier, cached in encoded[lo : lo + FLOW_BATCH]
                }
                written += store.write(prefix, "f", rows)
        seconds = time.perf_counter() - started
    finally:
        gc.unfreeze()
        if target and target.startswith(("redis://", "rediss://")):
            import redis as redis_py

            client = redis_py.Redis.from_url(target)
            for key in client.scan_iter(match=f"*{prefix}*", count=10_000):
                client.delete(key)
        store.close()
    return {
        "store": "redis" if target and target.startswith("redis") else "embedded",
        "entities": len(encoded),
        "rows_written": written,
        "seconds": round(seconds, 3),
        "rows_per_s": round(written / seconds) if seconds else None,
        "state_bytes_median": sizes[len(sizes) // 2] if sizes else 0,
        "state_bytes_p99": sizes[int(len(sizes) * 0.99)] if sizes else 0,
        "state_bytes_mean": round(sum(sizes) / len(sizes)) if sizes else 0,
    }


def _compact(data: bytes) -> bytes:
    """A copy of ``data`` in an allocation of its own size. Each object ``orjson.dumps``
    returns (3.13 here) keeps about 4 KiB of memory however short it is: measured, 200,000
    of these 91-byte records held 800 MB, their copies 27 MB. Millions of them kept for a
    paced run (4.4M at 73,036 events/s for 60 s) ran this machine out of memory."""
    return bytes(memoryview(data))


#: Events encoded at a time for a freshness measurement: their columns as Python objects.
ENCODE_SLICE = 200_000


def _encode_slice(part: EventBatch, times: np.ndarray, arrivals: np.ndarray) -> list[bytes]:
    """The Kafka values of ``part`` with these event times and arrivals (each in an
    allocation of its own size, :func:`_compact`)."""
    return [
        _compact(orjson.dumps({**record, "ts": ts, "arrival": arrival}))
        for record, ts, arrival in zip(part.records(), times.tolist(), arrivals.tolist(), strict=True)
    ]


@dataclasses.dataclass(frozen=True)
class MeasuredEvents:
    """The events a freshness measurement times: those of the watched ``users`` newer than
    every earlier event of their user (the stored event time reaching theirs means they,
    not earlier ones, were applied). Per event: its user (an index into ``users``), its
    event time and its position in the paced stream."""

    users: list[str]
    user: np.ndarray  # int64 index into users
    event_time: np.ndarray  # int64 ms
    position: np.ndarray  # int64

    def newest(self) -> np.ndarray:
        """Per user, the event time of its last measured event (-1: none)."""
        newest = np.full(len(self.users), -1, dtype=np.int64)
        np.maximum.at(newest, self.user, self.event_time)
        return newest


def paced_events(
    batch: EventBatch, times: np.ndarray, arrivals: np.ndarray, watched: Sequence[str]
) -> tuple[list[bytes], list[bytes], MeasuredEvents]:
    """What a paced producer sends, prepared before its clock starts: each event's Kafka
    value (with event time ``times[i]`` and arrival ``arrivals[i]``) and key, and the
    events it measures of the ``watched`` users. Encoded ``ENCODE_SLICE`` events at a time:
    only the values and keys are held as Python objects for the whole run (every column
    as Python objects, as ``batch.records()`` makes them, held 15.6 GB at 292,000 events/s
    for 60 s at stop 50)."""
    events = len(batch)
    index = {user: i for i, user in enumerate(watched)}
    newest = [-1] * len(index)
    users_measured: list[int] = []
    times_measured: list[int] = []
    positions: list[int] = []
    values: list[bytes] = []
    key_bytes: list[bytes] = []
    for begin in range(0, events, ENCODE_SLICE):
        end = min(begin + ENCODE_SLICE, events)
        part, part_times = batch.slice(begin, end), times[begin:end]
        values.extend(_encode_slice(part, part_times, arrivals[begin:end]))
        users = part.user_ids()
        for i, (user, ts) in enumerate(zip(users, part_times.tolist(), strict=True), start=begin):
            u = index.get(user)
            if u is not None and ts > newest[u]:
                newest[u] = ts
                users_measured.append(u)
                times_measured.append(ts)
                positions.append(i)
        key_bytes.extend([user.encode() for user in users])
    measured = MeasuredEvents(
        list(watched),
        np.array(users_measured, dtype=np.int64),
        np.array(times_measured, dtype=np.int64),
        np.array(positions, dtype=np.int64),
    )
    return values, key_bytes, measured


def match_polls(
    measured: MeasuredEvents, sent: np.ndarray, poll_times: np.ndarray, seen: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each measured event's latency (seconds): the first poll whose stored event time of
    its user reached its event time, minus ``sent[i]``, when it was handed to the producer
    (NaN: no poll saw it). ``seen[k, u]``: the event time poll ``k`` read for user ``u``
    (-1: none), at ``poll_times[k]``. Returns ``(latencies, sent)`` of the seen events."""
    latency = np.full(len(measured.event_time), np.nan)
    if len(poll_times):
        reached = np.maximum.accumulate(seen, axis=0)  # a stored event time only moves forward
        for u in range(len(measured.users)):
            mine = np.flatnonzero(measured.user == u)
            first = np.searchsorted(reached[:, u], measured.event_time[mine], side="left")
            found = first < len(poll_times)
            latency[mine[found]] = poll_times[first[found]] - sent[mine[found]]
    ok = ~np.isnan(latency)
    return latency[ok], sent[ok]


#: What the event times of a freshness measurement are (:func:`measure_freshness`).
FRESHNESS_EVENT_TIMES = ("recent", "live", "w1")
FRESHNESS_EVENT_TIMES_TEXT = {
    "recent": "Each event arrives when sent and keeps its W1 event time moved forward by whole days to end a day or "
    "two before the run: the stream the end-to-end rate was measured on, at half that rate.",
    "live": "Events are sent live: each arrives when sent, keeping W1's delay from event time to arrival (so the "
    "prefix spans seconds of event time and every window holds the whole run: a stress test).",
    "w1": "Events keep W1's own 2023 times.",
}


def free_ports(count: int) -> list[int]:
    """``count`` TCP ports free on 127.0.0.1 now (those `streamfeat run -p N` picks for its processes)."""
    from streamfeat.local_cluster import free_local_addresses

    return [int(address.rsplit(":", 1)[1]) for address in free_local_addresses(count)]


def native_paced_producer(
    config: Mapping[str, Any], topic: str, values: Sequence[bytes], keys: Sequence[bytes], stamps: np.ndarray
) -> Any | None:
    """The paced producer's records held by ``streamfeat._store_native.KafkaBatchProducer``
    (``send(start, stop)`` produces a range without the GIL), or ``None`` where the native
    module or librdkafka cannot be had (:data:`NATIVE_PRODUCER_ENV` ``=0`` too): the paced
    loop then calls confluent-kafka's ``produce`` per event, which took 22.7 % of a core at
    232,342 events/s (stop 52, ``results/s52/harness_threads/``) on the cores the flow uses."""
    from streamfeat.kafka_io import _native_consumer_class, _setting_text

    if os.environ.get(NATIVE_PRODUCER_ENV, "1") == "0" or _native_consumer_class() is None:
        return None  # _native_consumer_class loads librdkafka for the native module
    try:
        from streamfeat._store_native import KafkaBatchProducer
    except ImportError:
        return None
    settings = [(name, text) for name, value in config.items() if (text := _setting_text(value)) is not None]
    value_ends = np.cumsum(np.fromiter(map(len, values), np.int64, len(values)))
    key_ends = np.cumsum(np.fromiter(map(len, keys), np.int64, len(keys)))
    return KafkaBatchProducer(settings, topic, b"".join(values), value_ends.tobytes(), b"".join(keys),
                              key_ends.tobytes(), np.ascontiguousarray(stamps, dtype="<i8").tobytes())  # fmt: skip


def _run_online_store(flow_args: Sequence[str]) -> tuple[list[str], str | None, Path | None]:
    """``flow_args`` with ``{run}`` in an ``--online-store`` value replaced by a new name;
    that value (``None``: the flow's default store); the file to remove afterwards, if named so."""
    args = list(flow_args)
    for index, arg in enumerate(args[:-1]):
        if arg == "--online-store":
            value = args[index + 1]
            if "{run}" not in value:
                return args, value, None
            args[index + 1] = value = value.replace("{run}", f"run-{uuid.uuid4().hex[:12]}")
            return args, value, Path(value)
    return args, None, None


def measure_freshness(
    bootstrap: str,
    topic: str,
    work: Path,
    *,
    rate: float,
    seconds: float,
    sample: int,
    workers: int,
    flow_args: Sequence[str] = (),
    event_times: str = "recent",
    processes: int = 1,
    trace: bool = False,
    probe: str = "header",
    nice: int = 0,
) -> dict[str, Any]:
    """Event arrival -> visible in the embedded online store, with the producer paced at ``rate``.

    Every event arrives when it is sent (its Kafka timestamp and ``arrival`` field are its
    planned send time), except with ``"w1"``. Its event time:

    - ``"recent"``: W1's own, moved forward by whole days to end a day or two before the
      run (:func:`recent`) — the stream the end-to-end throughput is measured on, so
      "half the maximum" is half the rate of the same work: each entity's windows hold
      what W1 puts in them;
    - ``"live"``: its send time minus W1's delay from event time to arrival. The W1 prefix
      then spans seconds of event time instead of days, so every window holds the whole
      run so far and a busy entity's exact 7-day state grows with every event it gets
      (a stress test: the work per event grows through the run);
    - ``"w1"``: W1's own 2023 times and arrivals (the flow then reads them years later:
      empty windows).

    The flow runs without ``--stop-at-end`` on an empty topic. A reader thread polls the
    store (read-only, as a feature server would) for the ``sample`` most active users of
    the stream. An event counts when it was newer than every earlier event of its user
    (so the stored ``event_time`` — the user's newest accepted event time — reaching
    its time means this event, not an earlier one, was applied); its latency is the first
    poll that sees it minus the moment it was handed to the producer.

    ``probe``: how the reader polls. ``"header"`` reads only each row's event time
    (``event_times``: the same rows, visible at the same moment, at a fraction of the
    CPU — on a 2-core machine the reader shares the cores with the flow); ``"rows"``
    reads whole rows as a feature server does (``get_raw`` as of now), which took
    13–15 % of a core at 134,000 events/s (stop 42).

    ``nice``: the flow's processes start at this niceness (``nice -n``). On a small machine
    the producer, this reader and a local broker share the cores with the flow; with a
    negative value the kernel runs the flow first, as a flow on cores of its own would run.

    ``--online-store PATH`` among ``flow_args`` (an embedded store's file) is where the reader
    reads; ``{run}`` in it becomes a name new to each measurement, and such a file (with its
    lock file) is removed afterwards: ``--online-store /dev/shm/streamfeat-{run}.lmdb`` puts
    each run's store on tmpfs.
    """
    from streamfeat.loader import load_views
    from streamfeat.online import online_store_target, open_embedded_store

    if event_times not in FRESHNESS_EVENT_TIMES:
        raise ValueError(f"event_times must be one of {FRESHNESS_EVENT_TIMES}, not {event_times!r}")
    if probe not in FRESHNESS_PROBES:
        raise ValueError(f"probe must be one of {FRESHNESS_PROBES}, not {probe!r}")
    events = max(1, int(rate * seconds))
    batch = generate(recent(W1, events) if event_times == "recent" else W1, limit=events)
    ids, counts = np.unique(batch.user, return_counts=True)
    sampled = {f"u{u}" for u in ids[np.argsort(-counts, kind="stable")[:sample]].tolist()}
    features = features_file(work, topic)
    view = load_views(features)[0]
    fingerprint = view.fingerprint()
    state_dir = work / "state-freshness"
    flow_args, store_target, run_store = _run_online_store(flow_args)
    command = [
        sys.executable, "-m", "streamfeat.cli", "run", str(features), "--bootstrap-servers", bootstrap,
        "-w", str(workers), "--state-dir", str(state_dir), "--batch-size", str(FLOW_BATCH), *flow_args,
    ]  # fmt: skip
    if nice:
        command = ["nice", "-n", str(nice), *command]
    commands = [command]
    if processes > 1:  # a cluster: one `streamfeat run` per address, the partitions shared among them
        addresses = ";".join(f"127.0.0.1:{port}" for port in free_ports(processes))
        commands = [[*command, "-i", str(index), "-a", addresses] for index in range(processes)]
    watched = sorted(sampled)
    # What the reader saw: when each poll ended, and each watched user's stored event time
    # then (-1: none). Matched to the measured events after the run (match_polls): the
    # reader and the paced loop do no per-event work, on cores they share with the flow.
    polls: list[tuple[float, list[int]]] = []
    stop = threading.Event()

    def reader() -> None:
        store = open_embedded_store(online_store_target(store_target, state_dir), readonly=True)
        try:
            while not stop.is_set():
                if probe == "header":  # each row's event time only
                    seen = store.event_times(view.name, fingerprint, watched)
                else:
                    # As a feature server reads (as of now): rows whose published values
                    # cover now come without their state bytes, which this check never needs.
                    rows = store.get_raw(view.name, fingerprint, watched, at=int(time.time() * 1000))
                    seen = [None if row is None else row.event_time for row in rows]
                polls.append((time.monotonic(), [-1 if t is None else t for t in seen]))
                time.sleep(FRESHNESS_POLL_S)
        finally:
            store.close()

    log = open(work / "flow-freshness.log", "w")  # noqa: SIM115 - closed in the finally below
    traces = [work / f"flow-trace-{index}.jsonl" for index in range(len(commands))]
    children = [
        subprocess.Popen(c, stdout=log, stderr=subprocess.STDOUT, cwd=work, env=_trace_env(path) if trace else None)
        for c, path in zip(commands, traces, strict=True)
    ]
    thread = threading.Thread(target=reader, daemon=True)
    collector_was_on: bool | None = None  # set once the collector is paused for production
    try:
        deadline = time.monotonic() + 60
        store_path = Path(online_store_target(store_target, state_dir))
        while not store_path.exists():  # the partitions open the store before their readers
            if any(child.poll() is not None for child in children) or time.monotonic() > deadline:
                raise SystemExit(
                    f"the freshness flow did not start: {(work / 'flow-freshness.log').read_text()[-2000:]}"
                )
            time.sleep(0.1)
        # The planned send times are baked into the values, so production starts after
        # encoding them all: the start is set from the time a first slice took to encode
        # (the run reports how late it started, `start_late_ms`, all the same).
        encode_started = time.monotonic()
        probe_events = min(events, 50_000)
        head = batch.slice(0, probe_events)
        paced_events(head, head.event_time, head.arrival, watched)
        encode_s = (time.monotonic() - encode_started) * events / probe_events
        start_ms = int(time.time() * 1000) + int(2_000 * encode_s) + 3_000
        times, arrivals = batch.event_time, batch.arrival  # "w1": W1's own
        if event_times != "w1":
            arrivals = (start_ms + np.arange(events) * (1000.0 / rate)).astype(np.int64)
            if event_times == "live":
                times = arrivals - (batch.arrival - batch.event_time)
        # The per-event bookkeeping happens here, before the clock starts: on a 2-core machine
        # the paced producer shares the CPU with the broker and the flow, so its loop only
        # sends and notes each chunk's send time (taken before its first send, so a latency
        # is never understated).
        chunk = max(1, int(rate * 0.01))  # one send every ~10 ms
        kept_from = windows_keep_events_from(view, times, arrivals, rate)
        values, key_bytes, measured = paced_events(batch, times, arrivals, watched)
        chunk_sent = [0.0] * len(range(0, events, chunk))
        newest = measured.newest()
        paced_config = {"bootstrap.servers": bootstrap, **PRODUCER_CONFIG, "linger.ms": 5}
        native = native_paced_producer(paced_config, topic, values, key_bytes, arrivals)
        if native is not None:
            values = key_bytes = []  # held by the native producer now
        stamps = arrivals.tolist() if native is None else []
        producer = Producer(paced_config) if native is None else None
        produce = None if producer is None else producer.produce
        # No cyclic garbage collection while the producer is paced: this process holds millions
        # of objects, and full collections stopped it for 324-473 ms, four times in 30 s of
        # production (measured at stop 31), so the flow got 300 ms of events at once instead of
        # a fixed rate. The loop and the reader make no reference cycles.
        gc.collect()
        gc.freeze()
        collector_was_on = gc.isenabled()
        gc.disable()
        time.sleep(max(0.0, start_ms / 1000 - time.time()))
        start_late_ms = max(0, int(time.time() * 1000) - start_ms)
        # What the flow, this process and a local broker take of the machine meanwhile: sampled
        # at the start, every 5 s of production, at its end and once every measured event was seen.
        # The flow's processes with theirs: `run -p N` is a supervisor with N members.
        flow_pids = with_descendants([child.pid for child in children])
        cpu = CpuSampler({"flow": flow_pids, "benchmark": [os.getpid()],
                          "broker": local_broker_pids()})
        sample_every = max(1, round(5.0 * rate / chunk))
        thread.start()
        started = time.monotonic()
        cpu.sample()
        for number, at in enumerate(range(0, events, chunk)):
            if number and number % sample_every == 0:
                cpu.sample()
            delay = started + at / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            chunk_sent[number] = time.monotonic()
            if native is not None:
                native.send(at, at + chunk)
                continue
            for i in range(at, min(at + chunk, events)):
                # Positional — topic, value, key, partition (-1: by key), callback, on_delivery,
                # timestamp: the keyword form parses slower (results/freshness_134000_s41/).
                produce(topic, values[i], key_bytes[i], -1, None, None, stamps[i])
            producer.poll(0)
        produced_s = time.monotonic() - started
        cpu.sample()
        if native is not None:
            in_flight = native.flush(60_000)
            delivered, failed, why = native.deliveries()
            native.close()
            if failed or in_flight:
                raise SystemExit(f"the paced producer delivered {delivered:,} of {events:,} events: {failed:,} failed "
                                 f"({why}), {in_flight:,} still in flight after 60 s")
        else:
            producer.flush(60)
        drain = time.monotonic() + 60
        # until a poll saw every watched user's last measured event (or a minute passed)
        while time.monotonic() < drain and not (polls and (np.asarray(polls[-1][1]) >= newest).all()):
            time.sleep(0.05)
        cpu.sample()
    finally:
        if collector_was_on is not None:
            gc.unfreeze()
            if collector_was_on:
                gc.enable()
        stop.set()
        if thread.is_alive():
            thread.join(10)
        # A flow that stopped on its own (say, a flag it rejects) measured nothing: say so.
        exited = [child.returncode for child in children if child.poll() is not None]
        for child in children:
            child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        log.close()
        if run_store is not None:
            for path in (run_store, run_store.with_name(run_store.name + "-lock")):
                path.unlink(missing_ok=True)
    if exited:
        raise SystemExit(
            f"the freshness flow exited during the run (exit code {exited[0]}): "
            f"{(work / 'flow-freshness.log').read_text()[-2000:]}"
        )
    traced: dict[str, Any] = {}
    if trace:
        from benchmarks.flow_trace import load_trace, summarize

        # where the time went, per flow process (benchmarks/flow_trace)
        traced = {
            "trace": [
                summarize(load_trace(path), late_start_ms=start_late_ms) if path.exists() else None for path in traces
            ]
        }
    sent_of = np.asarray(chunk_sent)[measured.position // chunk]
    seen = np.array([row for _, row in polls], dtype=np.int64).reshape(len(polls), len(watched))
    latencies, sent_times = match_polls(measured, sent_of, np.array([at for at, _ in polls]), seen)
    ms = latencies * 1000.0
    # p99 per 5 s of production: whether latency holds or grows as the state does
    window = (sent_times - started) // 5
    by_5s = [round(float(np.percentile(ms[window == w], 99)), 1) for w in np.unique(window)]
    return {
        "status": "measured",
        "target_rate_events_per_s": round(rate),
        "achieved_rate_events_per_s": round(events / produced_s),
        "events": events,
        "seconds": round(produced_s, 1),
        "sampled_entities": len(sampled),
        "samples": len(latencies),
        "unresolved": len(measured.event_time) - len(latencies),
        "reader_poll_interval_ms": FRESHNESS_POLL_S * 1000,
        "reader_probe": probe,
        "flow_nice": nice,
        "reader_polls": len(polls),
        "p50_ms": round(float(np.percentile(ms, 50)), 1) if len(ms) else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 1) if len(ms) else None,
        "max_ms": round(float(ms.max()), 1) if len(ms) else None,
        "p99_ms_per_5s": by_5s,
        # from which second of production each window keeps events (None: never)
        "windows_keep_events_from_s": kept_from,
        "flow_poll_interval_s": 0.02,
        "event_times": event_times,
        # how long after the planned time (the records' Kafka timestamps) production began
        "start_late_ms": start_late_ms,
        # % of one core per role from production start until every measured event was seen
        # (per interval: every 5 s of production, then its rest, then the drain)
        "cpu": cpu.summary(events),
        **traced,
    }


def _trace_env(path: Path) -> dict[str, str]:
    """The environment of a traced flow process: the hook of :mod:`benchmarks.flow_trace`
    first on ``PYTHONPATH``, writing its timeline to ``path`` at exit."""
    from benchmarks.flow_trace import HOOK_DIR

    env = dict(os.environ, STREAMFEAT_TRACE=str(path))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HOOK_DIR), env.get("PYTHONPATH")]))
    return env


# -- report --------------------------------------------------------------------------------------


def _mb(n: int | None) -> str:
    return "" if n is None else f"{n / 1e6:,.0f}"


def one_decimal(value: float | None) -> str:
    """A share or size as the reports show it: one decimal, thousands separated ("n/a": none)."""
    return "n/a" if value is None else f"{value:,.1f}"


def _freshness_cpu_text(cpu: dict[str, Any] | None, cores: int | None, start_late_ms: int | None) -> str:
    """Where the machine's time went during a freshness measurement: the flow's, the
    benchmark's (its paced producer and reader) and the local broker's share of the cores.
    Of "half the maximum", the flow gets what the other two leave: the maximum is measured
    with the topic produced beforehand."""
    if not cpu or not cpu.get("percent_of_one_core"):
        return "CPU while paced: not sampled."
    shown = one_decimal
    share, rss = cpu["percent_of_one_core"], cpu.get("peak_rss_mb", {})
    machine = cpu.get("machine") or {}
    late = "" if start_late_ms is None else f" Production started {start_late_ms:,} ms after its planned start."
    return (
        f"CPU from production start until every measured event was seen, % of one core (the machine has {cores}): "
        f"the flow {shown(share.get('flow'))} ({shown(cpu.get('flow_us_per_event'))} µs per event), this "
        f"benchmark's producer and reader {shown(share.get('benchmark'))}, the broker {shown(share.get('broker'))}; "
        f"the machine busy {shown(machine.get('busy_percent_of_one_core'))} (stolen "
        f"{shown(machine.get('steal_percent_of_one_core'))}). Peak RSS MB: the flow {shown(rss.get('flow'))}, "
        f"this benchmark {shown(rss.get('benchmark'))}.{late}"
    )


def markdown(r: dict[str, Any]) -> str:
    m, p, w, e2e, c = r["machine"], r["produce"], r["workload"], r["end_to_end"], r["ceilings"]
    disk = e2e["state_on_disk"]
    lines = [
        "# streaming benchmark (Kafka -> streamfeat run -> online store)",
        "",
        f"Written by `{r['command']}` on {r['timestamp']} — do not edit by hand.",
        "",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, {m['python']}; load average at start "
        f"{m['load_average_at_start']}, at end {r['load_average_at_end']}; git {m['git_commit']}"
        + (" (with uncommitted changes to operators/ or streamfeat/)" if m["git_dirty"] else ""),
        (
            f"- workload: first {w['events']:,} events of {'W1' if w['is_w1'] else 'a W1 variant'} in arrival order "
            f"({w['spec']['users']:,} users, {w['users_seen']:,} seen; event times span {w['event_time_span_days']} days, "
            + (
                f"moved forward {w['shift_days']:,} days to end a day or two before the run, as a live stream would "
                "be read); "
                if w.get("event_times") == "recent"
                else "W1's own, in 2023: reads as of now find the sliding windows empty); "
            )
            + f"topic with {r['parameters']['partitions']} partitions on a local single-node Kafka "
            f"({r['kafka']['source']}); JSON values keyed by user_id, {w['value_bytes'] / max(w['events'], 1):.0f} B/event"
        ),
        (
            f"- flow: example features (7, view user_txn), `-w {r['parameters']['workers']}`, batch size {FLOW_BATCH:,}, "
            f"state cache capacity {CACHE_CAPACITY:,} entities (shared by the partitions), "
            f"online store {r['parameters']['online']}"
        ),
        (
            "- each ceiling read and flow run starts after `sync` (`settle_disk`: the broker's log just produced and "
            "the run before's files are written back first, not during the timing); it took "
            + ", ".join(f"{x['disk_settle_seconds']} s" for x in (*c.values(), e2e)
                        if x.get("disk_settle_seconds") is not None)
        ),
        "",
        "| measurement | events/s | notes |",
        "|---|---:|---|",
        (
            f"| produce (lz4, linger {PRODUCER_CONFIG['linger.ms']} ms, batch.size {PRODUCER_CONFIG['batch.size']:,}) "
            f"| {p['produce_events_per_s']:,} | {p['produce_s']} s of produce calls + flush; generation + orjson "
            f"encoding {p['generate_encode_s']} s not included |"
        ),
        (
            f"| consume only (ceiling) | {c['consume_only']['events_per_s']:,} | "
            f"{c['consume_only']['bytes'] / 1e6:,.0f} MB in {c['consume_only']['seconds']} s, one consumer "
            "with the flow's fetch settings |"
        ),
        (
            f"| consume + orjson.loads (ceiling) | {c['consume_decode']['events_per_s']:,} | "
            f"{c['consume_decode']['seconds']} s |"
        ),
        *(
            [
                (
                    f"| read only, as the flow reads (ceiling) | {c['read_only']['events_per_s']:,} | "
                    f"{c['read_only']['seconds']} s; `PartitionReader` "
                    + ("(librdkafka read directly)" if c["read_only"]["native_reader"] else "(confluent-kafka)")
                    + f", batches of {FLOW_BATCH:,}, {c['read_only']['threads']} threads like the flow's workers |"
                ),
                (
                    f"| read + the flow's decoder (ceiling) | {c['read_decode']['events_per_s']:,} | "
                    f"{c['read_decode']['seconds']} s; `decode_records` with the example view's source |"
                ),
            ]
            if "read_only" in c
            else []
        ),
        (
            f"| **streamfeat run end to end** | **{e2e['events_per_s']:,}** | {e2e['flow_seconds']} s "
            f"({e2e['wall_seconds_with_startup']} s with process start-up); "
            f"{e2e['ratio_to_consume_only']:.1%} of consume-only, {e2e['ratio_to_consume_decode']:.1%} of "
            "consume+decode"
            + (
                f"; {e2e['ratio_to_read_only']:.1%} of read-only and {e2e['ratio_to_read_decode']:.1%} of "
                "read+decode as the flow reads"
                if "ratio_to_read_only" in e2e
                else ""
            )
            + " |"
        ),
        *(
            [
                (
                    f"| the flow's CPU | {e2e['flow_cpu_us_per_event']} µs per event | {e2e['flow_cpu_seconds']} "
                    "CPU-seconds, every thread, start-up and shutdown included |"
                )
            ]
            if e2e.get("flow_cpu_seconds") is not None
            else []
        ),
        *(
            [
                (
                    f"| end to end, `--background-publish {e2e['other_publish_mode']['background_publish']}` (same "
                    f"topic, same run) | {e2e['other_publish_mode']['events_per_s']:,} | "
                    f"{e2e['other_publish_mode']['flow_seconds']} s; the default (`auto`) ran "
                    f"x{e2e['ratio_to_other_publish_mode']} as fast |"
                )
            ]
            if e2e.get("other_publish_mode")
            else []
        ),
        f"| online-store writes | {e2e['online_writes_per_s']:,} | {e2e['online_writes']:,} rows published |",
        *(
            [
                f"| online-store write ceiling ({r['store_write_ceiling']['store']}) | "
                f"{r['store_write_ceiling']['rows_per_s']:,} entity updates/s | the store alone: "
                f"{r['store_write_ceiling']['entities']:,} entity states (median "
                f"{r['store_write_ceiling']['state_bytes_median']:,} B, p99 {r['store_write_ceiling']['state_bytes_p99']:,} B) "
                f"written {r['store_write_ceiling']['rows_written'] // max(r['store_write_ceiling']['entities'], 1)} times "
                f"in batches of {FLOW_BATCH:,} |"
            ]
            if r.get("store_write_ceiling")
            else []
        ),
        "",
        (
            f"End to end: {e2e['records']:,} records ({e2e['accepted']:,} accepted, {e2e['late']:,} late, "
            f"{e2e['dead_letters']:,} dead letters); peak RSS {_mb(e2e['peak_rss_bytes'])} MB "
            f"({_mb(e2e.get('peak_rss_anon_bytes'))} MB of it anonymous, the rest file pages such as the "
            "embedded store's memory map); state on disk: "
            f"RocksDB {_mb(disk['rocksdb_bytes'])} MB, online store {_mb(disk['online_store_bytes'])} MB."
        ),
        "",
        "## Memory vs entities",
        "",
    ]
    mem = r["memory_vs_entities"]
    if mem.get("skipped"):
        lines.append("Not run (`--skip-entities`).")
    else:
        lines += [
            (
                f"Same flow on the first {mem['events']:,} events of W1 with another user count and a flatter "
                f"user skew (zipf_s {r['parameters']['entity_zipf_s']} instead of {W1.zipf_s}, so most users "
                f"appear); state cache capacity {CACHE_CAPACITY:,} entities, shared by the topic's partitions."
            ),
            "",
            ("| users in spec | users seen | events/s | peak RSS MB | of it anonymous MB | RocksDB MB "
             "| online store MB |"),
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for run in mem["runs"]:
            d = run["state_on_disk"]
            lines.append(
                f"| {run['users']:,} | {run['users_seen']:,} | {run['events_per_s']:,} | {_mb(run['peak_rss_bytes'])} "
                f"| {_mb(run.get('peak_rss_anon_bytes'))} | {_mb(d['rocksdb_bytes'])} | {_mb(d['online_store_bytes'])} |"
            )
    f = r["freshness"]
    lines += ["", "## Freshness (event handed to the producer -> visible in the online store)", ""]
    if f["status"] != "measured":
        lines.append(f"{f['status']}: {f['reason']}")
    else:
        lines += [
            (
                f"Producer paced at half the end-to-end rate ({f['target_rate_events_per_s']:,} events/s targeted, "
                f"{f['achieved_rate_events_per_s']:,} achieved) for {f['seconds']} s while `streamfeat run` (no "
                f"--stop-at-end) consumes; a read-only reader polls the embedded store every "
                f"{f['reader_poll_interval_ms']:.0f} ms for the {f['sampled_entities']} most active users; an event "
                "counts when it is newer than its user's earlier events. "
                + " ".join(
                    filter(None, [FRESHNESS_EVENT_TIMES_TEXT.get(f.get("event_times", "w1"), ""),
                                  keep_from_text(f.get("windows_keep_events_from_s"))])
                )
            ),
            "",
            "| samples | unresolved | p50 ms | p99 ms | max ms |",
            "|---:|---:|---:|---:|---:|",
            f"| {f['samples']:,} | {f['unresolved']:,} | {f['p50_ms']} | {f['p99_ms']} | {f['max_ms']} |",
        ]
        if f.get("p99_ms_per_5s"):
            lines += ["", f"p99 ms per 5 s of production: {', '.join(str(p) for p in f['p99_ms_per_5s'])}"]
        lines += ["", _freshness_cpu_text(f.get("cpu"), r["machine"]["cores"], f.get("start_late_ms"))]
    lines.append("")
    return "\n".join(lines)


# -- entry point ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.streaming", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=None, help=f"W1 prefix (default {DEFAULT_EVENTS:,})")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the topic (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="streamfeat run -w (default 2, as streamfeat run)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS:,} events, small entity runs")
    parser.add_argument(
        "--online",
        choices=("embedded", "embedded-tmpfs", "redis"),
        default="embedded",
        help="online store: embedded (the flow's default file in its state directory), embedded-tmpfs (that file "
        "under /dev/shm, `streamfeat run --online-store /dev/shm/...`, for every run here; removed afterwards) or "
        "redis (default: embedded)",
    )
    parser.add_argument("--entity-events", type=int, default=None, help="events per memory-vs-entities run")
    parser.add_argument("--skip-entities", action="store_true", help="skip the memory-vs-entities runs")
    parser.add_argument("--freshness-seconds", type=float, default=None, help="paced production time for freshness")
    parser.add_argument("--skip-freshness", action="store_true", help="skip the freshness measurement")
    parser.add_argument(
        "--compare-publish",
        action="store_true",
        help="also run the flow with the --background-publish mode the default does not pick for the store (off "
        "for the embedded store, on for Redis) over the same topic, and report the ratio",
    )
    parser.add_argument(
        "--event-times",
        choices=("recent", "w1"),
        default="recent",
        help="recent (default): W1 moved forward by whole days to end a day or two before the run (reads as of now "
        "see populated windows, as in a catch-up), for the throughput runs and the freshness run (whose events "
        "arrive when sent); w1: W1's own 2023 times for all of them",
    )
    parser.add_argument(
        "--freshness-event-times",
        choices=FRESHNESS_EVENT_TIMES,
        default=None,
        help="event times of the freshness run (default: as --event-times): recent, the throughput run's stream at "
        "half its rate, each event arriving when sent; live, each event's time its send time minus W1's delay (the "
        "prefix then spans seconds of event time, so every window holds the whole run: a stress test); w1",
    )
    parser.add_argument(
        "--bootstrap",
        default=None,
        help=f"Kafka to use (default $STREAMFEAT_KAFKA_BOOTSTRAP, else deploy/local/kafka.sh on port {KAFKA_PORT})",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory (default benchmarks/results)")
    args = parser.parse_args(argv)
    if args.events is None:
        args.events = QUICK_EVENTS if args.quick else DEFAULT_EVENTS
    if args.entity_events is None:
        args.entity_events = QUICK_ENTITY_EVENTS if args.quick else ENTITY_EVENTS
    if args.freshness_seconds is None:
        args.freshness_seconds = QUICK_FRESHNESS_SECONDS if args.quick else FRESHNESS_SECONDS
    if min(args.events, args.partitions, args.workers, args.entity_events, args.freshness_seconds) <= 0:
        parser.error("--events, --partitions, --workers, --entity-events and --freshness-seconds must be positive")
    return args


@contextmanager
def optional_redis(online: str, given: str | None) -> Iterator[dict[str, Any] | None]:
    if online != "redis":
        yield None
        return
    # A 1M-event run's states and the write ceiling's copies need more than the script's
    # default memory limit (256 MB, set for tests).
    with local_service(REDIS_SH, given, "redis", REDIS_PORT, extra=["--maxmemory", "4gb"]) as info:
        yield info


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns the report it wrote."""
    args = parse_args(argv)
    info = machine()
    print(f"machine: {info['cpu']} ({info['cores']} cores), {info['python']}; load {info['load_average_at_start']}")
    bootstrap_given = args.bootstrap or os.environ.get("STREAMFEAT_KAFKA_BOOTSTRAP", "").strip() or None
    redis_given = os.environ.get("STREAMFEAT_REDIS_URL", "").strip() or None
    run_id = uuid.uuid4().hex[:8]
    topics: list[str] = []
    memory: dict[str, Any] = {"skipped": True} if args.skip_entities else {"events": args.entity_events, "runs": []}
    freshness: dict[str, Any] = {"status": "not measured", "reason": "skipped (--skip-freshness)"}
    with (
        tempfile.TemporaryDirectory(prefix="streamfeat-bench-") as tmp,
        local_service(KAFKA_SH, bootstrap_given, "kafka", KAFKA_PORT) as kafka,
        optional_redis(args.online, redis_given) as redis_info,
    ):
        work = Path(tmp)
        bootstrap = kafka["address"]
        online_target = None if redis_info is None else redis_info["address"]
        if args.online == "embedded-tmpfs":
            online_target = str(TMPFS / f"streamfeat-bench-{run_id}.lmdb")
        admin = AdminClient({"bootstrap.servers": bootstrap})

        def new_topic(name: str) -> str:
            topics.extend([name, f"{name}.dead-letters", f"{name}.late"])
            create_topic(admin, name, args.partitions)
            return name

        try:
            topic = new_topic(f"bench-stream-{run_id}")
            print(f"producing {args.events:,} W1 events to {topic} ({args.partitions} partitions)...", flush=True)
            stream = recent(W1, args.events) if args.event_times == "recent" else W1
            produced = produce(bootstrap, topic, stream, args.events)
            print(f"  {produced['produce_events_per_s']:,} events/s produce", flush=True)
            ceilings = {}
            for name, decode in (("consume_only", False), ("consume_decode", True)):
                ceilings[name] = consume_ceiling(bootstrap, topic, args.partitions, decode=decode)
                print(f"  {name}: {ceilings[name]['events_per_s']:,} events/s", flush=True)
            for name, decode in (("read_only", False), ("read_decode", True)):
                ceilings[name] = reader_ceiling(bootstrap, topic, args.partitions, workers=args.workers, decode=decode)
                print(f"  {name} (the flow's readers, {args.workers} threads): "
                      f"{ceilings[name]['events_per_s']:,} events/s", flush=True)  # fmt: skip
            print("streamfeat run --stop-at-end ...", flush=True)
            e2e = run_flow(bootstrap, topic, work, workers=args.workers, online=online_target, label="main")
            for name in ceilings:
                e2e[f"ratio_to_{name}"] = round(e2e["events_per_s"] / ceilings[name]["events_per_s"], 4)
            print(
                f"  {e2e['events_per_s']:,} events/s end to end, peak RSS {_mb(e2e['peak_rss_bytes'])} MB "
                f"({_mb(e2e['peak_rss_anon_bytes'])} MB anonymous), "
                f"{e2e['online_writes_per_s']:,} online writes/s, {e2e['flow_cpu_us_per_event']} µs of CPU per event, "
                f"state {e2e['state_on_disk']}",
                flush=True,
            )
            if args.compare_publish:
                # The mode `--background-publish auto` does not pick for this store.
                other = "on" if args.online == "redis" else "off"
                print(f"streamfeat run --stop-at-end --background-publish {other} ...", flush=True)
                run = run_flow(bootstrap, topic, work, workers=args.workers, online=online_target, label="publish",
                               flow_args=["--background-publish", other])
                e2e["other_publish_mode"] = {"background_publish": other, **run}
                e2e["ratio_to_other_publish_mode"] = round(e2e["events_per_s"] / run["events_per_s"], 4)
                print(f"  {run['events_per_s']:,} events/s end to end with --background-publish {other} "
                      f"(the default: x{e2e['ratio_to_other_publish_mode']})", flush=True)
            print("online-store write ceiling ...", flush=True)
            write_ceiling = store_write_ceiling(online_target, work)
            print(f"  {write_ceiling['rows_per_s']:,} entity updates/s ({write_ceiling['store']})", flush=True)
            for users in () if args.skip_entities else ENTITY_USERS:
                name = new_topic(f"bench-users{users}-{run_id}")
                spec = dataclasses.replace(stream, users=users, zipf_s=ENTITY_ZIPF_S)
                made = produce(bootstrap, name, spec, args.entity_events)
                run = run_flow(bootstrap, name, work, workers=args.workers, online=online_target, label=f"u{users}")
                run.update(users=users, zipf_s=ENTITY_ZIPF_S, users_seen=made["users_seen"])
                memory["runs"].append(run)
                print(
                    f"  {users:,} users ({made['users_seen']:,} seen): {run['events_per_s']:,} events/s, "
                    f"peak RSS {_mb(run['peak_rss_bytes'])} MB ({_mb(run['peak_rss_anon_bytes'])} MB anonymous)",
                    flush=True,
                )
            if args.online == "redis":
                freshness["reason"] = "measured only with the embedded online store"
            elif not args.skip_freshness:
                rate = e2e["events_per_s"] / 2
                print(f"freshness at {rate:,.0f} events/s for {args.freshness_seconds:.0f} s ...", flush=True)
                freshness = measure_freshness(
                    bootstrap, new_topic(f"bench-fresh-{run_id}"), work, rate=rate,
                    seconds=args.freshness_seconds, sample=FRESHNESS_SAMPLE, workers=args.workers,
                    event_times=args.freshness_event_times or ("recent" if args.event_times == "recent" else "w1"),
                    flow_args=["--online-store", str(TMPFS / "streamfeat-{run}.lmdb")] if online_target else [],
                )  # fmt: skip
                print(f"  p50 {freshness['p50_ms']} ms, p99 {freshness['p99_ms']} ms", flush=True)
        finally:
            delete_topics(admin, topics)
            if args.online == "embedded-tmpfs" and online_target:
                for path in (Path(online_target), Path(online_target + "-lock")):
                    path.unlink(missing_ok=True)
    report = {
        "benchmark": "streaming",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.streaming", *(argv if argv is not None else sys.argv[1:])]),
        "machine": info,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "parameters": {
            "events": args.events,
            "event_times": args.event_times,
            "partitions": args.partitions,
            "workers": args.workers,
            "online": args.online,
            "entity_events": None if args.skip_entities else args.entity_events,
            "entity_users": None if args.skip_entities else list(ENTITY_USERS),
            "entity_zipf_s": None if args.skip_entities else ENTITY_ZIPF_S,
            "freshness_seconds": None if args.skip_freshness else args.freshness_seconds,
            "flow_batch_size": FLOW_BATCH,
            "cache_capacity": CACHE_CAPACITY,
            "features": "streamfeat/examples/transactions.py (view user_txn, 7 features)",
        },
        "kafka": {"source": kafka["source"], "started_here": kafka["started_here"]},
        "redis": None if redis_info is None else {"source": redis_info["source"]},
        "workload": {
            "spec": dataclasses.asdict(stream),
            "is_w1": True,
            "event_times": args.event_times,
            "shift_days": (stream.start_ms - W1.start_ms) // DAY_MS,
            "events": produced["events"],
            "users_seen": produced["users_seen"],
            "event_time_span_days": produced["event_time_span_days"],
            "value_bytes": produced["value_bytes"],
        },
        "produce": produced,
        "ceilings": ceilings,
        "store_write_ceiling": write_ceiling,
        "end_to_end": e2e,
        "memory_vs_entities": memory,
        "freshness": freshness,
    }
    write_results("streaming", report, markdown, args.out)
    print(f"wrote {args.out / 'streaming.json'} and {args.out / 'streaming.md'}")
    return report


if __name__ == "__main__":
    main()
