"""``streamfeat repartition`` (see :mod:`streamfeat.repartition`)."""

from __future__ import annotations

import argparse

__all__ = ["add_command"]

_DESCRIPTION = """\
Copy a source topic that is NOT keyed by the entity into a topic that is, exactly once.

When you need it: `streamfeat run` keeps each entity's state in the partition its events
arrive on and decides lateness in offset order within that partition. That is right only
when every event of an entity lands in one partition, in order — i.e. the producer keys
records by the entity (`streamfeat produce --key-field user_id` does). If your topic is
keyed by something else (request id, no key / round robin, another entity), run this first.

What it does: reads every partition of the views' source topic (or --topic), takes the
entity key (the views' entity key field, or --key-field) out of each JSON record, and
writes the record to TOPIC.by-KEYFIELD (or --target) keyed by that entity — value bytes,
headers and the original record timestamp (the arrival time the runtime uses) unchanged.
A record without a usable key (not JSON, not an object, key missing, wrong type, empty or
too long) goes to TOPIC.dead-letters with the reason and its source partition and offset.

Exactly once: each batch is one Kafka transaction holding its output and the source
offsets it consumed (committed to the consumer group --group). Kill it at any moment and
start it again: it continues from the last committed batch, and a reader with
isolation.level=read_committed (as `streamfeat run` and backfill read) sees every source
record exactly once. Run one repartitioner per group: its transactional.id is the group,
so a second one with the same --group fences the first.

Order: an entity's events from one source partition keep their order. Events of one entity
spread over several source partitions are interleaved in the order this command read
them; that order is fixed in the repartition topic, so live runs, restarts and backfills
of the repartition topic all see the same one.

Then point the pipeline at the repartition topic: `streamfeat run` has no --topic option;
set the view's source topic in FEATURES.py, e.g.
    Source("transactions", topic="transactions.by-user_id", timestamp="ts", schema={...})
(Dead letters and late events of that run go to transactions.by-user_id.dead-letters/.late.)
Backfills read the same topic (`streamfeat backfill --topic transactions.by-user_id`).

examples:
  streamfeat repartition features.py --bootstrap-servers 127.0.0.1:19092 --partitions 8
  streamfeat repartition features.py --bootstrap-servers 127.0.0.1:19092 --stop-at-end
"""


def _cmd_repartition(args: argparse.Namespace) -> int:
    import sys

    from streamfeat.errors import StreamfeatError
    from streamfeat.loader import load_views
    from streamfeat.repartition import RepartitionConfig, Repartitioner

    views = load_views(args.features)
    topic = args.topic
    if topic is None:
        topics = {view.source.topic for view in views}
        if len(topics) != 1:
            raise StreamfeatError(f"the views read topics {sorted(topics)}; choose one with --topic")
        topic = topics.pop()
    key_field = args.key_field
    if key_field is None:
        keys = {view.entity.key for view in views if view.source.topic == topic} or {view.entity.key for view in views}
        if len(keys) != 1:
            raise StreamfeatError(f"the views' entities have the key fields {sorted(keys)}; choose one with --key-field")
        key_field = keys.pop()
    config = RepartitionConfig(
        bootstrap=args.bootstrap_servers,
        source_topic=topic,
        key_field=key_field,
        target_topic=args.target,
        partitions=args.partitions,
        group=args.group,
        batch_size=args.batch_size,
        stop_at_end=args.stop_at_end,
    )
    interactive = sys.stderr.isatty()

    def status(stats) -> None:  # type: ignore[no-untyped-def]
        if interactive:
            rate = stats.records / stats.seconds if stats.seconds else 0.0
            print(f"\r{stats.records:,} records ({rate:,.0f}/s), {stats.dead_letters:,} dead letters, "
                  f"{stats.transactions:,} transactions", end="", file=sys.stderr, flush=True)

    with Repartitioner(config) as repartitioner:
        print(f"repartitioning {topic} -> {config.target} keyed by {key_field!r} (group {config.group_id}); "
              f"run the views on topic {config.target!r}", file=sys.stderr)
        stats = repartitioner.run(on_batch=status)
    if interactive:
        print(file=sys.stderr)
    print(f"{stats.records:,} records from {topic} in {stats.seconds:.2f} s: {stats.repartitioned:,} to "
          f"{config.target}, {stats.dead_letters:,} dead letters to {config.dead_letters}; "
          f"{stats.transactions:,} transactions ({stats.aborted:,} aborted and retried)")
    return 0


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``repartition`` to the ``streamfeat`` parser."""
    parser = commands.add_parser(
        "repartition",
        help="copy a topic not keyed by entity into one that is (TOPIC.by-KEY), exactly once",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("features", metavar="FEATURES.py", help="Python file defining the FeatureViews to feed")
    parser.add_argument("--bootstrap-servers", required=True, metavar="HOST:PORT", help="Kafka bootstrap servers")
    parser.add_argument("--topic", help="source topic (default: the views' source topic)")
    parser.add_argument("--key-field", help="entity key field (default: the views' entity key)")
    parser.add_argument("--target", metavar="TOPIC", help="repartition topic (default: TOPIC.by-KEYFIELD)")
    parser.add_argument(
        "--partitions",
        type=int,
        metavar="N",
        help="partitions of the repartition topic when it is created (default: the source's; its replication "
        "factor and retention.ms are the source's too); an existing "
        "topic with another count is an error, since changing it moves entities between partitions",
    )
    parser.add_argument(
        "--group",
        help="consumer group and transactional id holding the progress (default: streamfeat-repartition.TARGET)",
    )
    parser.add_argument("--batch-size", type=int, default=10_000, help="records per transaction (default: 10000)")
    parser.add_argument(
        "--stop-at-end",
        action="store_true",
        help="stop once the records present at start are repartitioned (default: run until stopped)",
    )
    parser.set_defaults(func=_cmd_repartition)
