"""The four systems of :mod:`benchmarks.peers`, each run as its own process.

``python -m benchmarks.peers_systems SYSTEM CONFIG.json`` drains one Kafka topic with
SYSTEM (``streamfeat``, ``bytewax``, ``quix`` or ``plain``) computing the job's features,
and prints JSON lines on stdout: ``{"progress": ...}`` about twice a second, then one
``{"final": ...}``. Rates are measured between the first and the last record the system
reported processing, so start-up (imports, group join, state opening) is not in them.
A run stops at the end of the topic or after ``max_seconds`` of processing.

Only the standard library is imported at the top: the Quix Streams run uses its own
virtual environment (quixstreams pins an older confluent-kafka than streamfeat), which
has neither streamfeat nor bytewax.

Jobs: ``count365`` — count over 365 days with a 1-day hop, per user; ``all3`` — that,
plus the 7-day sum of ``amount`` and the lifetime count.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any

DAY = 86_400_000
MINUTE = 60_000
LATENESS = 5 * MINUTE  # streamfeat allowed_lateness, bytewax wait, Quix grace


def peak_rss() -> int:
    """This process's peak resident memory: ``VmHWM``, which starts afresh at ``exec`` (unlike
    ``ru_maxrss``, which keeps the forking parent's peak); ``ru_maxrss`` where there is no /proc."""
    try:
        with open("/proc/self/status") as status:
            lines = status.readlines()
    except OSError:  # no /proc
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    hwm = [int(line.split()[1]) * 1024 for line in lines if line.startswith("VmHWM:")]
    return hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Meter:
    """Counts processed records, reports progress, and says when the time is up."""

    def __init__(self, max_seconds: float, total: int) -> None:
        self.max_seconds = max_seconds
        self.total = total
        self.events = 0
        self.first: tuple[float, int] | None = None
        self.last = (0.0, 0)
        self._printed = 0.0

    def tick(self, n: int = 1) -> bool:
        """Record ``n`` more processed records; True when the run should stop."""
        now = time.perf_counter()
        self.events += n
        if self.first is None:
            self.first = (now, self.events)
        self.last = (now, self.events)
        if now - self._printed >= 0.5:
            self._printed = now
            print(json.dumps({"progress": self.figures()}), flush=True)
        return self.events >= self.total or now - self.first[0] >= self.max_seconds

    def figures(self) -> dict[str, Any]:
        first_t, first_n = self.first or (0.0, 0)
        last_t, last_n = self.last
        seconds = last_t - first_t
        return {
            "events": self.events,
            "measured_events": last_n - first_n,
            "measured_seconds": round(seconds, 4),
            "events_per_s": round((last_n - first_n) / seconds) if seconds > 0 else None,
            "max_rss_bytes": peak_rss(),
        }

    def start(self) -> None:
        """Mark the first record seen, for systems that count records later in the flow."""
        if self.first is None:
            self.first = (time.perf_counter(), 0)

    def final(self, status: str, values_written: bool = False) -> None:
        if status == "drained":  # the run has finished everything: measure up to now
            self.last = (time.perf_counter(), self.events)
        print(json.dumps({"final": {**self.figures(), "status": status, "values": values_written}}), flush=True)


def _dump(path: str | None, values: dict[str, Any]) -> bool:
    if not path:
        return False
    with open(path, "w") as out:
        json.dump(values, out)
    return True


# -- (d) plain Python: confluent-kafka batch consume + orjson + dicts ------------------------------


