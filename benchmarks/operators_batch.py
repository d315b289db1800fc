"""Batch-update throughput and state size of each window strategy.

Run ``python -m benchmarks.operators_batch [--events N] [--users N] [--quick]``.

The input is a prefix (``--events``, default 2,000,000) of the standard workload
:data:`streamfeat.workload.W1` in arrival order. Each case compiles a one-feature view
(plus one view holding all seven README example features) and feeds the prefix through
:meth:`ViewOperator.apply_batch` in batches of 100,000. Only the ``apply_batch`` calls are
timed: keys (user index as Python ints), times and value columns are Python lists built
beforehand. Afterwards the case reports the entities' serialised state size
(``len(op.to_bytes(state))``), the resident-memory growth of the run and the cost of a
read. Cases whose view the native core covers (:mod:`operators.native`) run on it, and
once more on the Python operators (``<case>_python``), so the ratio comes from one run.
Results go to ``benchmarks/results/operators_batch.{json,md}`` — written by the run,
never by hand.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import io
import json
import os
import pstats
import select
import signal
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from benchmarks._common import RESULTS_DIR, machine, write_results
from operators.native import NativeViewOperator
from operators.view import ViewOperator
from streamfeat import (
    ApproxDistinct,
    Count,
    Entity,
    Feature,
    FeatureView,
    LastN,
    Lifetime,
    Max,
    Sliding,
    Source,
    Sum,
    build_view,
)
from streamfeat.build import strategy_name
from streamfeat.workload import DAY_MS, W1, EventBatch, WorkloadSpec, generate

DEFAULT_EVENTS = 2_000_000
QUICK_EVENTS = 200_000
BATCH_SIZE = 100_000
STATE_SAMPLE = 20_000  # entities whose state size is measured when there are more
STATE_EXACT_MAX = 500_000  # up to this many entities every state is serialised
READ_SAMPLE = 2_000
REPEAT_BUDGET_S = 20.0  # no further repeats once one run takes longer than this
CASE_TIMEOUT_S = 300.0  # a case still running after this long is stopped and reported as such
TILED_TARGET = 1_000_000
LOG_TARGET = 300_000

SOURCE = Source(
    "transactions",
    timestamp="ts",
    schema={"user_id": str, "merchant_id": str, "amount": float, "ts": int},
)
ENTITY = Entity("user", key="user_id")


@dataclass(frozen=True, kw_only=True)
class Case:
    """One benchmarked view: a label, its features and the throughput it should reach."""

    name: str
    expr: str
    features: tuple[Feature, ...]
    target: int | None = None
    #: False: the Python operators even where the native core covers the view.
    native: bool = True

    def view(self) -> FeatureView:
        return FeatureView("v", entity=ENTITY, source=SOURCE, allowed_lateness="5m", features=self.features)

    def operator(self) -> ViewOperator:
        return build_view(self.view(), native=self.native)

    @property
    def core(self) -> str:
        """Which implementation runs the case: ``native`` or ``python``."""
        return "native" if isinstance(self.operator(), NativeViewOperator) else "python"

    @property
    def strategy(self) -> str:
        names = [strategy_name(f) for f in self.features]
        if len(names) > 1:
            return "mixed"
        refresh = " + refresh" if self.features[0].refresh is not None else ""
        return names[0] + refresh


EXAMPLE_FEATURES: tuple[Feature, ...] = (
    Count(window=Lifetime()),
    Count(window=Sliding("365d", tile="1d"), refresh="1d", publish_lag="2h"),
    Sum("amount", window=Sliding("7d")),
    Max("amount", window=Sliding("30d")),
    ApproxDistinct("merchant_id", window=Sliding("30d")),
    LastN("amount", n=5),
    Count(window=Sliding("1h")),
)

CASES: tuple[Case, ...] = (
    Case(
        name="count_365d_tile1d",
        expr='Count(window=Sliding("365d", tile="1d"))',
        features=(Count(window=Sliding("365d", tile="1d")),),
        target=TILED_TARGET,
    ),
    Case(
        name="sum_7d_tile1h",
        expr='Sum("amount", window=Sliding("7d", tile="1h"))',
        features=(Sum("amount", window=Sliding("7d", tile="1h")),),
        target=TILED_TARGET,
    ),
    Case(
        name="count_365d_tile1d_refresh1d",
        expr='Count(window=Sliding("365d", tile="1d"), refresh="1d", publish_lag="2h")',
        features=(Count(window=Sliding("365d", tile="1d"), refresh="1d", publish_lag="2h"),),
        target=TILED_TARGET,
    ),
    Case(name="count_lifetime", expr="Count(window=Lifetime())", features=(Count(window=Lifetime()),)),
    Case(
        name="sum_7d_subtract",
        expr='Sum("amount", window=Sliding("7d"))',
        features=(Sum("amount", window=Sliding("7d")),),
    ),
    Case(
        name="sum_7d_log",
        expr='Sum("amount", window=Sliding("7d"), strategy="log")',
        features=(Sum("amount", window=Sliding("7d"), strategy="log"),),
        target=LOG_TARGET,
    ),
    Case(
        name="max_30d_monotonic",
        expr='Max("amount", window=Sliding("30d"))',
        features=(Max("amount", window=Sliding("30d")),),
    ),
    Case(
        name="approx_distinct_30d",
        expr='ApproxDistinct("merchant_id", window=Sliding("30d"))',
        features=(ApproxDistinct("merchant_id", window=Sliding("30d")),),
    ),
    Case(name="last5_lifetime", expr='LastN("amount", n=5)', features=(LastN("amount", n=5),)),
    Case(name="count_1h_subtract", expr='Count(window=Sliding("1h"))', features=(Count(window=Sliding("1h")),)),
    Case(name="readme_example_7", expr="the 7 README example features in one view", features=EXAMPLE_FEATURES),
    Case(
        name="cheap_3",
        expr='lifetime count, 365d count in daily tiles refreshed daily, Sum("amount", window=Sliding("7d", tile="1h"))',
        features=(EXAMPLE_FEATURES[0], EXAMPLE_FEATURES[1], Sum("amount", window=Sliding("7d", tile="1h"))),
        target=TILED_TARGET,
    ),
)
#: The cases the native core covers, again on the Python operators: the ratio in one run.
CASES += tuple(
    dataclasses.replace(case, name=f"{case.name}_python", native=False)
    for case in CASES
    if isinstance(case.operator(), NativeViewOperator)
)


# -- inputs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    """The prefix as Python lists, pre-sliced into batches (built outside any timing)."""

    events: int
    keys: list[list[int]]
    event_times: list[list[int]]
    arrivals: list[list[int]]
    fields: dict[str, list[list[Any]]]
    max_arrival: int


def prepare(batch: EventBatch) -> Inputs:
    def sliced(column: list[Any]) -> list[list[Any]]:
        return [column[i : i + BATCH_SIZE] for i in range(0, len(column), BATCH_SIZE)]

    return Inputs(
        events=len(batch),
        keys=sliced(batch.user.tolist()),
        event_times=sliced(batch.event_time.tolist()),
        arrivals=sliced(batch.arrival.tolist()),
        fields={"amount": sliced(batch.amount.tolist()), "merchant_id": sliced(batch.merchant_ids())},
        max_arrival=int(batch.arrival[-1]) if len(batch) else 0,
    )


# -- measuring ---------------------------------------------------------------------------


def rss_bytes() -> int | None:
    """Resident set size from /proc/self/status (None where there is no /proc)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


