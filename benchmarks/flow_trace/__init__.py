"""Where a record's time goes in a `streamfeat run` process: a timeline from its trace.

Record a trace with the hook in ``benchmarks/flow_trace/hook`` (``PYTHONPATH`` and
``STREAMFEAT_TRACE=FILE``; ``python -m benchmarks.freshness --trace`` does it for each run),
then::

    python -m benchmarks.flow_trace FILE

For each batch the flow read, its oldest record's time splits into: **Kafka → read** (from the
record's Kafka timestamp — the benchmarks' planned send time, moved by how late the producer
started (``late_start_ms``) — until the flow's read returned it: producer, broker, and waiting
for a worker), **read → handed** (decoding, operators, packing
rows, until the rows were queued for the online writer) and **handed → written** (until the end of
the first writer round that started after that). A reader sees the rows after that, at its next
poll. The report also gives the commits, the writer's rounds, the cyclic garbage collections (which
stop every thread) and how long each worker thread went between two reads; and, for traces since
stop 53, the workers' time per part of their work: CPU and wall time per second of the run, summed
over the worker threads. Wall time a part took beyond its CPU time is time its thread waited — for
the GIL (another worker holding it) or for a core.
"""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["HOOK_DIR", "load_trace", "render", "summarize"]

#: Put first on ``PYTHONPATH`` (with ``STREAMFEAT_TRACE`` set) to trace a `streamfeat run`.
HOOK_DIR = Path(__file__).resolve().parent / "hook"
_PERCENTILES = (50, 90, 99, 100)
_WINDOW_S = 5


def load_trace(path: str | Path) -> list[list[Any]]:
    """The records of a trace file (one JSON array per line)."""
    with open(path) as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _spread(values: Iterable[float]) -> dict[str, float] | None:
    data = np.asarray(list(values), dtype=np.float64)
    if not len(data):
        return None
    return {f"p{q}": round(float(np.percentile(data, q)), 1) for q in _PERCENTILES}


def summarize(records: Sequence[Sequence[Any]], *, late_start_ms: int = 0) -> dict[str, Any]:
    """Percentiles (ms) of each stage, per batch and per 5 s of the run (see the module docstring).

    ``late_start_ms``: how late the paced producer started after the planned start its Kafka
    timestamps count from (the freshness benchmark's ``start_late_ms``). Every record was sent
    that much after its timestamp, so it is taken off Kafka -> read: otherwise that stage
    holds a constant the flow never saw (140 ms in a run of stop 50)."""
    reads = sorted((r for r in records if r[0] == "read"), key=lambda r: r[1])
    if not reads:
        return {"batches": 0}
    rounds = sorted((r for r in records if r[0] == "wround"), key=lambda r: r[1])
    commits = [r for r in records if r[0] == "commit"]
    started = reads[0][1]
    by_thread: dict[int, list[Sequence[Any]]] = defaultdict(list)
    for record in records:
        if record[0] == "read":
            by_thread[record[2]].append(record)
        elif record[0] in ("proc", "hand"):
            by_thread[record[3]].append(record)
    round_starts = [r[1] for r in rounds]
    # per batch: (seconds into the run, kafka->read, read->handed, handed->written) in ms
    batches: list[tuple[float, float, float, float]] = []
    gaps: list[float] = []
    for thread_records in by_thread.values():
        thread_records.sort(key=lambda r: r[1])
        last_read: Sequence[Any] | None = None
        previous_read_at: float | None = None
        for record in thread_records:
            if record[0] == "read":
                if previous_read_at is not None:
                    gaps.append((record[1] - previous_read_at) * 1000)
                previous_read_at = record[1]
                last_read = record if record[4] is not None else None
            elif record[0] == "hand" and last_read is not None:
                index = bisect.bisect_left(round_starts, record[2])
                if index < len(rounds):
                    read_at, oldest = last_read[1], last_read[4] + late_start_ms
                    batches.append(
                        (
                            read_at - started,
                            read_at * 1000 - oldest,
                            (record[2] - read_at) * 1000,
                            (rounds[index][2] - record[2]) * 1000,
                        )
                    )
                last_read = None
    table = np.asarray(batches, dtype=np.float64).reshape(-1, 4)
    stages = {"kafka_to_read": 1, "read_to_handed": 2, "handed_to_written": 3}
    total = table[:, 1] + table[:, 2] + table[:, 3]
    windows = []
    for start in range(0, int(table[:, 0].max(initial=0)) + 1, _WINDOW_S):
        inside = (table[:, 0] >= start) & (table[:, 0] < start + _WINDOW_S)
        if not inside.any():
            continue
        window_commits = [(c[2] - c[1]) * 1000 for c in commits if start <= c[1] - started < start + _WINDOW_S]
        windows.append(
            {
                "from_s": start,
                **{f"{name}_p99": round(float(np.percentile(table[inside, k], 99)), 1) for name, k in stages.items()},
                "total_p99": round(float(np.percentile(total[inside], 99)), 1),
                "commit_max": round(max(window_commits, default=0.0), 1),
            }
        )
    span = rounds[-1][2] - rounds[0][1] if rounds else 0.0
    run_s = reads[-1][1] - started
    return {
        "batches": len(batches),
        "records_per_read": _spread(r[3] for r in reads),
        "stages_ms": {name: _spread(table[:, k]) for name, k in stages.items()} | {"total": _spread(total)},
        "process_ms": _spread((r[2] - r[1]) * 1000 for r in records if r[0] == "proc"),
        "commit_ms": _spread((c[2] - c[1]) * 1000 for c in commits),
        "commits": len(commits),
        "commit_phases_ms": _phases(records),
        "commit_share": round(sum(c[2] - c[1] for c in commits) / run_s, 3) if run_s > 0 else None,
        "writer_round_ms": _spread((r[2] - r[1]) * 1000 for r in rounds),
        "writer_busy_share": round(sum(r[2] - r[1] for r in rounds) / span, 3) if span > 0 else None,
        "gap_between_reads_of_a_thread_ms": _spread(gaps),
        "gc_ms": _spread((r[2] - r[1]) * 1000 for r in records if r[0] == "gc"),
        "collections": sum(1 for r in records if r[0] == "gc"),
        "per_5s_p99_ms": windows,
        "worker_steps": _steps(records, run_s),
    }


