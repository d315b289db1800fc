"""Freshness A/B: the same paced stream, ``streamfeat run`` with different flow options.

Freshness (event handed to the producer -> visible in the embedded online store) is the
noisiest figure on a shared machine, so comparing two settings from two separate runs of
``benchmarks.streaming`` says little. This script measures them in one run, alternating
the order each round (A B, B A, A B, ...), with the method of
:func:`benchmarks.streaming.measure_freshness`: a fresh topic per measurement, the first
W1 events produced at ``--rate`` (by default, ``--event-times recent``, with the event
times of the stream ``benchmarks.streaming`` measures throughput on), a reader polling
the 200 most active users.

    python -m benchmarks.freshness --rate 6549 --seconds 30 --rounds 3 \\
        --variant "0s=--commit-interval 0s" --variant "1s=--commit-interval 1s"

writes ``benchmarks/results/freshness.{json,md}`` (``--out`` for another directory).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from benchmarks._common import RESULTS_DIR, machine, write_results
from benchmarks.flow_trace import render
from benchmarks.streaming import (
    FRESHNESS_EVENT_TIMES,
    FRESHNESS_EVENT_TIMES_TEXT,
    FRESHNESS_PROBES,
    FRESHNESS_SAMPLE,
    KAFKA_PORT,
    KAFKA_SH,
    create_topic,
    delete_topics,
    keep_from_text,
    local_service,
    measure_freshness,
    one_decimal,
)

DEFAULT_VARIANTS = ("commit-0s=--commit-interval 0s", "commit-1s=--commit-interval 1s")


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, sep, flags = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=FLAGS (e.g. '1s=--commit-interval 1s'), got {text!r}")
    return name.strip(), flags.split()


def _split_number(flags: list[str], option: str) -> tuple[list[str], int | None]:
    """A variant's flags without ``OPTION N`` (a benchmark option, not `streamfeat run`'s), and N."""
    if option not in flags:
        return flags, None
    at = flags.index(option)
    try:
        number = int(flags[at + 1])
    except (IndexError, ValueError):
        raise argparse.ArgumentTypeError(f"{option} in a variant needs a number: {' '.join(flags)!r}") from None
    return flags[:at] + flags[at + 2 :], number


def split_processes(flags: list[str], default: int) -> tuple[list[str], int]:
    """A variant's `streamfeat run` flags without ``--processes N``, and N (the benchmark
    starts N processes as a cluster; ``default`` when the flags do not say)."""
    rest, processes = _split_number(flags, "--processes")
    if processes is None:
        return flags, default
    if processes <= 0:
        raise argparse.ArgumentTypeError(f"--processes must be positive: {' '.join(flags)!r}")
    return rest, processes


def split_nice(flags: list[str], default: int) -> tuple[list[str], int]:
    """A variant's flags without ``--nice N``, and N: the flow's processes start at that
    niceness (``nice -n N``; below 0 needs root), ``default`` when the flags do not say."""
    rest, nice = _split_number(flags, "--nice")
    if nice is None:
        return flags, default
    if not -20 <= nice <= 19:
        raise argparse.ArgumentTypeError(f"--nice must be within -20..19: {' '.join(flags)!r}")
    return rest, nice


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.freshness",
        description="Freshness of `streamfeat run` under a paced W1 stream, for several sets of flow options "
        "measured alternately in one run (the order flips each round).",
    )
    parser.add_argument("--rate", type=float, required=True, help="events/s the producer is paced at")
    parser.add_argument("--seconds", type=float, default=30.0, help="paced production time per measurement (30)")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per variant (3)")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of each topic (4)")
    parser.add_argument("--workers", type=int, default=2, help="streamfeat run -w (2, as streamfeat run)")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="`streamfeat run` processes, run as a cluster (-i/-a) sharing the partitions (1); a variant may "
        "set its own with --processes N among its flags",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="start the flow's processes at this niceness (0: as the benchmark; below 0 needs root) — on a small "
        "machine the benchmark's producer and a local broker share the cores with the flow, which production runs "
        "apart: a negative value lets the flow go first, to tell that contention from the flow's own cost; a variant "
        "may set its own with --nice N among its flags",
    )
    parser.add_argument(
        "--variant",
        action="append",
        type=parse_variant,
        metavar="NAME=FLAGS",
        help=f"a name and the extra `streamfeat run` flags (repeat; default: {' and '.join(DEFAULT_VARIANTS)}). "
        "--online-store PATH among them is where the reader reads; {run} in PATH becomes a name new to each "
        "measurement and that file is removed afterwards (tmpfs=\"--online-store /dev/shm/streamfeat-{run}.lmdb\")",
    )
    parser.add_argument(
        "--event-times",
        choices=FRESHNESS_EVENT_TIMES,
        default="recent",
        help="recent (default): each event arrives when it is sent and keeps its W1 event time moved forward to end "
        "a day or two before the run, as benchmarks.streaming measures throughput on; live: its event time is its "
        "send time minus W1's delay, so the prefix spans seconds of event time and every window holds the whole run "
        "(a stress test); w1: W1's own 2023 times and arrivals",
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="trace each flow (benchmarks/flow_trace: a timeline of its reads, batches, online writes and commits) "
        "and report where a record's time went: Kafka -> read, read -> handed to the online writer, -> written",
    )
    parser.add_argument(
        "--probe",
        choices=FRESHNESS_PROBES,
        default="header",
        help="how the reader polls the store: header (default) reads each watched row's event time only; rows reads "
        "whole rows as a feature server does (get_raw): about 1.5 times the reader's CPU, which the flow then lacks "
        "on a small machine",
    )
    parser.add_argument("--bootstrap", default=None, help="an already running Kafka (default: start the local one)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory (default benchmarks/results)")
    args = parser.parse_args(argv)
    if args.variant is None:
        args.variant = [parse_variant(v) for v in DEFAULT_VARIANTS]
    if len({name for name, _ in args.variant}) != len(args.variant):
        parser.error("variant names must differ")
    try:
        variants = []
        for name, flags in args.variant:
            flags, nice = split_nice(flags, args.nice)
            variants.append((name, *split_processes(flags, args.processes), nice))
        args.variant = variants
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if min(args.rate, args.seconds, args.rounds, args.partitions, args.workers, args.processes) <= 0:
        parser.error("--rate, --seconds, --rounds, --partitions, --workers and --processes must be positive")
    return args


def _cpu_row(label: str, cpu: dict[str, Any] | None) -> str:
    if not cpu or not cpu.get("percent_of_one_core"):
        return f"| {label} | n/a | n/a | n/a | n/a | n/a | n/a | | n/a | n/a | |"
    shown = one_decimal
    share = cpu["percent_of_one_core"]
    intervals = ", ".join(shown(p) for p in cpu["percent_per_interval"].get("flow", []))
    machine = cpu.get("machine") or {}
    busy = ", ".join(shown(p) for p in machine.get("busy_percent_per_interval", []))
    return (
        f"| {label} | {shown(share.get('flow'))} | {shown(share.get('benchmark'))} | {shown(share.get('broker'))} | "
        f"{shown(cpu.get('flow_us_per_event'))} | {shown(cpu.get('peak_rss_mb', {}).get('flow'))} | "
        f"{shown(cpu.get('peak_rss_mb', {}).get('benchmark'))} | {intervals} | "
        f"{shown(machine.get('busy_percent_of_one_core'))} | {shown(machine.get('steal_percent_of_one_core'))} | {busy} |"
    )


def markdown(report: dict[str, Any]) -> str:
    info, params = report["machine"], report["parameters"]
    lines = [
        "# freshness A/B (Kafka -> streamfeat run -> embedded online store)",
        "",
        f"Written by `{report['command']}` on {report['timestamp']} — do not edit by hand.",
        "",
        f"- machine: {info['cpu']}, {info['cores']} cores, {info['python']}; load average at start "
        f"{info['load_average_at_start']}, at end {report['load_average_at_end']}; git {info['git_commit']}"
        + (" (uncommitted changes)" if info.get("git_dirty") else ""),
        (
            f"- each measurement: a new {params['partitions']}-partition topic, the first W1 events "
            + f"({params.get('event_times', 'w1')} event times) produced at "
            f"{params['rate']:,.0f} events/s for {params['seconds']:.0f} s, `streamfeat run -w {params['workers']}` "
            + f"started on it before; a reader polls the {FRESHNESS_SAMPLE} most active users every 10 ms "
            + f"(probe: {params.get('probe', 'rows')}; `benchmarks.streaming.measure_freshness`); variants alternate, "
            "the order flipping each round"
        ),
        f"- {FRESHNESS_EVENT_TIMES_TEXT.get(params.get('event_times', 'w1'), '')}",
    ]
    kept = next((r["windows_keep_events_from_s"] for v in report["variants"].values() for r in v["runs"]
                 if r.get("windows_keep_events_from_s")), None)
    if kept:
        lines.append(f"- {keep_from_text(kept)}")
    lines += [
        "",
        "| variant | flow flags | processes | niceness | p50 ms per run | p99 ms per run | median p50 | median p99 |",
        "|---|---|---:|---:|---|---|---:|---:|",
    ]
    for name, variant in report["variants"].items():
        runs = variant["runs"]
        lines.append(
            f"| {name} | `{' '.join(variant['flags'])}` | {variant.get('processes', 1)} | {variant.get('nice', 0)} | "
            f"{', '.join(str(r['p50_ms']) for r in runs)} | "
            f"{', '.join(str(r['p99_ms']) for r in runs)} | {variant['median_p50_ms']} | {variant['median_p99_ms']} |"
        )
    lines += ["", "p99 ms per 5 s of production, each run in order (does latency hold, or grow with the state?):", ""]
    for name, variant in report["variants"].items():
        for number, run in enumerate(variant["runs"], 1):
            lines.append(f"- {name} run {number}: {', '.join(str(p) for p in run.get('p99_ms_per_5s', []))}")
    lines += [
        "",
        "CPU from production start until every measured event was seen (% of one core, from /proc; the machine "
        "has " + f"{info['cores']}): the flow's CPU per event compares runs whose latencies the shared machine blurs. "
        "Machine busy: every process's and the kernel's (not idle, not I/O wait), of which stolen by the hypervisor: "
        "whether the cores were full, whoever filled them.",
        "",
        (
            "| run | flow % | benchmark % | broker % | flow µs per event | flow peak RSS MB | benchmark peak RSS MB "
            "| flow % per 5 s of production, then the drain | machine busy % | steal % | machine busy % per 5 s |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for name, variant in report["variants"].items():
        for number, run in enumerate(variant["runs"], 1):
            lines.append(_cpu_row(f"{name} run {number}", run.get("cpu")))
    lines.append("")
    for name, variant in report["variants"].items():
        for number, run in enumerate(variant["runs"], 1):
            for process, summary in enumerate(run.get("trace") or []):
                lines += [f"Where the time went, {name} run {number}, flow process {process} (`--trace`):", ""]
                lines += [render(summary) if summary else "no trace written (the flow did not stop cleanly)", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    info = machine()
    given = args.bootstrap or os.environ.get("STREAMFEAT_KAFKA_BOOTSTRAP", "").strip() or None
    variants: dict[str, dict[str, Any]] = {
        name: {"flags": flags, "processes": processes, "nice": nice, "runs": []}
        for name, flags, processes, nice in args.variant
    }
    order = list(variants)
    with local_service(KAFKA_SH, given, "kafka", KAFKA_PORT) as kafka:
        admin = AdminClient({"bootstrap.servers": kafka["address"]})
        for round_index in range(args.rounds):
            for name in order if round_index % 2 == 0 else order[::-1]:
                topic = f"bench-fresh-ab-{uuid.uuid4().hex[:8]}"
                create_topic(admin, topic, args.partitions)
                try:
                    with tempfile.TemporaryDirectory(prefix="streamfeat-fresh-") as work:
                        run = measure_freshness(
                            kafka["address"], topic, Path(work), rate=args.rate, seconds=args.seconds,
                            sample=FRESHNESS_SAMPLE, workers=args.workers, flow_args=variants[name]["flags"],
                            event_times=args.event_times, processes=variants[name]["processes"], trace=args.trace,
                            probe=args.probe, nice=variants[name]["nice"],
                        )  # fmt: skip
                finally:
                    delete_topics(admin, [topic, f"{topic}.dead-letters", f"{topic}.late"])
                variants[name]["runs"].append(run)
                print(f"round {round_index + 1} {name}: p50 {run['p50_ms']} ms, p99 {run['p99_ms']} ms", flush=True)
    for variant in variants.values():
        runs = [r for r in variant["runs"] if r["p99_ms"] is not None]
        variant["median_p50_ms"] = round(statistics.median(r["p50_ms"] for r in runs), 1) if runs else None
        variant["median_p99_ms"] = round(statistics.median(r["p99_ms"] for r in runs), 1) if runs else None
    report = {
        "benchmark": "freshness",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.freshness", *(argv if argv is not None else sys.argv[1:])]),
        "machine": info,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "parameters": {
            "rate": args.rate,
            "seconds": args.seconds,
            "rounds": args.rounds,
            "partitions": args.partitions,
            "workers": args.workers,
            "processes": args.processes,
            "nice": args.nice,
            "event_times": args.event_times,
            "probe": args.probe,
        },
        "kafka": {"source": kafka["source"], "started_here": kafka["started_here"]},
        "variants": variants,
    }
    write_results("freshness", report, markdown, args.out)
    print(f"wrote {args.out / 'freshness.json'} and {args.out / 'freshness.md'}")
    return report


if __name__ == "__main__":
    main()
