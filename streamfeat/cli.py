"""The ``streamfeat`` command line."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from typing import Self

from streamfeat import __version__
from streamfeat.durations import parse_duration
from streamfeat.errors import StreamfeatError

__all__ = ["main"]

# Subcommands that live beside the code they drive: each module exposes
# ``add_command(commands)``, which adds its parser and sets ``func``. Keep their
# top-level imports light (argparse only): every ``streamfeat`` call imports them.
_COMMAND_MODULES: tuple[str, ...] = (
    "streamfeat.backfill_cli",
    "streamfeat.repartition_cli",
    "streamfeat.bench_cli",
    "streamfeat.serving.cli",
)

_DESCRIPTION = """\
streamfeat: streaming features for machine learning, identical in training and serving.

Define entities, sources and windowed features in a features.py; streamfeat keeps
them fresh per entity and computes exactly the same values when replaying history.
Start with `streamfeat demo`, then `streamfeat validate your_features.py`.
"""


def _cmd_demo(args: argparse.Namespace) -> int:
    from streamfeat.demo import run_demo

    view = None
    if args.features:
        from streamfeat.loader import load_views

        view = load_views(args.features)[0]
    run_demo(users=args.users, events=args.events, days=args.days, seed=args.seed, show=args.show, view=view)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from streamfeat.collector import BatchCollector
    from streamfeat.compile import RunStop
    from streamfeat.loader import load_views
    from streamfeat.online import RedisStore, is_redis_target, online_store_target, open_embedded_store
    from streamfeat.pipeline import FeaturePipeline
    from streamfeat.replay import JsonlRejectSink, ReplaySummary, replay_jsonl
    from streamfeat.state import RocksDBStateStore

    views = load_views(args.features)
    topics = {view.source.topic for view in views}
    if len(topics) != 1:
        raise StreamfeatError(f"one run reads one topic, but the views read {sorted(topics)}; split them")
    if args.cache_entities < 1:
        raise StreamfeatError(f"--cache-entities must be at least 1, got {args.cache_entities}")
    if args.processes > 1:
        if not args.bootstrap_servers:
            raise StreamfeatError("-p/--processes is for a Kafka run (--bootstrap-servers); a file run is one process")
        if args.process_id is not None or args.addresses:
            raise StreamfeatError("-p/--processes starts the cluster's processes itself; -i/-a are for processes "
                                  "started one by one (on several machines)")
        from streamfeat.local_cluster import run_local_cluster

        return run_local_cluster(args.argv, args.processes)
    state_dir = Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    if args.bootstrap_servers:
        return _run_kafka(args, views, topics.pop(), state_dir)
    if not args.input:
        raise StreamfeatError("give --input FILE.jsonl (embedded run) or --bootstrap-servers HOST:PORT (Kafka)")
    target = online_store_target(args.online_store, state_dir)
    online = RedisStore(target) if is_redis_target(target) else open_embedded_store(target)
    interactive = sys.stderr.isatty()

    def status(summary: ReplaySummary) -> None:
        if interactive:
            rate = summary.records / summary.seconds if summary.seconds else 0.0
            print(f"\r{summary.records:,} records, {rate:,.0f}/s, {summary.late:,} late, "
                  f"{sum(summary.dead_letters.values()):,} dead letters", end="", file=sys.stderr, flush=True)

    flush_s = parse_duration(args.state_flush_interval, what="--state-flush-interval") / 1000
    with RocksDBStateStore(state_dir / "state", wal=args.state_wal == "on", flush_interval_s=flush_s) as state, online:
        with JsonlRejectSink(state_dir / "dead_letters.jsonl", state_dir / "late.jsonl") as rejects:
            pipeline = FeaturePipeline(
                views,
                state_store=state,
                online_store=online,
                arrival_field=args.arrival_field,
                rejects=rejects,
                allow_new_views=args.allow_new_views,
                publish_values=args.publish_values,
                cache_capacity=args.cache_entities,
            )
            for name, count in pipeline.seeded.items():
                if count:
                    print(f"view {name}: published its {count:,} committed states into the online store, which had "
                          "not received this state's states", file=sys.stderr)
            collector = BatchCollector()

            def after_batch(summary: ReplaySummary) -> None:
                collector.after_batch()
                status(summary)

            stop = RunStop()
            _stop_on_signals(stop, None, interactive)  # a signal ends the replay after the batch it is in
            try:
                summary = replay_jsonl(
                    pipeline, topics.pop(), args.input, batch_size=args.batch_size, on_batch=after_batch,
                    should_stop=lambda: stop.requested,
                )  # fmt: skip
            finally:
                collector.close()
    if interactive:
        print(file=sys.stderr)
    if stop.requested:
        print("stopped by a signal: every record up to the last one counted below is committed; "
              "running the same command again resumes after it")
    dead = sum(summary.dead_letters.values())
    accepted = ", ".join(f"{view} {count:,}" for view, count in summary.accepted.items()) or "none"
    print(f"{summary.records:,} records in {summary.seconds:.2f} s (resumed after {summary.skipped:,}); "
          f"accepted: {accepted}; {summary.late:,} late; {dead:,} dead letter{'s' if dead != 1 else ''}"
          + (f" ({', '.join(f'{k} {v}' for k, v in summary.dead_letters.items())})" if dead else "")
          + f"; {summary.published:,} online writes -> {target}")
    return 0


def _run_kafka(args: argparse.Namespace, views: list, topic: str, state_dir) -> int:  # type: ignore[no-untyped-def]
    import os
    import threading
    import time

    from bytewax.run import cli_main

    from streamfeat.compile import KafkaRunConfig, RunStop, build_dataflow
    from streamfeat.kafka_io import check_consumer_config, ensure_topics
    from streamfeat.local_cluster import MEMBER_ENV
    from streamfeat.metrics import json_logger, serve_metrics

    config = KafkaRunConfig(
        bootstrap=args.bootstrap_servers,
        state_dir=state_dir,
        online_store=args.online_store,
        batch_size=args.batch_size,
        stop_at_end=args.stop_at_end,
        allow_new_views=args.allow_new_views,
        publish_values=args.publish_values,
        commit_interval_ms=parse_duration(args.commit_interval, what="--commit-interval", allow_zero=True),
        poll_interval_s=parse_duration(args.poll_interval, what="--poll-interval") / 1000,
        large_state_bytes=args.large_state_bytes,
        state_wal=args.state_wal == "on",
        state_flush_interval_ms=parse_duration(args.state_flush_interval, what="--state-flush-interval"),
        background_publish={"auto": None, "on": True, "off": False}[args.background_publish],
        cache_capacity=args.cache_entities,
        consumer_config=dict(args.consumer_config),
        dead_letter_topic=f"{topic}.dead-letters",
        late_topic=f"{topic}.late",
    )
    check_consumer_config(config.consumer_config)  # before any connection: a typo fails at once
    topics = {config.dead_letter_topic: 1, config.late_topic: 1}
    ensure_topics(args.bootstrap_servers, topics, extra=config.client_config)
    if args.metrics_port:
        serve_metrics(args.metrics_port)
    log = json_logger()
    log.info("starting", extra={"fields": {"topic": topic, "workers": args.workers, "state_dir": str(state_dir)}})
    totals = {"records": 0, "accepted": 0, "late": 0, "dead_letters": 0, "published": 0}
    started = time.perf_counter()
    last_log = [started]
    # A member of `run -p N` logs its progress: N live status lines would overwrite each other.
    interactive = sys.stderr.isatty() and not os.environ.get(MEMBER_ENV)

    def on_progress(item) -> None:  # type: ignore[no-untyped-def]
        for name in totals:
            totals[name] += getattr(item, name)
        now = time.perf_counter()
        rate = totals["records"] / max(now - started, 1e-9)
        if interactive:
            print(f"\r{totals['records']:,} records ({rate:,.0f}/s), {totals['late']:,} late, "
                  f"{totals['dead_letters']:,} dead letters", end="", file=sys.stderr, flush=True)
        elif now - last_log[0] >= 10:
            last_log[0] = now
            log.info("progress", extra={"fields": {**totals, "records_per_s": round(rate)}})

    addresses = args.addresses.split(";") if args.addresses else None
    if (addresses is None) != (args.process_id is None):
        raise StreamfeatError("a cluster run needs both --process-id and --addresses")

    reported = threading.Lock()  # the summary once: the run ends, or a stopped cluster member exits

    def finished() -> None:
        if not reported.acquire(blocking=False):
            return
        if interactive:
            print(file=sys.stderr)
        log.info("stopped", extra={"fields": {**totals, "seconds": round(time.perf_counter() - started, 3)}})
        print(f"{totals['records']:,} records from {topic} in {time.perf_counter() - started:.2f} s; "
              f"{totals['accepted']:,} accepted, {totals['late']:,} late, {totals['dead_letters']:,} dead letters; "
              f"{totals['published']:,} online writes", flush=True)

    stop, ended = RunStop(), threading.Event()
    _stop_on_signals(stop, log, interactive, cluster=addresses is not None, ended=ended, finished=finished)
    cli_main(
        build_dataflow(views, config, on_progress, stop=stop),
        workers_per_process=args.workers,
        process_id=args.process_id,
        addresses=addresses,
    )
    ended.set()
    finished()
    return 0


#: A stopped cluster member whose partitions have committed waits this long for its
#: peers (stopped too, the dataflow then ends everywhere) before it exits by itself.
_PEER_STOP_WAIT_S = 5.0


def _stop_on_signals(stop, log, interactive: bool, *, cluster: bool = False, ended=None, finished=None) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM (what `docker stop` and Kubernetes send) and SIGINT (Ctrl-C) stop the run
    cleanly: every partition commits what it processed and ends, so a restart replays
    nothing. A second signal ends the process at once (still safe: a restart replays
    from the last commit).

    A cluster's dataflow ends when every member's partitions have: when all members are
    stopped, they end together. A member stopped alone would wait for its peers, so once
    its own partitions have committed it waits :data:`_PEER_STOP_WAIT_S` and then exits by
    itself (its peers then stop, as when any member goes away: docs/operations.md)."""
    import os
    import signal
    import threading

    def on_signal(signum: int, _frame: object) -> None:
        if stop.requested:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if log is not None:
            log.info("stopping", extra={"fields": {"signal": signal.Signals(signum).name}})
        if interactive:
            print("\nstopping: committing what was processed (a second Ctrl-C stops at once)", file=sys.stderr)
        stop.request()
        if cluster:
            threading.Thread(target=exit_when_stopped, name="streamfeat stop", daemon=True).start()

    def exit_when_stopped() -> None:
        stop.wait_stopped()
        if ended.wait(_PEER_STOP_WAIT_S):
            return  # the peers stopped too: the run ends normally
        finished()
        sys.stderr.flush()
        os._exit(0)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)