def _steps(records: Sequence[Sequence[Any]], run_s: float) -> dict[str, dict[str, float]]:
    """Per part of a worker's work (the hook's ``step`` records), in the order first seen: its
    thread-CPU and wall ms per second of the run, summed over threads; the share of its wall time
    spent waiting (wall minus CPU); and its calls per second."""
    if run_s <= 0:
        return {}
    sums: dict[str, list[float]] = {}
    for record in records:
        if record[0] == "step":
            entry = sums.setdefault(record[1], [0.0, 0.0, 0])
            entry[0] += record[5]
            entry[1] += record[3] - record[2]
            entry[2] += 1
    return {
        name: {
            "cpu_ms_per_s": round(cpu_s * 1000 / run_s, 1),
            "wall_ms_per_s": round(wall_s * 1000 / run_s, 1),
            "waiting_share": round(1 - cpu_s / wall_s, 3) if wall_s > 0 else 0.0,
            "calls_per_s": round(calls / run_s, 1),
        }
        for name, (cpu_s, wall_s, calls) in sums.items()
    }


def _phases(records: Sequence[Sequence[Any]]) -> dict[str, dict[str, float] | None]:
    """Percentiles (ms) of each commit phase the hook timed, in the order first seen."""
    by_name: dict[str, list[float]] = {}
    for record in records:
        if record[0] == "phase":
            by_name.setdefault(record[1], []).append((record[3] - record[2]) * 1000)
    return {name: _spread(durations) for name, durations in by_name.items()}


def render(summary: dict[str, Any]) -> str:
    """The summary as Markdown lines."""
    if not summary.get("batches"):
        return "no batch with Kafka timestamps in the trace"

    def cells(spread: dict[str, float] | None) -> str:
        return " | ".join(f"{spread[f'p{q}']:,.1f}" if spread else "" for q in _PERCENTILES)

    head = " | ".join(f"p{q}" if q < 100 else "max" for q in _PERCENTILES)
    lines = [
        f"| stage (ms; per batch, its oldest record) | {head} |",
        "|---|" + "---:|" * len(_PERCENTILES),
    ]
    for name, spread in summary["stages_ms"].items():
        lines.append(f"| {name.replace('_', ' ')} | {cells(spread)} |")
    for name in ("process_ms", "commit_ms", "writer_round_ms", "gap_between_reads_of_a_thread_ms", "records_per_read"):
        lines.append(f"| {name.replace('_', ' ')} | {cells(summary[name])} |")
    for name, spread in (summary.get("commit_phases_ms") or {}).items():  # traces since stop 37
        lines.append(f"| commit: {name} ms | {cells(spread)} |")
    if summary.get("gc_ms"):  # traces from before stop 31 have no collections
        lines.append(f"| garbage collection ms ({summary['collections']:,}) | {cells(summary['gc_ms'])} |")
    lines += [
        "",
        f"{summary['batches']:,} batches, {summary['commits']:,} commits"
        + (f" (committing {summary['commit_share']:.0%} of the run's time, summed over threads)"
           if summary.get("commit_share") is not None else "")
        + "; the online writer was writing "
        f"{summary['writer_busy_share']:.0%} of the time."
        if summary["writer_busy_share"] is not None
        else "",
        "",
        "| from s | kafka → read p99 | read → handed p99 | handed → written p99 | total p99 | longest commit |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for w in summary["per_5s_p99_ms"]:
        lines.append(
            f"| {w['from_s']} | {w['kafka_to_read_p99']:,.1f} | {w['read_to_handed_p99']:,.1f} | "
            f"{w['handed_to_written_p99']:,.1f} | {w['total_p99']:,.1f} | {w['commit_max']:,.1f} |"
        )
    steps = summary.get("worker_steps")  # traces since stop 53
    if steps:
        lines += [
            "",
            "The workers' time per part of their work, per second of the run, summed over worker threads (the parts "
            "of a batch are inside it; a commit is inside a batch when the batch's interval ended): waiting = wall "
            "time beyond CPU time, for the GIL or a core.",
            "",
            "| part | CPU ms per s | wall ms per s | waiting | calls per s |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, step in steps.items():
            lines.append(
                f"| {name} | {step['cpu_ms_per_s']:,.1f} | {step['wall_ms_per_s']:,.1f} | "
                f"{step['waiting_share']:.0%} | {step['calls_per_s']:,.1f} |"
            )
    return "\n".join(lines)
