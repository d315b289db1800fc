"""The Markdown report of :mod:`benchmarks.peers`, from its results."""

from __future__ import annotations

from typing import Any

SYSTEM_LABELS = {
    "streamfeat": "(a) streamfeat runtime",
    "bytewax": "(b) bytewax windowing",
    "quix": "(c) Quix Streams",
    "plain": "(d) plain Python ceiling",
}

HOW = {
    "streamfeat": (
        "`build_dataflow` + `cli_main` (what `streamfeat run --stop-at-end -w 1` runs): one view with "
        '`Count(window=Hopping("365d", hop="1d"))` (+ `Sum("amount", window=Sliding("7d"))`, '
        "`Count(window=Lifetime())` in all3), allowed lateness 5 min; RocksDB state, embedded online store "
        "(SQLite), dead-letter and late topics, state and offsets committed per 10,000-record batch"
    ),
    "bytewax": (
        "`bytewax.connectors.kafka.operators.input` (tail=False) → `fold_window` with "
        "`SlidingWindower(length=365 d, offset=1 d)` and `EventClock(ts, wait 5 min)`; all3 adds "
        "`fold_window` over `SlidingWindower(7 d, 1 d)` (bytewax has no exact sliding window) and a "
        "`stateful_map` lifetime count; `run_main`, one worker, in-memory state"
    ),
    "quix": (
        "`Application` (consumer group, `auto_offset_reset=earliest`, RocksDB state, no changelog topics), "
        "timestamps from `ts`; `hopping_window(365 d, step 1 d, grace 5 min).count().final()`; all3 adds "
        "`sliding_window(7 d, grace 5 min).sum().current()` on `amount` and a stateful `apply` lifetime count"
    ),
    "plain": (
        "`Consumer.consume(num_messages=10000)` over every partition + `orjson.loads` + dicts: a day→count "
        "dict per user for the hopping count; all3 adds a per-user deque with a running sum (exact 7 days) "
        "and a lifetime counter; no lateness rule, no persistence"
    ),
}

SEMANTICS = [
    (
        "**When values exist.** streamfeat serves every feature at any time from state updated per batch. bytewax "
        "windows emit only when they close (a one-year window closes a year after it opens; at the end of a finite "
        "topic every open window is flushed), so a live reader would see a 365-day value only after the window ends. "
        "Quix `final()` also emits on close (the agreement run uses `current()` so open windows are visible; "
        "throughput runs use the cheaper `final()`)."
    ),
    (
        "**Window edges.** streamfeat hopping windows cover `(end − 365 d, end]`; bytewax and Quix windows cover "
        "`[start, start + 365 d)`. They differ only for an event stamped exactly on a UTC midnight millisecond."
    ),
    (
        "**Cost model.** A 365-day window hopping daily puts every event in 365 windows: bytewax folds each event "
        "365 times and keeps 365 open windows per user in memory; Quix updates 365 window rows in RocksDB per event. "
        "streamfeat and the plain ceiling add the event to one day tile and sum the 365 tiles on read."
    ),
    (
        "**The 7-day sum.** streamfeat and the plain ceiling: exact sliding `(t − 7 d, t]` as of the user's newest "
        "arrival; Quix `sliding_window`: the window ending at the user's last event; bytewax has only hopping "
        'windows, so it is compared with a streamfeat `Sum(window=Hopping("7d", hop="1d"))` added to the '
        "agreement run."
    ),
    (
        "**Late events.** streamfeat drops an event older than the user's newest accepted event time minus 5 min "
        "(to the late topic); bytewax drops it when older than its per-user watermark (newest event time − 5 min, "
        "advanced by system time); Quix when its window has expired (grace 5 min); the plain ceiling counts "
        "everything. The agreement topic reports how many events streamfeat found late."
    ),
    (
        "**Durability.** streamfeat commits state and offsets atomically and publishes to an online store each "
        "batch; Quix commits RocksDB state and offsets every 5 s; bytewax (no recovery configured) and the plain "
        "ceiling keep state in memory only."
    ),
]


def _mb(n: float | None) -> str:
    return "" if n is None else f"{n / 1e6:,.0f}"


def _rate(x: float | None) -> str:
    return "" if x is None else f"{x:,.0f}"


def throughput_table(report: dict[str, Any], job: str) -> list[str]:
    total = report["workload"]["produce"]["events"]
    lines = [
        (
            "| system | median events/s | runs (events/s) | events processed per run (of "
            f"{total:,}) | how each run ended | peak RSS MB (median) | streamfeat ÷ system | target | met |"
        ),
        "|---|---:|---|---|---|---:|---:|---:|---|",
    ]
    for system, s in report["summary"][job].items():
        ratio = report["ratios"][job].get(system)
        if ratio is not None:
            target = ratio["target"]
            target_s = f"≥ {target:g}×" if target >= 1 else f"≥ 1/{1 / target:.0f}"
            met = "" if ratio["met"] is None else ("yes" if ratio["met"] else "**no**")
            shown = "" if ratio["ratio"] is None else f"{ratio['ratio']:.3g}"
            ratio_cols = f"{shown} | {target_s} | {met}"
        else:
            ratio_cols = "— | | "
        runs = ", ".join(_rate(r) for r in s["events_per_s_runs"])
        processed = ", ".join(f"{n:,}" for n in s["events_processed"])
        lines.append(
            f"| {SYSTEM_LABELS[system]} | {_rate(s['events_per_s_median'])} | {runs} | {processed} "
            f"| {', '.join(s['statuses'])} | {s['peak_rss_mb_median']:,} | {ratio_cols} |"
        )
    return lines


