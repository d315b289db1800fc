"""Backfill benchmark: replay W1 from Parquet through the features and join a spine.

``python -m benchmarks.backfill`` writes the W1 stream (or a prefix, ``--events``) to a
Parquet file once (cached under ``~/.cache/streamfeat/bench``), draws a spine of
``--spine-rows`` (user, time) rows, and times, each in its own process so peak resident
memory is per job:

* ``read``      — Parquet read + schema validation only (the input path's ceiling);
* ``count``     — one feature (365-day count in daily tiles, refreshed daily), no spine;
* ``example``   — the example view's 7 features, no spine;
* ``per_feature`` — each of them alone, one after another (best of two rounds): what each feature costs;
* ``training``  — the example view's 7 features with the spine joined and the training set
  written to Parquet: the whole ``get_training_set`` job.

Figures: events/s on one core, seconds, peak RSS (``VmHWM`` of the job's process),
and the spine rows answered. Results go to ``benchmarks/results/backfill.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import REPO, RESULTS_DIR, machine, write_results

DEFAULT_EVENTS = 20_000_000
QUICK_EVENTS = 200_000
CACHE = Path(os.environ.get("STREAMFEAT_BENCH_CACHE", Path.home() / ".cache" / "streamfeat" / "bench"))
JOBS = ("read", "count", "count_python", "example", "per_feature", "training")


def write_history(events: int, path: Path) -> float:
    """The W1 prefix of ``events`` as Parquet (user_id, merchant_id, amount, ts, arrival)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from streamfeat.workload import W1, iter_batches

    started = time.perf_counter()
    tmp = path.with_suffix(".tmp")
    schema = pa.schema(
        [("user_id", pa.string()), ("merchant_id", pa.string()), ("amount", pa.float64()), ("ts", pa.int64()),
         ("arrival", pa.int64())]
    )
    with pq.ParquetWriter(tmp, schema) as writer:
        for batch in iter_batches(W1, 1_000_000, limit=events):
            writer.write_table(
                pa.table(
                    {
                        "user_id": pa.array(batch.user_ids(), pa.string()),
                        "merchant_id": pa.array(batch.merchant_ids(), pa.string()),
                        "amount": batch.amount,
                        "ts": batch.event_time,
                        "arrival": batch.arrival,
                    },
                    schema=schema,
                )
            )
    tmp.replace(path)
    return time.perf_counter() - started


def write_spine(history: Path, rows: int, path: Path, seed: int = 7) -> None:
    """``rows`` spine rows, an entity-level spine: users drawn uniformly from those in the
    history, times uniform over its arrival span plus 30 days (so some rows fall before a
    user's first event and some after the last).

    Uniform over users, not over events: a spine drawn from events puts most rows on the
    Zipf-heaviest users, whose reads of exact 30-day windows fold thousands of events each
    (see ``benchmarks/results/backfill.md``, "heavy-user reads")."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(history, columns=["user_id", "arrival"])
    users = pc.unique(table.column("user_id"))
    arrivals = table.column("arrival")
    lo, hi = pc.min(arrivals).as_py(), pc.max(arrivals).as_py() + 30 * 86_400_000
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(users), size=rows)
    times = rng.integers(lo, hi, size=rows)
    pq.write_table(
        pa.table({"user_id": users.take(pa.array(picks)), "ts": times, "label": rng.integers(0, 2, size=rows)}), path
    )


def heavy_user_reads(history: Path, reads: int = 20) -> dict[str, Any]:
    """Read cost per feature for the heaviest user, as of its last arrival and later: the
    price of a spine row (or a served read) on an entity with many events in its windows.
    Per feature on the Python operators (the native core reads a view whole); the whole
    view's read on the view's own operator (the native core when built) beside it."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from streamfeat.build import build_view
    from streamfeat.loader import EXAMPLE_FEATURES, load_views

    (view,) = load_views(EXAMPLE_FEATURES)
    op = build_view(view, native=False)
    table = pq.read_table(history, columns=["user_id", "merchant_id", "amount", "ts", "arrival"])
    counts = pc.value_counts(table.column("user_id")).to_pylist()
    top = max(counts, key=lambda c: c["counts"])
    rows = table.filter(pc.equal(table.column("user_id"), top["values"]))
    columns = {name: rows.column(name).to_pylist() for name in rows.column_names}
    states: dict[str, Any] = {}
    op.apply_batch(states, columns["user_id"], columns["ts"], columns["arrival"], op.columns_for(columns))
    state = states[top["values"]]
    per_feature = {}
    for feature, feature_state in zip(op.features, state.features):
        started = time.perf_counter()
        for k in range(reads):
            feature.read(feature_state, state.now + k * 60_000)
        per_feature[feature.name] = round((time.perf_counter() - started) / reads * 1e6, 1)
    fast = build_view(view)
    fast_states: dict[str, Any] = {}
    fast.apply_batch(fast_states, columns["user_id"], columns["ts"], columns["arrival"], fast.columns_for(columns))
    fast_state = fast_states[top["values"]]
    started = time.perf_counter()
    for k in range(reads):
        fast.read(fast_state, fast_state.now + k * 60_000)
    view_us = round((time.perf_counter() - started) / reads * 1e6, 1)
    core = "native" if type(fast).__name__ == "NativeViewOperator" else "python"
    return {"user": top["values"], "events": top["counts"], "read_us": per_feature, "view_read_us": view_us,
            "core": core}