def run_plain(cfg: dict[str, Any], meter: Meter) -> None:
    """The practical ceiling: tiles of days for the hopping count (no lateness rule: every
    record counts), a per-user deque with a running sum for the exact 7-day sum."""
    from collections import deque

    import orjson
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": cfg["bootstrap"], "group.id": cfg["group"], "enable.auto.commit": False})
    consumer.assign([TopicPartition(cfg["topic"], p, OFFSET_BEGINNING) for p in range(cfg["partitions"])])
    loads = orjson.loads
    all3 = cfg["job"] == "all3"
    days: dict[str, dict[int, int]] = {}
    lifetime: dict[str, int] = {}
    sums: dict[str, list[Any]] = {}  # user -> [deque of (ts, amount), running sum, last arrival]
    week = 7 * DAY
    stop = False
    while not stop:
        messages = consumer.consume(num_messages=10_000, timeout=0.5)
        if messages:
            meter.start()
        n = 0
        for message in messages:
            if message.error() is not None:
                continue
            record = loads(message.value())
            user = record["user_id"]
            ts = record["ts"]
            tiles = days.get(user)
            if tiles is None:
                days[user] = tiles = {}
            k = (ts - 1) // DAY  # day tile k holds (k*DAY, (k+1)*DAY]
            if k in tiles:
                tiles[k] += 1
            else:
                tiles[k] = 1
                oldest = k - 366
                for old in [d for d in tiles if d < oldest] if len(tiles) > 366 else ():
                    del tiles[old]
            if all3:
                lifetime[user] = lifetime.get(user, 0) + 1
                arrival = message.timestamp()[1]
                entry = sums.get(user)
                if entry is None:
                    sums[user] = entry = [deque(), 0.0, arrival]
                queue = entry[0]
                queue.append((ts, record["amount"]))
                entry[1] += record["amount"]
                entry[2] = max(entry[2], arrival)
                bound = entry[2] - week
                while queue and queue[0][0] <= bound:
                    entry[1] -= queue.popleft()[1]
            n += 1
        if n:
            stop = meter.tick(n)
    consumer.close()
    values: dict[str, Any] = {}
    if cfg.get("values_out"):
        end = cfg.get("read_end_ms")
        first, last = (end - 365 * DAY) // DAY, end // DAY - 1
        for user in cfg["sample"]:
            tiles = days.get(user, {})
            row: dict[str, Any] = {"count_365d_hop1d": sum(c for d, c in tiles.items() if first <= d <= last)}
            if all3:
                row["count_lifetime"] = lifetime.get(user, 0)
                row["amount_sum_7d"] = sums[user][1] if user in sums else 0.0
            values[user] = row
    meter.final("drained" if meter.events >= meter.total else "time_limit", _dump(cfg.get("values_out"), values))


# -- (a) streamfeat: its real runtime (bytewax dataflow, RocksDB state, embedded online store) -----


def streamfeat_view(cfg: dict[str, Any]) -> Any:
    from streamfeat import Count, Entity, FeatureView, Hopping, Lifetime, Sliding, Source, Sum

    source = Source(
        "transactions",
        topic=cfg["topic"],
        timestamp="ts",
        schema={"user_id": str, "merchant_id": str, "amount": float, "ts": int},
    )
    features = [Count(window=Hopping("365d", hop="1d"))]
    if cfg["job"] == "all3":
        features += [Sum("amount", window=Sliding("7d")), Count(window=Lifetime())]
        if cfg.get("values_out"):  # bytewax's 7-day sum is hopping: compare it with the same in streamfeat
            features.append(Sum("amount", window=Hopping("7d", hop="1d")))
    return FeatureView(
        "peers", entity=Entity("user", key="user_id"), source=source, allowed_lateness="5m", features=features
    )


