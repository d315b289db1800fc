"""CPU and wall time per row of the embedded online store's writes (LMDB), with pages
written in the shared map (``MDB_WRITEMAP``, the default) against LMDB's page copies
written back with ``pwrite`` — the same rows, in the same run.

Run ``python -m benchmarks.online_write [--entities N] [--batch N] [--batches N] [--rounds N]``.

Each round and mode opens a fresh store file, writes one row for every entity (timed
apart: the file grows, and with the shared map each new page is a page fault), then writes ``--batches`` batches of ``--batch``
random draws of an entity (a batch holds one row per entity drawn; figures are per row
written) — what the runtime's background writer does with the entities batches touched. Rows are built beforehand; the timed part is
:meth:`LmdbStore.write` (the Python side that packs the rows and the native transaction
without the GIL), wall time and this process's user and kernel CPU
(``getrusage``). The modes alternate within a round and their order alternates between
rounds. Results go to ``benchmarks/results/online_write.{json,md}`` (``--out``) —
written by the run, never by hand.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks._common import RESULTS_DIR, machine, write_results
from streamfeat.online import LmdbStore
from streamfeat.online.base import StoredEntity, make_row
from streamfeat.online.lmdb_store import native_lmdb_built

MODES = {"writemap": True, "pwrite": False}
FILL_BATCH = 50_000


def _rows(entities: Sequence[str], version: int, state: bytes, values: bytes) -> dict[str, StoredEntity]:
    return {entity: make_row(state, version, version, values, 0, 2**62) for entity in entities}


def measure(mode: str, entities: int, batch: int, batches: int, state_bytes: int, values_bytes: int,
            seed: int, workdir: Path) -> dict[str, Any]:
    """One fresh store in ``mode``: fill, then time random batches; figures per row."""
    rng = random.Random(seed)
    state = bytes(rng.randrange(256) for _ in range(state_bytes))
    values = b'{"v":"' + b"x" * max(0, values_bytes - 8) + b'"}'
    names = [f"user-{i:08d}" for i in range(entities)]
    folder = Path(tempfile.mkdtemp(prefix=f"online-write-{mode}-", dir=workdir))
    path = folder / "online.lmdb"
    try:
        with LmdbStore(path, writemap=MODES[mode]) as store:
            version = 0
            fill = []
            for start in range(0, entities, FILL_BATCH):
                version += 1
                fill.append(_rows(names[start : start + FILL_BATCH], version, state, values))
            fill_before, began = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            inserted = sum(store.write("bench", "fp", rows) for rows in fill)
            fill_wall, fill_after = time.perf_counter() - began, resource.getrusage(resource.RUSAGE_SELF)
            del fill
            work = []
            for _ in range(batches):
                version += 1
                work.append(_rows([names[rng.randrange(entities)] for _ in range(batch)], version, state, values))
            before, began = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            written = sum(store.write("bench", "fp", rows) for rows in work)
            wall, after = time.perf_counter() - began, resource.getrusage(resource.RUSAGE_SELF)
        stat = path.stat()
        return {
            "fill_rows": inserted,
            "fill_wall_us_per_row": round(fill_wall / inserted * 1e6, 3),
            "fill_cpu_us_per_row": round((fill_after.ru_utime - fill_before.ru_utime + fill_after.ru_stime
                                          - fill_before.ru_stime) / inserted * 1e6, 3),
            "rows": written,
            "wall_us_per_row": round(wall / written * 1e6, 3),
            "user_us_per_row": round((after.ru_utime - before.ru_utime) / written * 1e6, 3),
            "kernel_us_per_row": round((after.ru_stime - before.ru_stime) / written * 1e6, 3),
            "rows_per_s": round(written / wall),
            "file_bytes": stat.st_size,
            "allocated_bytes": stat.st_blocks * 512,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def to_markdown(report: dict[str, Any]) -> str:
    m, p = report["machine"], report["params"]
    lines = [
        "# Embedded online store: writes per row, shared map vs pwrite",
        "",
        f"Written by `python -m benchmarks.online_write` on {report['finished']} — {m['cpu']}, {m['cores']} cores, "
        f"{m['python']}, load average at start {m['load_average_at_start']}, commit {m['git_commit']}"
        f"{' (uncommitted changes)' if m['git_dirty'] else ''}. Native extension: {report['native']}.",
        "",
        f"{p['entities']:,} entities written once, then {p['batches']} batches of {p['batch']:,} random draws of an "
        f"entity ({p['state_bytes']} B state + {p['values_bytes']} B values per row); {p['rounds']} rounds, the "
        "modes alternating. Figures per row written (one per entity drawn); medians over the rounds.",
        "",
        "| mode | wall µs | user µs | kernel µs | rows/s | per round (wall µs) | first write of each entity: wall µs, CPU µs |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for mode, summary in report["summary"].items():
        rounds = " / ".join(f"{r['wall_us_per_row']:.2f}" for r in report["rounds"][mode])
        lines.append(f"| {mode} | {summary['wall_us_per_row']:.2f} | {summary['user_us_per_row']:.2f} | "
                     f"{summary['kernel_us_per_row']:.2f} | {summary['rows_per_s']:,} | {rounds} | "
                     f"{summary['fill_wall_us_per_row']:.2f}, {summary['fill_cpu_us_per_row']:.2f} |")
    lines += ["", f"pwrite / writemap, wall time per row (medians): **{report['pwrite_over_writemap_wall']:.2f}×**; "
              f"CPU (user + kernel): **{report['pwrite_over_writemap_cpu']:.2f}×**.", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.online_write",
        description="Time the embedded (LMDB) online store's writes per row with MDB_WRITEMAP and without, "
                    "alternating in one run; writes online_write.{json,md}.",
    )
    parser.add_argument("--entities", type=int, default=1_000_000, help="entities in the store (default 1,000,000)")
    parser.add_argument("--batch", type=int, default=10_000, help="rows per timed write (default 10,000)")
    parser.add_argument("--batches", type=int, default=60, help="timed writes per round and mode (default 60)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each mode once per round (default 3)")
    parser.add_argument("--state-bytes", type=int, default=400, help="state bytes per row (default 400)")
    parser.add_argument("--values-bytes", type=int, default=150, help="cached values bytes per row (default 150)")
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--workdir", type=Path, default=None, help="where the store files go (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help=f"results folder (default {RESULTS_DIR})")
    args = parser.parse_args(argv)
    for name in ("entities", "batch", "batches", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    workdir = args.workdir or Path(tempfile.gettempdir())
    workdir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "machine": machine(),
        "native": native_lmdb_built(),
        "params": {k: getattr(args, k) for k in ("entities", "batch", "batches", "rounds", "state_bytes",
                                                 "values_bytes", "seed")},
        "rounds": {mode: [] for mode in MODES},
    }
    for number in range(args.rounds):
        order = list(MODES) if number % 2 == 0 else list(reversed(MODES))
        for mode in order:
            result = measure(mode, args.entities, args.batch, args.batches, args.state_bytes, args.values_bytes,
                             args.seed + number, workdir)
            report["rounds"][mode].append(result)
            print(f"round {number + 1} {mode:>8}: {result['wall_us_per_row']:.2f} µs/row wall, "
                  f"{result['user_us_per_row']:.2f} user, {result['kernel_us_per_row']:.2f} kernel, "
                  f"{result['rows_per_s']:,} rows/s", file=sys.stderr)
    fields = ("wall_us_per_row", "user_us_per_row", "kernel_us_per_row", "fill_wall_us_per_row", "fill_cpu_us_per_row")
    report["summary"] = {
        mode: {**{f: round(statistics.median(r[f] for r in runs), 3) for f in fields},
               "rows_per_s": round(statistics.median(r["rows_per_s"] for r in runs))}
        for mode, runs in report["rounds"].items()
    }
    fast, slow = report["summary"]["writemap"], report["summary"]["pwrite"]
    report["pwrite_over_writemap_wall"] = round(slow["wall_us_per_row"] / fast["wall_us_per_row"], 3)
    report["pwrite_over_writemap_cpu"] = round(
        (slow["user_us_per_row"] + slow["kernel_us_per_row"]) / max(1e-9, fast["user_us_per_row"] + fast["kernel_us_per_row"]), 3)
    report["finished"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    write_results("online_write", report, to_markdown, args.out)
    print(to_markdown(report))
    return report


if __name__ == "__main__":
    main()