def _cmd_produce(args: argparse.Namespace) -> int:
    from streamfeat.kafka_io import ensure_topics, produce_jsonl

    ensure_topics(args.bootstrap_servers, {args.topic: args.partitions})
    count = produce_jsonl(
        args.bootstrap_servers, args.topic, args.input, key_field=args.key_field, timestamp_field=args.timestamp_field
    )
    print(f"produced {count:,} records to {args.topic} on {args.bootstrap_servers}")
    return 0


def _cmd_get(args: argparse.Namespace) -> int:
    from pathlib import Path

    import orjson

    from streamfeat.compile import open_online_store
    from streamfeat.loader import load_views
    from streamfeat.online import FeatureReader

    views = load_views(args.features)
    with open_online_store(args.online_store, Path(args.state_dir)) as store:
        reader = FeatureReader(store, views)
        for entity in args.entities:
            found = reader.get(args.view, entity, at=args.at)
            print(orjson.dumps(
                {"view": found.view, "entity": found.entity, "as_of": found.as_of, "event_time": found.event_time,
                 "values": found.values},
                option=orjson.OPT_NON_STR_KEYS,
            ).decode())
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from streamfeat.build import strategy_name
    from streamfeat.loader import load_views

    for view in load_views(args.features):
        print(f"view {view.name}  (entity {view.entity.name}, key {view.entity.key!r}; source {view.source.name}, "
              f"topic {view.source.topic!r}; fingerprint {view.fingerprint()})")
        for feature in view.features:
            print(f"  {feature.output_name:<42} strategy {strategy_name(feature):<11} {type(feature).__name__}")
    print("ok: definitions are valid")
    return 0


