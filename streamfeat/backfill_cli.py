"""``streamfeat backfill`` and ``streamfeat parity`` (see :mod:`streamfeat.backfill`)."""

from __future__ import annotations

import argparse

__all__ = ["add_command"]

_HISTORY_HELP = """\
history (one of):
  --input FILE [FILE ...]     JSON Lines or Parquet files, one partition each, rows in arrival order;
                              arrival from --arrival-field (default: arrival; absent -> event time)
  --bootstrap-servers HOST:PORT
                              the views' Kafka topic, every partition from --from to --until;
                              arrival = the record timestamp, exactly as `streamfeat run` sees it
"""

_BACKFILL_DESCRIPTION = f"""\
Replay history through the compiled features — the same operators and lateness decisions
as the live runtime — for one of two jobs:

  training set   --spine ROWS.csv|.parquet --out TRAINING.parquet|.csv
                 For each spine row (entity, time), the value each feature would have been
                 served at that time: every event that arrived at or before it, windows,
                 tiles, refresh cadence and publish lag applied (docs/semantics.md). Rows
                 keep their order and extra columns (labels); before an entity's first
                 event a feature reads as its aggregation's empty value.

  bootstrap      --bootstrap-servers ... --state-dir DIR [--online-store URL] [--until TIME]
                 Build state and online values for the views from their topic up to --until,
                 with the streaming pipeline itself; `streamfeat run --state-dir DIR` then
                 continues from exactly the next offsets (no gap, no double count).

{_HISTORY_HELP}
Times (--from, --until, spine times) are UTC milliseconds or ISO-8601 (naive = UTC).

examples:
  streamfeat generate --out events.jsonl
  streamfeat backfill features.py --input events.jsonl --spine spine.csv --out train.parquet
  streamfeat backfill features.py --bootstrap-servers 127.0.0.1:19092 --state-dir state/ --until 2024-01-01
"""

_PARITY_DESCRIPTION = f"""\
Check training/serving parity: replay the history at every (view, entity, time) a feature
reader or server logged as served (`streamfeat serve --log-served FILE`, or
FeatureReader(..., served_log=JsonlServedLog(FILE))) and compare each served value with
the backfill's. Prints per-feature mismatch counts and examples; exits 1 on any mismatch
(or an empty log), 0 when every value agrees — usable as a CI gate.

{_HISTORY_HELP}"""


def _add_history_options(parser: argparse.ArgumentParser) -> None:
    from streamfeat.backfill import REPLAY_BATCH_SIZE

    group = parser.add_argument_group("history")
    group.add_argument("--input", nargs="+", metavar="FILE", help="JSON Lines or Parquet history files")
    group.add_argument("--arrival-field", default="arrival", help="arrival time field of file rows (default: arrival)")
    group.add_argument("--bootstrap-servers", metavar="HOST:PORT", help="replay the views' Kafka topic instead")
    group.add_argument("--topic", help="Kafka topic (default: the views' source topic)")
    group.add_argument("--from", dest="start", metavar="TIME", help="Kafka: first record time (default: earliest)")
    group.add_argument("--until", metavar="TIME", help="Kafka: records stamped before TIME (default: the end now)")
    tuning = parser.add_argument_group("tuning")
    tuning.add_argument(
        "--batch-size",
        type=int,
        default=REPLAY_BATCH_SIZE,
        help=f"records per batch (default: {REPLAY_BATCH_SIZE}); larger batches replay faster "
        "(a busy entity's events together) and hold more records in memory at once",
    )
    tuning.add_argument(
        "--cache-entities",
        type=int,
        default=200_000,
        help="entities kept in memory per view; the rest spill to a temporary RocksDB (default: 200000)",
    )
    tuning.add_argument(
        "--memory-limit",
        metavar="SIZE",
        help="training sets: size the entity caches by resident memory instead, e.g. 3.5GiB — they start at "
        "--cache-entities and grow while the process is under 75%% of SIZE, shrink above 85%% (default: off, a "
        "fixed --cache-entities); building the training set at the end comes on top",
    )
    tuning.add_argument("--no-progress", action="store_true", help="no progress line")


def _time(text: str | None, what: str) -> int | None:
    from streamfeat.backfill import to_utc_ms

    return None if text is None else to_utc_ms([text], column=what)[0]


def _history(args: argparse.Namespace, views: list):  # type: ignore[no-untyped-def]
    from streamfeat.errors import StreamfeatError
    from streamfeat.history import KafkaHistory, open_history

    topics = {view.source.topic for view in views}
    if len(topics) != 1:
        raise StreamfeatError(f"one backfill replays one source; the views read topics {sorted(topics)}")
    topic = args.topic or topics.pop()
    if bool(args.input) == bool(args.bootstrap_servers):
        raise StreamfeatError("give the history as --input FILE ... or --bootstrap-servers HOST:PORT (one of them)")
    if args.input:
        if args.start or args.until:
            raise StreamfeatError("--from/--until select a Kafka range; for files, pass the files to replay")
        return open_history(args.input, topic=topic, arrival_field=args.arrival_field)
    return KafkaHistory(
        args.bootstrap_servers, topic, start=_time(args.start, "--from"), end=_time(args.until, "--until")
    )