def run_streamfeat(cfg: dict[str, Any], meter: Meter) -> None:
    from pathlib import Path

    from bytewax.run import cli_main

    from streamfeat.build import build_view
    from streamfeat.compile import KafkaRunConfig, build_dataflow
    from streamfeat.kafka_io import ensure_topics
    from streamfeat.online import online_store_target, open_embedded_store

    view = streamfeat_view(cfg)
    topic = cfg["topic"]
    config = KafkaRunConfig(
        bootstrap=cfg["bootstrap"],
        state_dir=Path(cfg["state_dir"]),
        batch_size=10_000,
        stop_at_end=True,
        dead_letter_topic=f"{topic}.dead-letters",
        late_topic=f"{topic}.late",
    )
    ensure_topics(cfg["bootstrap"], {config.dead_letter_topic: 1, config.late_topic: 1})
    late = [0]

    def on_progress(item: Any) -> None:
        late[0] += item.late
        if meter.tick(item.records) and meter.events < meter.total:
            meter.final("time_limit")
            os._exit(0)  # a time-limited run leaves its state behind; nothing reads it

    flow = build_dataflow([view], config, on_progress)
    meter.start()  # includes opening the partitions' state stores and readers
    cli_main(flow, workers_per_process=1)
    values: dict[str, Any] = {}
    if cfg.get("values_out"):
        op = build_view(view)
        store = open_embedded_store(online_store_target(None, cfg["state_dir"]), readonly=True)
        try:
            rows = store.get_raw(view.name, view.fingerprint(), cfg["sample"])
        finally:
            store.close()
        end = cfg["read_at_ms"]
        for user, row in zip(cfg["sample"], rows):
            if row is None:
                values[user] = None
                continue
            state = op.from_bytes(row.state)
            at_end = op.read(state, max(end, state.now))
            at_last = op.read(state, state.now)  # the user's newest arrival: what its last event saw
            values[user] = {name: (at_last[name] if name == "amount_sum_7d" else at_end[name]) for name in op.names}
        values["__late__"] = late[0]
    meter.final("drained", _dump(cfg.get("values_out"), values))


# -- (b) bytewax built-in windowing ------------------------------------------------------------------


def run_bytewax(cfg: dict[str, Any], meter: Meter) -> None:
    from datetime import UTC, datetime, timedelta

    import bytewax.operators as op
    import orjson
    from bytewax.connectors.kafka import operators as kop
    from bytewax.dataflow import Dataflow
    from bytewax.operators import windowing as win
    from bytewax.testing import run_main

    align = datetime.fromtimestamp(cfg["align_ms"] / 1000, UTC)
    sample = set(cfg.get("sample") or ())
    collected: dict[str, dict[str, Any]] = {}
    loads = orjson.loads

    def decode(message: Any) -> tuple[str, dict[str, Any]]:
        meter.start()
        record = loads(message.value)
        return record["user_id"], record

    # bytewax reads input ahead of the windows (and, ordered, holds each key's values until
    # its watermark passes them), so records are counted where they are folded: every
    # record lands in exactly 365 one-year windows, hence one record per 365 folds.
    folds = [0]

    def count_fold(acc: int, _record: Any) -> int:
        folds[0] += 1
        if folds[0] == 365:
            folds[0] = 0
            if meter.tick() and meter.events < meter.total:
                meter.final("time_limit")
                os._exit(0)
        return acc + 1

    flow = Dataflow("peers_bytewax")
    kin = kop.input(
        "kafka",
        flow,
        brokers=[cfg["bootstrap"]],
        topics=[cfg["topic"]],
        tail=False,
        batch_size=10_000,
        add_config={"group.id": cfg["group"]},
    )
    keyed = op.map("decode", kin.oks, decode)
    clock = win.EventClock(
        lambda r: datetime.fromtimestamp(r["ts"] / 1000, UTC), wait_for_system_duration=timedelta(milliseconds=LATENESS)
    )
    year = win.SlidingWindower(length=timedelta(days=365), offset=timedelta(days=1), align_to=align)
    counts = win.fold_window("count_365d", keyed, clock, year, lambda: 0, count_fold, lambda a, b: a + b)
    outputs = {"count_365d_hop1d": (counts.down, 365 * DAY, DAY)}
    if cfg["job"] == "all3":
        week = win.SlidingWindower(length=timedelta(days=7), offset=timedelta(days=1), align_to=align)
        sums = win.fold_window(
            "sum_7d", keyed, clock, week, float, lambda acc, r: acc + r["amount"], lambda a, b: a + b
        )
        outputs["amount_sum_7d_hop1d"] = (sums.down, 7 * DAY, DAY)
        lifetime = op.stateful_map("lifetime", keyed, lambda n, _r: ((n or 0) + 1, (n or 0) + 1))
        outputs["count_lifetime"] = (lifetime, 0, 0)

    for name, (stream, length, offset) in outputs.items():

        def keep(item: tuple[str, Any], name: str = name, length: int = length, offset: int = offset) -> None:
            user, value = item
            if user not in sample:
                return
            if length:  # (window id, value): key by the window's close time in ms
                window_id, value = value
                close = cfg["align_ms"] + window_id * offset + length
                collected.setdefault(user, {}).setdefault(name, {})[str(close)] = value
            else:
                collected.setdefault(user, {})[name] = value

        op.inspect(f"collect_{name}", stream, lambda _step, item, keep=keep: keep(item))
    run_main(flow)
    values: dict[str, Any] = {}
    end = str(cfg.get("read_end_ms"))
    for user in cfg.get("sample") or ():
        got = collected.get(user, {})
        values[user] = {
            name: (got.get(name, {}).get(end) if length else got.get(name))
            for name, (_s, length, _o) in outputs.items()
        }
    meter.final("drained", _dump(cfg.get("values_out"), values))


