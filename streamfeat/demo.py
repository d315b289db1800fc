"""``streamfeat demo``: a small W1-like stream through the real pipeline, on embedded stores.

Generates card transactions (:mod:`streamfeat.workload`) into a JSON Lines file,
replays it through :class:`~streamfeat.pipeline.FeaturePipeline` — decode and
validate, the compiled operators of ``examples/transactions.py``, entity state in
RocksDB, values published to the embedded online store — the same path a Kafka
stream takes, then reads a few users' features back *through the online store's
reader* as of a few times, so the semantics can be seen: the exact 7-day sum and
1-hour count move with time, the daily-refreshed 365-day count only changes at its
02:00 publication. Needs no external service.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from streamfeat.clock import DAY_MS, HOUR_MS
from streamfeat.definitions import FeatureView
from streamfeat.loader import EXAMPLE_FEATURES, load_views
from streamfeat.online import FeatureReader, LmdbStore
from streamfeat.pipeline import FeaturePipeline
from streamfeat.replay import JsonlRejectSink, replay_jsonl
from streamfeat.state import RocksDBStateStore
from streamfeat.workload import WorkloadSpec, generate, write_jsonl

__all__ = ["DemoResult", "run_demo"]


@dataclass(frozen=True)
class DemoResult:
    events: int
    accepted: int
    late: int
    dead_letters: int
    entities: int
    seconds: float
    workdir: Path
    table: dict[tuple[str, int], dict[str, Any]]  # (user, time) -> feature values


def _fmt_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt_value(v) for v in value) + "]"
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else str(value)


def run_demo(
    *,
    users: int = 2_000,
    events: int = 200_000,
    days: int = 60,
    seed: int = 7,
    show: int = 3,
    view: FeatureView | None = None,
    workdir: str | Path | None = None,
    out: TextIO = sys.stdout,
) -> DemoResult:
    """Run the demo and print its table to ``out``; returns what it printed, as data.

    ``workdir`` keeps the input file, the RocksDB state and the online store (default:
    a fresh temporary directory, kept so the files can be inspected).
    """
    if view is None:
        view = load_views(EXAMPLE_FEATURES)[0]
    workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="streamfeat-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    spec = WorkloadSpec(users=users, events=events, days=days, merchants=max(10, users // 4), seed=seed)
    stream = workdir / "transactions.jsonl"
    write_jsonl(spec, stream)
    activity = np.bincount(generate(spec).user, minlength=users)

    with RocksDBStateStore(workdir / "state") as state, LmdbStore(workdir / "online.lmdb") as online:
        with JsonlRejectSink(workdir / "dead_letters.jsonl", workdir / "late.jsonl") as rejects:
            pipeline = FeaturePipeline(
                [view], state_store=state, online_store=online, arrival_field="arrival", rejects=rejects
            )
            summary = replay_jsonl(pipeline, view.source.topic, stream)
        accepted = summary.accepted.get(view.name, 0)
        dead = sum(summary.dead_letters.values())

        reader = FeatureReader(online, [view])
        heavy = [f"u{i}" for i in np.argsort(-activity, kind="stable")[:show]]
        quiet = [f"u{i}" for i in np.flatnonzero(activity == 1)[:1]]
        chosen = heavy + quiet
        end = max(reader.get(view.name, user).event_time or 0 for user in chosen)
        end = max(end, spec.end_ms - 1)
        # Reads: the end of the stream, one hour later, the next publication of the daily
        # feature (02:00 UTC), and a week later when the 7-day window has emptied.
        next_publication = (end // DAY_MS + 1) * DAY_MS + 2 * HOUR_MS
        times = [end, end + HOUR_MS, next_publication, end + 8 * DAY_MS]
        table = {(user, t): reader.get(view.name, user, at=t).values for user in chosen for t in times}
        names = list(view.feature_names)

    print(
        f"streamfeat demo: {events:,} transactions of {users:,} users over {days} days "
        f"(Zipf s={spec.zipf_s}, {spec.out_of_order:.0%} out of order), seed {seed}",
        file=out,
    )
    print(
        f"pipeline: {summary.records:,} records in {summary.seconds:.2f} s ({summary.records / summary.seconds:,.0f}/s) "
        f"-> {accepted:,} accepted, {summary.late:,} late (> {view.allowed_lateness // 60_000} min behind), "
        f"{dead:,} dead letters; {summary.published:,} online-store writes",
        file=out,
    )
    print(f"files in {workdir}: transactions.jsonl, state/ (RocksDB), online.lmdb, dead_letters.jsonl, late.jsonl", file=out)
    width = max(len(name) for name in names) + 2
    for user in chosen:
        label = "one of the heaviest users" if user in heavy else "a user with one transaction"
        print(f"\n{user} ({int(activity[int(user[1:])]):,} transactions; {label}) — values as of:", file=out)
        cells = {(name, t): _fmt_value(table[(user, t)][name]) for name in names for t in times}
        columns = {t: max(18, *(len(cells[(name, t)]) for name in names)) + 2 for t in times}
        print("feature".ljust(width) + "".join(_fmt_time(t).rjust(columns[t]) for t in times), file=out)
        for name in names:
            print(name.ljust(width) + "".join(cells[(name, t)].rjust(columns[t]) for t in times), file=out)
    print(
        "\nRead the columns left to right: exact windows (amount_sum_7d, count_1h) move with the read time; "
        "count_365d_tile1d_every1d changes only when the next daily value lands at 02:00 UTC.",
        file=out,
    )
    return DemoResult(events, accepted, summary.late, dead, len(chosen), summary.seconds, workdir, table)