def child(
    job: str, history: Path, spine: Path, out: Path, cache_entities: int, memory_limit: str | None = None
) -> dict[str, Any]:
    """Run one job in this process and return its figures."""
    from streamfeat import Count, FeatureView, Sliding
    from streamfeat.backfill import PointInTimeRequest, get_training_set, point_in_time, write_training_set
    from streamfeat.build import NATIVE_ENV
    from streamfeat.history import ParquetHistory
    from streamfeat.loader import EXAMPLE_FEATURES, load_views

    (view,) = load_views(EXAMPLE_FEATURES)
    replay = ParquetHistory([history], topic=view.source.topic)
    started = time.perf_counter()
    figures: dict[str, Any] = {"job": job}
    if job == "read":
        records = 0
        for batch in replay.batches(view.source, view.entity.key, 50_000):
            records += batch.records
        figures["records"] = records
    elif job in ("count", "count_python", "example"):
        if job == "count_python":  # the same job on the Python operators: the native core's ratio
            os.environ[NATIVE_ENV] = "0"
        if job != "example":
            view = FeatureView(
                "count_only",
                entity=view.entity,
                source=view.source,
                allowed_lateness=view.allowed_lateness,
                features=[Count(window=Sliding("365d", tile="1d"), refresh="1d", publish_lag="2h")],
            )
        _, report = point_in_time(
            [PointInTimeRequest(view, [], [])], replay, cache_entities=cache_entities, memory_limit=memory_limit
        )
        figures["records"] = report.records
        figures["features"] = len(view.features)
    elif job == "per_feature":  # what each example feature costs: replayed alone, one after another
        best: dict[str, float] = {}
        for _round in range(2):  # the best of two rounds: the first replay in a process pays its warm-up
            for feature in view.features:
                alone = FeatureView("alone", entity=view.entity, source=view.source,
                                    allowed_lateness=view.allowed_lateness, features=[feature])
                began = time.perf_counter()
                _, report = point_in_time(
                    [PointInTimeRequest(alone, [], [])], replay, cache_entities=cache_entities,
                    memory_limit=memory_limit,
                )
                seconds = time.perf_counter() - began
                best[feature.output_name] = min(best.get(feature.output_name, seconds), seconds)
        figures["per_feature"] = [
            {"feature": name, "seconds": round(seconds, 2), "events_per_s": round(report.records / seconds)}
            for name, seconds in best.items()
        ]
        figures["records"] = report.records  # the history; replayed 2 x len(view.features) times
        figures["replays"] = 2 * len(view.features)
    else:
        import pyarrow.parquet as pq

        frame = get_training_set(spine, view, replay, cache_entities=cache_entities, memory_limit=memory_limit)
        write_training_set(frame, out)
        figures["records"] = pq.ParquetFile(history).metadata.num_rows
        figures["spine_rows"] = len(frame)
        figures["features"] = len(view.features)
        figures["nonempty_count_lifetime"] = int((frame["count_lifetime"] > 0).sum())
    figures["seconds"] = round(time.perf_counter() - started, 2)
    figures["events_per_s"] = round(figures["records"] * figures.get("replays", 1) / figures["seconds"])
    figures["peak_rss_bytes"] = peak_rss_bytes()
    return figures