def _cmd_backfill(args: argparse.Namespace) -> int:
    from streamfeat.errors import StreamfeatError
    from streamfeat.loader import load_views

    views = load_views(args.features)
    if args.view:
        views = [v for v in views if v.name in args.view]
        if not views:
            raise StreamfeatError(f"no view named {args.view} in {args.features}")
    if args.state_dir:
        return _bootstrap(args, views)
    if not (args.spine and args.out):
        raise StreamfeatError("give --spine ROWS --out FILE (a training set) or --state-dir DIR (a bootstrap)")
    from streamfeat.backfill import get_training_set, read_spine, write_training_set
    from streamfeat.replay import JsonlRejectSink

    history = _history(args, views)
    spine = read_spine(args.spine, entity_column=args.entity_column or views[0].entity.key, time_column=args.time_column)
    features = [f.strip() for f in args.features_only.split(",") if f.strip()] if args.features_only else None
    rejects = None
    if args.rejects_dir:
        from pathlib import Path

        Path(args.rejects_dir).mkdir(parents=True, exist_ok=True)
        rejects = JsonlRejectSink(Path(args.rejects_dir) / "dead_letters.jsonl", Path(args.rejects_dir) / "late.jsonl")
    try:
        frame = get_training_set(
            spine,
            views,
            history,
            features=features,
            batch_size=args.batch_size,
            cache_entities=args.cache_entities,
            rejects=rejects,
            progress=not args.no_progress,
            memory_limit=args.memory_limit,
        )
    finally:
        if rejects is not None:
            rejects.close()
    path = write_training_set(frame, args.out)
    print(f"{len(frame):,} rows x {len(frame.columns) - len(spine.extra) - 2} features -> {path}")
    return 0


def _bootstrap(args: argparse.Namespace, views: list) -> int:  # type: ignore[no-untyped-def]
    from streamfeat.backfill import bootstrap_from_kafka
    from streamfeat.errors import StreamfeatError

    if not args.bootstrap_servers or args.input:
        raise StreamfeatError(
            "a bootstrap (--state-dir) replays the views' Kafka topic: give --bootstrap-servers, not --input "
            "(the runtime continues from Kafka offsets)"
        )
    if args.start:
        raise StreamfeatError("a bootstrap starts where the state directory stopped (or at the earliest offset); drop --from")
    report = bootstrap_from_kafka(
        views,
        args.bootstrap_servers,
        state_dir=args.state_dir,
        online_store=args.online_store,
        until=_time(args.until, "--until"),
        batch_size=min(args.batch_size, 10_000),
        cache_entities=args.cache_entities,
        progress=not args.no_progress,
    )
    offsets = ", ".join(f"{p}:{o}" for p, o in sorted(report.next_offsets.items()))
    print(
        f"{report.records:,} records in {report.seconds:.1f} s: {report.accepted:,} accepted, {report.late:,} late, "
        f"{report.dead_letters:,} dead letters, {report.published:,} online writes; next offsets {offsets}; "
        f"continue with: streamfeat run {args.features} --bootstrap-servers {args.bootstrap_servers} "
        f"--state-dir {args.state_dir}" + (f" --online-store {args.online_store}" if args.online_store else "")
    )
    return 0


def _cmd_parity(args: argparse.Namespace) -> int:
    from streamfeat.errors import StreamfeatError
    from streamfeat.loader import load_views
    from streamfeat.parity import check_parity, read_served_log, read_served_topic

    views = load_views(args.features)
    if bool(args.served_log) == bool(args.served_topic):
        raise StreamfeatError("give the served answers as --served-log FILE ... or --served-topic TOPIC")
    if args.served_log:
        served = read_served_log(args.served_log)
    else:
        if not args.bootstrap_servers:
            raise StreamfeatError("--served-topic needs --bootstrap-servers")
        served = read_served_topic(args.bootstrap_servers, args.served_topic)
    report = check_parity(
        views,
        served,
        _history(args, views),
        max_examples=args.max_examples,
        batch_size=args.batch_size,
        cache_entities=args.cache_entities,
        progress=not args.no_progress,
    )
    print(report.render())
    return 0 if report.ok else 1


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``backfill`` and ``parity`` to the ``streamfeat`` parser."""
    backfill = commands.add_parser(
        "backfill",
        help="replay history through the features: point-in-time training sets, or bootstrap live state",
        description=_BACKFILL_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    backfill.add_argument("features", metavar="FEATURES.py", help="Python file defining FeatureView objects")
    backfill.add_argument("--view", action="append", help="only this view (repeatable; default: every view)")
    training = backfill.add_argument_group("training set")
    training.add_argument("--spine", metavar="ROWS", help="CSV or Parquet rows of (entity, time[, labels ...])")
    training.add_argument("--out", metavar="FILE", help="training set output, .parquet or .csv")
    training.add_argument("--entity-column", help="spine entity column (default: the views' entity key)")
    training.add_argument("--time-column", default="ts", help="spine time column (default: ts)")
    training.add_argument(
        "--features-only",
        metavar="NAMES",
        help="comma-separated feature names (or view:feature) to compute (default: all)",
    )
    training.add_argument("--rejects-dir", metavar="DIR", help="write dead letters and late events here as JSON Lines")
    boot = backfill.add_argument_group("bootstrap")
    boot.add_argument("--state-dir", metavar="DIR", help="the runtime's state directory to build (Kafka history)")
    boot.add_argument("--online-store", metavar="PATH|URL", help="embedded store file or redis:// URL "
                      "(default: STATE_DIR/online.lmdb)")
    _add_history_options(backfill)
    backfill.set_defaults(func=_cmd_backfill)

    parity = commands.add_parser(
        "parity",
        help="compare logged served values with a backfill of the same history; exit 1 on any mismatch",
        description=_PARITY_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parity.add_argument("features", metavar="FEATURES.py", help="Python file defining the served FeatureViews")
    parity.add_argument("--served-log", nargs="+", metavar="FILE", help="served logs (JSON Lines)")
    parity.add_argument("--served-topic", metavar="TOPIC", help="a served log on Kafka (KafkaServedLog)")
    parity.add_argument("--max-examples", type=int, default=10, help="mismatch examples to print (default: 10)")
    _add_history_options(parity)
    parity.set_defaults(func=_cmd_parity)