def markdown(report: dict[str, Any]) -> str:
    m, p, w = report["machine"], report["parameters"], report["workload"]
    produced = w["produce"]
    agree_w = report["agreement_workload"]
    spec = agree_w["spec"]
    v = report["versions"]
    lines = [
        "# streamfeat beside its peers, same Kafka topic, same run",
        "",
        f"Written by `{report['command']}` on {report['timestamp']} in {report['seconds']} s — do not edit by hand.",
        "",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, {m['python']}; load average at start "
        f"{m['load_average_at_start']}, at end {report['load_average_at_end']} (the machine is shared); "
        f"git {m['git_commit']}"
        + (" (with uncommitted changes to operators/ or streamfeat/)" if m.get("git_dirty") else ""),
        "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        (
            f"- topic: first {produced['events']:,} events of W1 in arrival order ({produced['users_seen']:,} users, event "
            f"times over {produced['event_time_span_days']} days), JSON values keyed by `user_id`, Kafka timestamp = "
            f"arrival, {p['partitions']} partitions on the local broker, produced once "
            f"({produced['produce_events_per_s']:,} events/s) and drained by every run with its own consumer group"
        ),
        (
            "- each run is its own process (peak RSS = its `VmHWM`), one worker/consumer; it stops at the end of the "
            + (
                f"topic (streamfeat and the plain ceiling drain it), or — bytewax and Quix — after {p['max_seconds']:g} s "
                "of processing"
                if p.get("drain_max_seconds")
                else f"topic or after {p['max_seconds']:g} s of processing (quick mode: every system)"
            )
            + f"; any run is killed when its RSS passes {p['rss_cap_mb']:,} MB; events/s "
            "is measured over what it processed, from its first record (streamfeat: from the dataflow's start, which "
            "includes opening its state stores) to its last; systems run round-robin, "
            f"{p['repeats_count365']} round(s) of count365 and {p['repeats_all3']} of all3; medians reported"
        ),
        "",
        "## Systems",
        "",
        "| system | what runs |",
        "|---|---|",
    ]
    lines += [f"| {SYSTEM_LABELS[s]} | {HOW[s]} |" for s in SYSTEM_LABELS]
    lines += [
        "",
        "## 365-day count, 1-day hop (count365)",
        "",
        *throughput_table(report, "count365"),
        "",
        "## 365-day/1-day count + 7-day sum + lifetime count (all3)",
        "",
        *throughput_table(report, "all3"),
        "",
    ]
    stopped = [
        (job, system, r)
        for job, by_system in report["runs"].items()
        for system, runs in by_system.items()
        for r in runs
        if r["status"] != "drained"
    ]
    if stopped:
        lines += [
            (
                "Runs that did not drain the topic were measured on the part they processed (the topic's first "
                "events): `time_limit` = stopped after the processing time limit, `rss_cap` = killed at the RSS cap."
            ),
            "",
        ]
    late = agree_w["streamfeat_late_events"]
    lines += [
        "## Do the values agree?",
        "",
        (
            f"Agreement topic: a W1-like stream with {spec['users']:,} users and {spec['events']:,} events over "
            f"{spec['days']} days (seed {spec['seed']}, 1 % out of order), drained completely by every system computing "
            f"all3; {agree_w['sampled_users']} sampled users compared with streamfeat's values read from its online "
            f"store: hopping windows as of the last arrival in the topic (the window ending at the last UTC midnight), the "
            f"7-day sum as of each user's newest arrival, lifetime counts at the end. streamfeat found {late} late "
            "event(s) on this topic. Sums agree within a relative 1e-6; a window a system never emitted counts as 0."
        ),
        "",
        "| system | its feature | streamfeat feature | compared | equal | differ | not emitted (= 0) | first differences |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for system, features in report["agreement"].items():
        for name, a in features.items():
            examples = "; ".join(f"{e['user']}: {e['streamfeat']} vs {e['system']}" for e in a["examples"])
            lines.append(
                f"| {SYSTEM_LABELS[system]} | {name} | {a['streamfeat_feature']} | {a['compared']} | {a['equal']} "
                f"| {a['differ']} | {a['missing_counted_as_0']} | {examples} |"
            )
    lines += ["", "## Semantic differences", ""]
    lines += [f"- {text}" for text in SEMANTICS]
    lines.append("")
    return "\n".join(lines)