def peak_rss_bytes() -> int:
    """This process's peak resident memory: ``VmHWM`` (per address space, so it starts
    afresh at exec — unlike ``ru_maxrss``, which Linux carries over from the parent that
    forked the job)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _mb(n: int | None) -> str:
    return "-" if not n else f"{n / 2**20:,.0f}"


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Backfill benchmark",
        "",
        f"Written by `{report['command']}` on {report['date']}.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['python']}; load average at start {m['load_average_at_start']}; "
        f"commit {m['git_commit']}{' (uncommitted changes)' if m['git_dirty'] else ''}.",
        "",
        f"History: W1 prefix of {report['events']:,} events in Parquet ({_mb(report['history_bytes'])} MB); spine "
        f"{report['spine_rows']:,} rows. Each job runs alone in its own process on one core. Entity cache: "
        + (f"{report['cache_entities']:,} entities per view" if not report.get("memory_limit") else
           f"sized by resident memory to --memory-limit {report['memory_limit']} (from "
           f"{report['cache_entities']:,} entities)") + ".",
        "",
        "| job | what | events/s | seconds | peak RSS MB |",
        "|---|---|---:|---:|---:|",
    ]
    what = {
        "read": "Parquet read + validation only (ceiling of the input path)",
        "count": "1 feature: 365d count in daily tiles, refreshed daily (native core)",
        "count_python": "the same feature on the Python operators (STREAMFEAT_NATIVE=0)",
        "example": "the example view's 7 features, no spine",
        "training": f"7 features + {report['spine_rows']:,}-row spine joined, training set written",
    }
    for job in report["jobs"]:
        if job["job"] == "per_feature":
            continue
        lines.append(
            f"| {job['job']} | {what[job['job']]} | {job['events_per_s']:,} | {job['seconds']:,} | "
            f"{_mb(job['peak_rss_bytes'])} |"
        )
    by = {job["job"]: job for job in report["jobs"]}
    reading: list[str] = []
    if "read" in by and "example" in by:
        reading.append(
            f"- The 7 features run at {by['example']['events_per_s'] / by['read']['events_per_s']:.1%} of the "
            "input path's rate: the time goes into the operators (see the cost per feature), not into reading "
            "Parquet."
        )
    if "count" in by and "count_python" in by:
        native, python = by["count"]["events_per_s"], by["count_python"]["events_per_s"]
        share = f", {native / by['read']['events_per_s']:.0%} of the input path's rate" if "read" in by else ""
        reading.append(
            f"- The native core replays the tiled, refreshed count {native / python:.1f}x as fast as the Python "
            f"operators ({native:,} vs {python:,} events/s{share})."
        )
    if "example" in by and "training" in by:
        extra = by["training"]["seconds"] - by["example"]["seconds"]
        if extra > 0:
            reading.append(
                f"- Joining the {report['spine_rows']:,}-row spine and writing the training set added {extra:,.1f} s "
                f"({extra / max(report['spine_rows'], 1) * 1e6:,.1f} µs per row, measured as the difference of two "
                "runs)."
            )
        else:
            reading.append(
                f"- Joining the {report['spine_rows']:,}-row spine and writing the training set cost nothing "
                f"measurable: the run with it took {-extra:,.1f} s less than the run without (this machine's noise)."
            )
    elif "read" in by and "training" in by:
        reading.append(
            f"- The training set (7 features, spine joined) runs at "
            f"{by['training']['events_per_s'] / by['read']['events_per_s']:.1%} of the input path's rate."
        )
    target = 1_000_000
    if "training" in by:
        rate = by["training"]["events_per_s"]
        reading.append(
            f"- Target ≥ {target:,} events/s for the example features: {'met' if rate >= target else 'not met'} "
            f"({rate:,}); peak RSS {_mb(by['training']['peak_rss_bytes'])} MB against the 4 GiB bound "
            f"({'within' if by['training']['peak_rss_bytes'] < 4 * 2**30 else 'over'})."
        )
    if reading:
        lines += ["", "## Reading the figures", "", *reading]
    if "per_feature" in by:
        lines += [
            "",
            "## Cost per feature",
            "",
            ("Each feature of the example view replayed alone over the same history (no spine), one after another "
             "in one process, the best of two rounds: what a feature costs on its own. The fixed part of a replay "
             "(reading, entity lookups, a state per entity) is in every row."),
            "",
            "| feature | events/s alone | seconds |",
            "|---|---:|---:|",
            *[f"| {f['feature']} | {f['events_per_s']:,} | {f['seconds']:,} |" for f in by["per_feature"]["per_feature"]],
        ]
    heavy = report.get("heavy_user")
    if heavy:
        costly = sorted(heavy["read_us"].items(), key=lambda kv: -kv[1])
        lines += [
            "",
            "## Heavy-user reads",
            "",
            f"The heaviest user ({heavy['user']}, {heavy['events']:,} events in this history) costs per read, by feature "
            "(µs, mean of 20 reads as of its last arrival and later):",
            "",
            "| feature | µs per read |",
            "|---|---:|",
            *[f"| {name} | {us:,} |" for name, us in costly],
            "",
            "A read evaluates the windows as of its time from the entity's stored partial state, so its cost grows "
            "with what an exact window holds; tiled and lifetime features cost the same for every entity. "
            "These are the Python operators' figures"
            + (f"; the whole view's read on the {heavy['core']} core: {heavy['view_read_us']:,} µs."
               if "view_read_us" in heavy else "."),
        ]
    lines.append("")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backfill", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=None, help=f"W1 prefix (default {DEFAULT_EVENTS:,}: all of W1)")
    parser.add_argument("--spine-rows", type=int, default=None, help="spine rows (default 1,000,000)")
    parser.add_argument("--jobs", default=",".join(JOBS), help=f"comma-separated subset of {','.join(JOBS)}")
    parser.add_argument("--cache-entities", type=int, default=200_000, help="entities in memory per view")
    parser.add_argument("--memory-limit", metavar="SIZE",
                        help="entity caches sized by resident memory (e.g. 3.5GiB), from --cache-entities")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS:,} events, 20,000 spine rows")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory (default benchmarks/results)")
    parser.add_argument("--cache-dir", type=Path, default=CACHE, help=f"where the Parquet history is kept (default {CACHE})")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--history", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--spine", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--training-out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any] | int:
    args = parse_args(argv)
    if args.child:
        figures = child(args.child, args.history, args.spine, args.training_out, args.cache_entities,
                        args.memory_limit)
        print(json.dumps(figures))
        return 0
    events = args.events or (QUICK_EVENTS if args.quick else DEFAULT_EVENTS)
    spine_rows = args.spine_rows or (20_000 if args.quick else 1_000_000)
    jobs = [j.strip() for j in args.jobs.split(",") if j.strip()]
    unknown = [j for j in jobs if j not in JOBS]
    if unknown:
        raise SystemExit(f"unknown job(s) {unknown}; choose from {JOBS}")
    cache = args.cache_dir
    cache.mkdir(parents=True, exist_ok=True)
    history = cache / f"w1-{events}.parquet"
    report: dict[str, Any] = {
        "command": "python -m benchmarks.backfill " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "events": events,
        "spine_rows": spine_rows,
        "cache_entities": args.cache_entities,
        "memory_limit": args.memory_limit,
    }
    print(f"machine: {report['machine']}")
    if not history.exists():
        print(f"writing the W1 prefix of {events:,} events to {history} ...", flush=True)
        report["history_write_seconds"] = round(write_history(events, history), 1)
    report["history_bytes"] = history.stat().st_size
    spine = cache / f"spine-{events}-{spine_rows}.parquet"
    if not spine.exists():
        write_spine(history, spine_rows, spine)
    training_out = cache / f"training-{events}-{spine_rows}.parquet"
    report["heavy_user"] = heavy_user_reads(history)
    print(f"heavy user: {report['heavy_user']}", flush=True)
    report["jobs"] = []
    for job in jobs:
        print(f"job {job} ...", flush=True)
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.backfill", "--child", job, "--history", str(history), "--spine",
             str(spine), "--training-out", str(training_out), "--cache-entities", str(args.cache_entities),
             *(["--memory-limit", args.memory_limit] if args.memory_limit else [])],
            capture_output=True, text=True, check=False, cwd=REPO,
        )
        if done.returncode != 0:
            raise SystemExit(f"job {job} failed:\n{done.stderr[-3000:]}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  {figures}", flush=True)
        report["jobs"].append(figures)
    name = "backfill_quick" if args.quick else "backfill"
    write_results(name, report, markdown, args.out)
    print((args.out / f"{name}.md").read_text())
    return report


if __name__ == "__main__":
    main()