Progress = Callable[[int, float], None]


def run_once(
    op: Any, inputs: Inputs, columns: list[list[Any] | None], progress: Progress | None = None
) -> tuple[float, dict[Any, Any], dict[str, int]]:
    """Feed every batch to ``apply_batch`` on fresh states; returns (seconds, states, counts).

    Only the ``apply_batch`` calls are timed; ``progress(events_done, seconds)`` is told
    after each batch, outside the timing.
    """
    states: dict[Any, Any] = {}
    accepted = late = ahead = done = 0
    seconds = 0.0
    apply_batch = op.apply_batch
    clock = time.perf_counter
    per_batch = [[None if c is None else c[b] for c in columns] for b in range(len(inputs.keys))]
    for keys, event_times, arrivals, cols in zip(inputs.keys, inputs.event_times, inputs.arrivals, per_batch):
        start = clock()
        result = apply_batch(states, keys, event_times, arrivals, cols)
        seconds += clock() - start
        accepted += result.accepted
        late += len(result.late)
        ahead += len(result.too_far_ahead)
        done += len(keys)
        if progress is not None:
            progress(done, seconds)
    return seconds, states, {"accepted": accepted, "late": late, "too_far_ahead": ahead}


def state_sizes(op: Any, states: dict[Any, Any], seed: int) -> dict[str, Any]:
    """Serialised state size per entity: over every entity, or a seeded sample beyond
    ``STATE_EXACT_MAX`` entities (then ``total`` is the sample mean times the entity count)."""
    keys = sorted(states)
    exact = len(keys) <= STATE_EXACT_MAX
    if not exact:
        rng = np.random.Generator(np.random.PCG64(seed))
        keys = [keys[i] for i in sorted(rng.choice(len(keys), STATE_SAMPLE, replace=False).tolist())]
    sizes = np.array([len(op.to_bytes(states[k])) for k in keys] or [0], dtype=np.int64)
    heaviest = max(states.values(), key=lambda s: s.seq) if states else None
    return {
        "entities": len(states),
        "exact": exact,
        "measured": len(keys),
        "mean": float(sizes.mean()),
        "p50": int(np.percentile(sizes, 50)),
        "p99": int(np.percentile(sizes, 99)),
        "max": int(sizes.max()),
        "total": int(sizes.sum()) if exact else round(float(sizes.mean()) * len(states)),
        "heaviest_entity_events": heaviest.seq if heaviest is not None else 0,
        "heaviest_entity_bytes": len(op.to_bytes(heaviest)) if heaviest is not None else 0,
    }