# -- (c) Quix Streams -------------------------------------------------------------------------------


def run_quix(cfg: dict[str, Any], meter: Meter) -> None:
    import logging

    from quixstreams import Application

    app = Application(
        broker_address=cfg["bootstrap"],
        consumer_group=cfg["group"],
        auto_offset_reset="earliest",
        state_dir=cfg["state_dir"],
        use_changelog_topics=False,
        loglevel=logging.WARNING,
    )
    topic = app.topic(
        cfg["topic"],
        value_deserializer="json",
        key_deserializer="str",
        timestamp_extractor=lambda value, _headers, _ts, _type: value["ts"],
    )
    sample = set(cfg.get("sample") or ())
    collected: dict[str, dict[str, Any]] = {}
    end = cfg.get("read_end_ms")

    def tick(_value: Any) -> None:
        meter.start()
        if meter.tick():
            app.stop()

    sdf = app.dataframe(topic)
    sdf = sdf.update(tick)

    def keep_window(name: str, only_end: bool):
        def keep(value: dict[str, Any], key: str, _ts: int, _headers: Any) -> None:
            if key in sample and (not only_end or value["end"] == end):
                collected.setdefault(key, {})[name] = value["value"]

        return keep

    year = sdf.hopping_window(duration_ms=365 * DAY, step_ms=DAY, grace_ms=LATENESS).count()
    # Throughput runs take final() (a result per closed window, like bytewax); the agreement
    # run takes current() so windows not closed by the end of the topic are visible too.
    year = year.current() if cfg.get("values_out") else year.final()
    year.update(keep_window("count_365d_hop1d", True), metadata=True)
    if cfg["job"] == "all3":
        week = sdf.apply(lambda v: v["amount"]).sliding_window(duration_ms=7 * DAY, grace_ms=LATENESS).sum().current()
        week.update(keep_window("amount_sum_7d", False), metadata=True)

        def lifetime(value: Any, state: Any) -> int:
            n = state.get("n", 0) + 1
            state.set("n", n)
            return n

        life = sdf.apply(lifetime, stateful=True)

        def keep_life(value: int, key: str, _ts: int, _headers: Any) -> None:
            if key in sample:
                collected.setdefault(key, {})["count_lifetime"] = value

        life.update(keep_life, metadata=True)
    app.run()
    names = ["count_365d_hop1d"] + (["amount_sum_7d", "count_lifetime"] if cfg["job"] == "all3" else [])
    values = {user: {n: collected.get(user, {}).get(n) for n in names} for user in cfg.get("sample") or ()}
    meter.final("drained" if meter.events >= meter.total else "time_limit", _dump(cfg.get("values_out"), values))


SYSTEMS = {"plain": run_plain, "streamfeat": run_streamfeat, "bytewax": run_bytewax, "quix": run_quix}


def main(argv: list[str]) -> None:
    system, config_path = argv
    with open(config_path) as config:
        cfg = json.load(config)
    meter = Meter(cfg["max_seconds"], cfg["total"])
    SYSTEMS[system](cfg, meter)


if __name__ == "__main__":
    main(sys.argv[1:])