class _CtrlC:
    """Ctrl-C for a command that works in batches and has no stop of its own: the first SIGINT
    raises KeyboardInterrupt at once, as Python's own handler does, and is also remembered, so
    that :meth:`check` (called between batches) raises it again should it have been lost. Python
    loses a KeyboardInterrupt raised inside its import machinery (a weakref callback: "Exception
    ignored in ... _get_module_lock"), and `generate` used to import numpy.random on first use,
    after opening its file: measured at stop 30 with the CPU busy, it ran on after its first SIGINT
    in 3 to 7 of 20-30 tries (`tests/streamfeat/test_shutdown.py` failed so); with :meth:`check`,
    none of 30. streamfeat.workload now imports numpy.random up front as well."""

    def __init__(self) -> None:
        self.requested = False

    def __enter__(self) -> Self:
        self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _on_sigint(self, signum: int, frame: object) -> None:
        self.requested = True
        raise KeyboardInterrupt

    def check(self, *_: object) -> None:
        if self.requested:
            raise KeyboardInterrupt


def _cmd_generate(args: argparse.Namespace) -> int:
    from streamfeat.workload import WorkloadSpec, write_jsonl

    spec = WorkloadSpec(users=args.users, events=args.events, days=args.days, seed=args.seed)
    with _CtrlC() as ctrl_c:
        count = write_jsonl(spec, args.out, after_batch=ctrl_c.check)
    print(f"wrote {count:,} events to {args.out}")
    return 0