def read_cost(op: Any, states: dict[Any, Any], t: int, seed: int) -> dict[str, float]:
    """Mean microseconds of ``op.read`` over a seeded sample of entities, and over the heaviest."""
    keys = sorted(states)
    rng = np.random.Generator(np.random.PCG64(seed))
    pick = [keys[i] for i in rng.choice(len(keys), min(READ_SAMPLE, len(keys)), replace=False).tolist()]
    start = time.perf_counter()
    for key in pick:
        op.read(states[key], t)
    sample_us = (time.perf_counter() - start) / max(len(pick), 1) * 1e6
    heaviest = max(states.values(), key=lambda s: s.seq)
    start = time.perf_counter()
    op.read(heaviest, t)
    return {"read_us_mean": sample_us, "read_us_heaviest": (time.perf_counter() - start) * 1e6}


def run_case(
    case: Case, inputs: Inputs, *, repeats: int, seed: int, progress: Progress | None = None
) -> dict[str, Any]:
    """Every figure of one case; ``progress`` hears about the first run's batches."""
    op = case.operator()
    columns = [None if f.input_field is None else inputs.fields[f.input_field] for f in case.features]
    runs: list[float] = []
    figures: dict[str, Any] = {}
    for attempt in range(repeats):
        gc.collect()
        rss_before = rss_bytes()
        seconds, states, counts = run_once(op, inputs, columns, progress if attempt == 0 else None)
        runs.append(seconds)
        if attempt == 0:
            rss_after = rss_bytes()
            figures["counts"] = counts
            figures["rss_delta"] = None if rss_before is None or rss_after is None else rss_after - rss_before
            figures["state"] = state_sizes(op, states, seed)
            figures["read"] = read_cost(op, states, inputs.max_arrival, seed) if states else {}
        del states
        if seconds > REPEAT_BUDGET_S:
            break
    rates = [inputs.events / s for s in runs]
    best, median = max(rates), statistics.median(rates)
    return {
        **_identity(case, inputs),
        "status": "ok",
        "runs_s": [round(s, 4) for s in runs],
        "events_per_s_best": round(best),
        "events_per_s_median": round(median),
        "target_events_per_s": case.target,
        "target": None if case.target is None else ("met" if best >= case.target else "below"),
        **figures["counts"],
        "state_bytes": figures["state"],
        "rss_delta_bytes": figures["rss_delta"],
        **figures["read"],
    }