def _setting(text: str) -> tuple[str, str]:
    """argparse type: ``KEY=VALUE`` (a librdkafka setting)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def _positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1 (a count or a size)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamfeat", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"streamfeat {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="run a generated transaction stream through the example features and print values",
        description=(
            "Generate a small W1-like card-transaction stream (Zipf-skewed users, 1%% out of order), "
            "apply it through the compiled features in process — the same operator code streaming and "
            "backfill run — and print a few users' values as of a few times. Needs no external service."
        ),
    )
    demo.add_argument("--users", type=int, default=2_000, help="number of users (default: 2000)")
    demo.add_argument("--events", type=int, default=200_000, help="number of transactions (default: 200000)")
    demo.add_argument("--days", type=int, default=60, help="days of event time the stream spans (default: 60)")
    demo.add_argument("--seed", type=int, default=7, help="random seed; same seed, same stream (default: 7)")
    demo.add_argument("--show", type=int, default=3, help="how many of the heaviest users to print (default: 3)")
    demo.add_argument(
        "--features",
        metavar="FEATURES.py",
        help="use the first FeatureView of this file instead of the built-in example "
        "(its source must have the fields user_id, merchant_id, amount, ts)",
    )
    demo.set_defaults(func=_cmd_demo)

    run = commands.add_parser(
        "run",
        help="run the feature pipeline over an input file into local state and an online store",
        description=(
            "Run the feature pipeline — decode and validate, the compiled operators, entity state in RocksDB "
            "under --state-dir, values published to the online store (embedded LMDB file by default, or "
            "Redis) — over a Kafka topic (--bootstrap-servers, a bytewax dataflow over its partitions) or a "
            "JSON Lines file (--input: one partition, line n = offset n). Offsets are committed with the state, "
            "so a restart resumes exactly where the last durable commit ended (see --state-wal): nothing is applied twice. "
            "Bad records go to STATE_DIR/dead_letters.jsonl with the reason and position; late events to "
            "STATE_DIR/late.jsonl. A Kafka run goes on until stopped: SIGTERM or Ctrl-C commits what was "
            "processed and exits 0 (a second one stops at once; a restart replays from the last durable commit)."
        ),
    )
    run.add_argument("features", metavar="FEATURES.py", help="Python file defining FeatureView objects")
    run.add_argument("--input", metavar="FILE.jsonl", help="embedded run: records, one JSON object per line")
    run.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT",
        help="Kafka run: consume the views' topic (keyed by entity) with a bytewax dataflow; dead letters go to "
        "TOPIC.dead-letters and late events to TOPIC.late",
    )
    run.add_argument(
        "-w",
        "--workers",
        type=_positive_int,
        default=2,
        help="Kafka run: bytewax workers (threads) per process, sharing the topic's partitions (default: 2). The "
        "native core decodes, applies and encodes without the GIL, so a second worker uses a second core (2M W1 "
        "events, 4 partitions: 6.83 and 7.09 s with 2 workers against 8.45 and 8.62 s with 1)",
    )
    run.add_argument(
        "-p",
        "--processes",
        type=_positive_int,
        default=1,
        help="Kafka run: start this many processes on this machine as one bytewax cluster sharing the topic's "
        "partitions, and wait for them (default: 1). Signals reach them all (one clean stop); a process that "
        "fails stops the others; with --metrics-port P, process k serves its metrics on P+k. The workers of one "
        "process share its GIL, so a commit or other Python work of one partition holds up the others; one "
        "worker per process (-p 2 -w 1 on 2 cores) gives each partition's latency its own GIL "
        "(docs/operations.md, 'Processes or workers')",
    )
    run.add_argument(
        "-i",
        "--process-id",
        type=int,
        help="Kafka run as a cluster: this process's index into --addresses (start one process per address)",
    )
    run.add_argument(
        "-a",
        "--addresses",
        metavar="HOST:PORT;HOST:PORT",
        help="Kafka run as a cluster: every process's address, ';'-separated, the same list for all processes; "
        "the topic's partitions are shared among all workers of all processes",
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="Kafka run: serve Prometheus metrics (rates, consumer lag, freshness, dead letters, state size) "
        "on this port at /metrics",
    )
    run.add_argument(
        "--stop-at-end",
        action="store_true",
        help="Kafka run: stop once the records present at start are processed (default: run until stopped)",
    )
    run.add_argument("--state-dir", default="streamfeat-state", help="where state lives (default: ./streamfeat-state)")
    run.add_argument(
        "--online-store",
        metavar="PATH|redis://HOST:PORT/DB",
        help="embedded store file (default: STATE_DIR/online.lmdb, an LMDB file; a path ending in .sqlite, "
        ".sqlite3 or .db is a SQLite file) or a Redis URL. A store that does not hold this state's rows (new, "
        "flushed, or a file in memory such as /dev/shm lost at a reboot) gets every committed state at start, so "
        "a file on tmpfs is safe: lower latency, no disk writes (docs/operations.md)",
    )
    run.add_argument(
        "--batch-size",
        type=_positive_int,
        default=500_000,
        help="most records per batch (default: 500000). A batch takes what is waiting, so under light load batches "
        "stay small and fresh; under a backlog, bigger batches write each busy entity's state once for more "
        "events (higher throughput, more memory and seconds per batch; 5M W1 events from Kafka, 4 partitions, "
        "2 workers: 14.82 and 15.45 s at 500000 against 16.52 and 16.62 s at 200000, peak RSS within 0.1 GB)",
    )
    run.add_argument(
        "--commit-interval",
        default="1s",
        metavar="DURATION",
        help="commit state and Kafka offsets together at most this often (default: 1s; 0s = after every batch). "
        "A crash replays the records since the last commit (exactly once in effect either way). In between, an "
        "entity whose state is large is published to the online store as new values only, and its state goes out "
        "with the commit: a heavy entity then costs one state write per commit instead of one per batch. The "
        "topic's partitions take turns: partition p of N commits at p/N of each interval",
    )
    run.add_argument(
        "--poll-interval",
        default="20ms",
        metavar="DURATION",
        help="Kafka run: a partition that had less than a full batch waiting is read again this much later "
        "(default: 20ms); meanwhile the worker serves its other partitions. Longer: fewer, larger batches under "
        "light load (less work per event), each record waiting up to this much longer",
    )
    run.add_argument(
        "--large-state-bytes",
        type=_positive_int,
        default=16_384,
        metavar="BYTES",
        help="with a commit interval, an entity whose encoded state was at least this large is published "
        "values-only between commits (default: 16384). Lower it to take more state encoding off the batches "
        "between commits (fresher values), at the price of larger commits",
    )
    run.add_argument(
        "--state-wal",
        choices=["on", "off"],
        default="off",
        help="whether each commit of state and offsets goes through RocksDB's write-ahead log. off (the default, "
        "as Kafka Streams and Flink run RocksDB): a commit is on disk once RocksDB flushes its memtable — when it "
        "fills, at a clean stop, and at the first commit --state-flush-interval after the last flush — and a "
        "killed process restarts from the last flushed commit, replaying the records since; each commit's "
        "RocksDB write, which holds Python's GIL, takes less than half as long. on: a killed process restarts "
        "from its last commit. Exactly once in effect either way",
    )
    run.add_argument(
        "--state-flush-interval",
        default="10s",
        metavar="DURATION",
        help="with --state-wal off (the default), flush RocksDB's memtable at the first commit this long after "
        "the last flush (default: 10s), which bounds what a killed process replays",
    )
    run.add_argument(
        "--allow-new-views",
        action="store_true",
        help="start views that have no state in a state directory which already consumed the topic (new views, "
        "or changed definitions) empty, counting only later events; without it such a run stops with an error "
        "(build their state with `streamfeat backfill --state-dir` instead)",
    )
    run.add_argument(
        "--no-publish-values",
        dest="publish_values",
        action="store_false",
        help="publish only each entity's state, not also its values as of the write; readers then decode the "
        "state on every read (slower serving, a little less work per batch)",
    )
    run.add_argument(
        "--cache-entities",
        type=int,
        default=100_000,
        metavar="N",
        help="entity states kept in memory, at most, per process (default: 100000): each partition of the topic "
        "gets N divided by the topic's partition count, so a process running all of them holds up to N and one "
        "of a cluster (-p/-i) its partitions' share; the others are read back from the state store when their "
        "entity is next touched. More costs resident memory and saves reads, decoding and eviction when many "
        "entities are active",
    )
    run.add_argument(
        "--background-publish",
        choices=("auto", "on", "off"),
        default="auto",
        help="with Kafka, where online rows are written: on = one background thread per process that merges the "
        "rows waiting per entity while it writes, so the next batch is processed meanwhile; off = by each batch "
        "before the next is read; auto (default) = on, except for the embedded store when its native writer "
        "is not built (measured faster so, Redis included). With the thread, a commit records the entities whose rows "
        "it has not written yet and a restart publishes them again, so exactly-once in effect holds either way",
    )
    run.add_argument(
        "--consumer-config",
        type=_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Kafka run: a librdkafka setting for the partition readers, e.g. fetch.wait.max.ms=10, "
        "security.protocol=SASL_SSL or sasl.username=...; repeat for several. Those that say how to reach the "
        "cluster (security.*, ssl.*, sasl.*, client.*, socket.*, broker.*, metadata.*, ...) also go to the "
        "dead-letter and late-event producers and to topic creation. Checked at start; settings that decide "
        "which records are read or where offsets live (isolation.level, auto.offset.reset, enable.auto.commit, "
        "...) are fixed",
    )
    run.add_argument(
        "--arrival-field",
        default="arrival",
        help="integer field holding each record's arrival time in UTC ms; absent -> the event time "
        "(default: arrival)",
    )
    run.set_defaults(func=_cmd_run)

    produce = commands.add_parser(
        "produce",
        help="load a JSON Lines file into a Kafka topic, keyed by entity (demo data, tests)",
        description="Produce every line of a JSON Lines file to a Kafka topic (created when missing), keyed by "
        "--key-field so each entity's events share a partition in file order, with the Kafka timestamp taken "
        "from --timestamp-field (the arrival time).",
    )
    produce.add_argument("input", metavar="FILE.jsonl")
    produce.add_argument("--bootstrap-servers", required=True, metavar="HOST:PORT")
    produce.add_argument("--topic", required=True)
    produce.add_argument("--partitions", type=int, default=4, help="partitions if the topic is created (default: 4)")
    produce.add_argument("--key-field", required=True, help="the entity key field, e.g. user_id")
    produce.add_argument("--timestamp-field", default="arrival", help="integer UTC ms field (default: arrival)")
    produce.set_defaults(func=_cmd_produce)

    get = commands.add_parser(
        "get",
        help="read feature values of entities from the online store, as of now or a given time",
        description="Read entities' feature values from the online store, finalised as of --at (UTC ms; default: "
        "now) by the same code serving and backfill use. Prints one JSON object per entity.",
    )
    get.add_argument("features", metavar="FEATURES.py")
    get.add_argument("view", help="feature view name")
    get.add_argument("entities", nargs="+", help="entity keys")
    get.add_argument("--at", type=int, help="read time in UTC ms (default: now)")
    get.add_argument("--state-dir", default="streamfeat-state", help="where the default embedded store lives")
    get.add_argument("--online-store", metavar="PATH|redis://HOST:PORT/DB", help="default: STATE_DIR/online.lmdb")
    get.set_defaults(func=_cmd_get)

    validate = commands.add_parser(
        "validate",
        help="load a features.py, check every definition, and list output names and strategies",
        description="Import FEATURES.py, validate every FeatureView in it, and print each feature's "
        "output name and the window strategy that will compute it. Exits 1 with the error on invalid definitions.",
    )
    validate.add_argument("features", metavar="FEATURES.py", help="Python file defining FeatureView objects")
    validate.set_defaults(func=_cmd_validate)

    generate = commands.add_parser(
        "generate",
        help="write a deterministic synthetic transaction stream as JSON Lines",
        description="Write the workload generator's card transactions (user_id, merchant_id, amount, ts, "
        "arrival — times in UTC ms) as JSON Lines, in arrival order. W1 is --users 1000000 --events 20000000 "
        "--days 400.",
    )
    generate.add_argument("--users", type=int, default=10_000, help="number of users (default: 10000)")
    generate.add_argument("--events", type=int, default=1_000_000, help="number of events (default: 1000000)")
    generate.add_argument("--days", type=int, default=30, help="days of event time (default: 30)")
    generate.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
    generate.add_argument("--out", required=True, help="output file (.jsonl)")
    generate.set_defaults(func=_cmd_generate)

    import importlib

    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `streamfeat ... | head` ends quietly
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # `run -p N` passes them on to its processes
    try:
        return args.func(args)
    except StreamfeatError as exc:
        print(f"streamfeat {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C in a command without its own stop (`run` commits and stops cleanly)
        print(f"streamfeat {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