def _identity(case: Case, inputs: Inputs) -> dict[str, Any]:
    return {
        "name": case.name,
        "feature": case.expr,
        "outputs": [f.output_name for f in case.features],
        "strategy": case.strategy,
        "core": case.core,
        "events": inputs.events,
    }


def run_isolated(case: Case, inputs: Inputs, *, repeats: int, seed: int, timeout: float) -> dict[str, Any]:
    """:func:`run_case` in a forked child, so each case starts from the same heap and its
    RSS growth is its own. The child sends JSON lines over a pipe (progress after each
    batch of the first run, then the figures); a case still running after ``timeout``
    seconds is killed and reported with the progress it made (``status: "timeout"``).
    Runs in-process, without a timeout, where ``os.fork`` does not exist."""
    if not hasattr(os, "fork"):
        return run_case(case, inputs, repeats=repeats, seed=seed)
    sys.stdout.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns
        os.close(read_end)
        _child(case, inputs, repeats=repeats, seed=seed, fd=write_end)
    os.close(write_end)
    deadline = time.monotonic() + timeout
    buffer = b""
    last: dict[str, Any] = {"events": 0, "seconds": 0.0}
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([pipe], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return _timed_out(case, inputs, timeout, last)
            chunk = pipe.read(1 << 16)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                message = json.loads(line)
                if "progress" in message:
                    last = message["progress"]
                elif "error" in message:
                    os.waitpid(pid, 0)
                    raise RuntimeError(f"case {case.name} failed: {message['error']}")
                else:
                    os.waitpid(pid, 0)
                    return message["ok"]
    os.waitpid(pid, 0)
    raise RuntimeError(f"case {case.name}: the benchmark child process died without a result")


def _child(case: Case, inputs: Inputs, *, repeats: int, seed: int, fd: int) -> NoReturn:
    out = os.fdopen(fd, "wb", buffering=0)

    def send(message: dict[str, Any]) -> None:
        out.write(json.dumps(message).encode() + b"\n")

    status = 0
    try:
        progress = lambda events, seconds: send({"progress": {"events": events, "seconds": seconds}})  # noqa: E731
        send({"ok": run_case(case, inputs, repeats=repeats, seed=seed, progress=progress)})
    except BaseException as exc:  # every failure goes to the parent, which raises it
        status = 1
        send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        try:
            out.close()
        finally:
            os._exit(status)  # the child must never return into the parent's code


def _timed_out(case: Case, inputs: Inputs, timeout: float, last: dict[str, Any]) -> dict[str, Any]:
    done, seconds = last["events"], last["seconds"]
    return {
        **_identity(case, inputs),
        "status": "timeout",
        "timeout_s": timeout,
        "completed_events": done,
        "completed_seconds": round(seconds, 4),
        "events_per_s_so_far": round(done / seconds) if seconds else None,
        "target_events_per_s": case.target,
        "target": None if case.target is None else "below",
    }


def profile_case(case: Case, inputs: Inputs, top: int = 15) -> str:
    """cProfile of one run of ``case``, top functions by total time."""
    op = case.operator()
    columns = [None if f.input_field is None else inputs.fields[f.input_field] for f in case.features]
    profiler = cProfile.Profile()
    profiler.enable()
    run_once(op, inputs, columns)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


# -- machine and report ------------------------------------------------------------------


def workload_info(spec: WorkloadSpec, batch: EventBatch) -> dict[str, Any]:
    span_days = float((batch.event_time.max() - spec.start_ms) / DAY_MS) if len(batch) else 0.0
    return {
        "spec": dataclasses.asdict(spec),
        "is_w1": spec == W1,
        "prefix_events": len(batch),
        "users_seen": int(np.unique(batch.user).size),
        "event_time_span_days": round(span_days, 2),
        "batch_size": BATCH_SIZE,
    }


def describe(workload: dict[str, Any]) -> str:
    spec = workload["spec"]
    which = "W1" if workload["is_w1"] else "W1 with users={users}".format(**spec)
    return (
        f"workload: prefix of {which} — first {workload['prefix_events']:,} of {spec['events']:,} events "
        f"in arrival order ({spec['users']:,} users, {spec['days']} days, {spec['out_of_order']:.0%} out of order); "
        f"{workload['users_seen']:,} users appear, event times span {workload['event_time_span_days']} days"
    )


def _timeout_note(r: dict[str, Any]) -> str:
    rate = r["events_per_s_so_far"]
    return (
        f"stopped after {r['timeout_s']:.0f} s: {r['completed_events']:,} of {r['events']:,} events applied"
        + ("" if rate is None else f", {rate:,} events/s so far")
    )


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# operators batch-update benchmark",
        "",
        f"Written by `{report['command']}` on {report['timestamp']} — do not edit by hand.",
        "",
        f"- {describe(report['workload'])}",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, {m['python']}, "
        f"load average at start {m['load_average_at_start']}, git {m['git_commit']}"
        + (" (with uncommitted changes to operators/ or streamfeat/)" if m.get("git_dirty") else ""),
        f"- timed: `ViewOperator.apply_batch` over pre-built Python lists, batches of {BATCH_SIZE:,}, "
        f"up to {report['repeats']} run(s) per case (best and median; no repeat after a run over "
        f"{REPEAT_BUDGET_S:.0f} s); allowed lateness 5m; cases still running after {report['case_timeout_s']:.0f} s "
        "are stopped",
        "- each case runs in a fresh forked process; state: `len(op.to_bytes(state))` per entity after the run "
        f"(over every entity, or a {STATE_SAMPLE:,} sample beyond {STATE_EXACT_MAX:,} entities); RSS Δ: "
        f"resident-memory growth of the case's first run; read µs: mean `op.read` over {READ_SAMPLE:,} sampled "
        "entities",
        "",
        "| case | feature | strategy | core | events/s best | median | target | accepted | late | entities "
        "| bytes/entity mean | p99 | max | heaviest entity (events: bytes) | total MB | RSS Δ MB | read µs |",
        "|---|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        target = "" if r["target"] is None else f"{r['target']} (≥ {r['target_events_per_s']:,})"
        head = f"| {r['name']} | `{r['feature']}` | {r['strategy']} | {r.get('core', 'python')} |"
        if r["status"] != "ok":
            lines.append(f"{head} {_timeout_note(r)} | | {target} |" + " |" * 10)
            continue
        s = r["state_bytes"]
        rss = "" if r["rss_delta_bytes"] is None else f"{r['rss_delta_bytes'] / 1e6:.0f}"
        lines.append(
            f"{head} {r['events_per_s_best']:,} | {r['events_per_s_median']:,} "
            f"| {target} | {r['accepted']:,} | {r['late']:,} | {s['entities']:,} | {s['mean']:.0f} | {s['p99']:,} "
            f"| {s['max']:,} | {s['heaviest_entity_events']:,}: {s['heaviest_entity_bytes']:,} "
            f"| {s['total'] / 1e6:.1f} | {rss} | {r.get('read_us_mean', 0):.1f} |"
        )
    return "\n".join(lines) + "\n"


def print_row(r: dict[str, Any]) -> None:
    target = "" if r["target"] is None else f"{r['target']} (>= {r['target_events_per_s']:,})"
    if r["status"] != "ok":
        print(f"{r['name']:<34} {r['strategy']:<16} {_timeout_note(r)}  {target}", flush=True)
        return
    s = r["state_bytes"]
    rss = "" if r["rss_delta_bytes"] is None else f"{r['rss_delta_bytes'] / 1e6:.0f}"
    print(
        f"{r['name']:<34} {r['strategy']:<16} {r['core']:<7} {r['events_per_s_best']:>13,} "
        f"{r['events_per_s_median']:>11,}  "
        f"{target:<20} {r['late']:>6,} {s['mean']:>9.0f} {s['total'] / 1e6:>9.1f} {rss:>9} "
        f"{r.get('read_us_mean', 0):>8.1f}",
        flush=True,
    )


# -- entry point ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.operators_batch", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=None, help=f"prefix length (default {DEFAULT_EVENTS:,})")
    parser.add_argument("--users", type=int, default=None, help="W1 with this many users instead (a different stream)")
    parser.add_argument("--quick", action="store_true", help=f"CI smoke: {QUICK_EVENTS:,} events, one run per case")
    parser.add_argument("--repeats", type=int, default=None, help="runs per case (default 3, 1 with --quick)")
    parser.add_argument("--only", action="append", metavar="CASE", help="run only this case (repeatable)")
    parser.add_argument("--profile", metavar="CASE", help="print a cProfile of one run of CASE and exit")
    parser.add_argument(
        "--case-timeout", type=float, default=CASE_TIMEOUT_S, help=f"seconds per case (default {CASE_TIMEOUT_S:.0f})"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory (default benchmarks/results)")
    args = parser.parse_args(argv)
    if args.events is None:
        args.events = QUICK_EVENTS if args.quick else DEFAULT_EVENTS
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.events <= 0 or args.repeats <= 0 or args.case_timeout <= 0:
        parser.error("--events, --repeats and --case-timeout must be positive")
    known = {c.name for c in CASES}
    for name in (args.only or []) + ([args.profile] if args.profile else []):
        if name not in known:
            parser.error(f"unknown case {name!r}; cases: {', '.join(sorted(known))}")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns the report that was written (nothing is written with --profile)."""
    args = parse_args(argv)
    spec = W1 if args.users is None else dataclasses.replace(W1, users=args.users)
    batch = generate(spec, limit=args.events)
    workload = workload_info(spec, batch)
    inputs = prepare(batch)
    del batch
    info = {**machine(), "numpy": np.__version__}
    print(
        f"machine: {info['cpu']} ({info['cores']} cores), {info['platform']}, {info['python']}; "
        f"load average {info['load_average_at_start']}"
    )
    print(describe(workload))
    if args.profile:
        case = next(c for c in CASES if c.name == args.profile)
        print(f"cProfile of one run of {case.name} ({case.expr}):")
        print(profile_case(case, inputs))
        return {}
    cases = [c for c in CASES if args.only is None or c.name in args.only]
    results = []
    print(
        f"{'case':<34} {'strategy':<16} {'core':<7} {'events/s best':>13} {'median':>11}  {'target':<20} {'late':>6} "
        f"{'B/entity':>9} {'total MB':>9} {'RSS Δ MB':>9} {'read µs':>8}"
    )
    for case in cases:
        r = run_isolated(case, inputs, repeats=args.repeats, seed=spec.seed, timeout=args.case_timeout)
        results.append(r)
        print_row(r)
    report = {
        "benchmark": "operators_batch",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.operators_batch", *(argv if argv is not None else sys.argv[1:])]),
        "repeats": args.repeats,
        "case_timeout_s": args.case_timeout,
        "workload": workload,
        "machine": info,
        "results": results,
    }
    write_results("operators_batch", report, markdown, args.out)
    print(f"wrote {args.out / 'operators_batch.json'} and {args.out / 'operators_batch.md'}")
    return report


if __name__ == "__main__":
    main()
