"""Window strategies compared on cost and accuracy: one matrix, one run.

Run ``python -m benchmarks.strategies [--events N] [--quick] [--out DIR]``.

Matrix: strategies (exact event log, tiles of 1 min / 1 h / 1 d, 1-d tiles refreshed
daily, two-stacks, subtract-on-evict, lifetime, exact and approximate distinct) ×
windows (1 h, 7 d, 30 d, 365 d, lifetime) × workloads (uniform users, Zipf 1.1, a few
very heavy users, Zipf 1.1 with 1 % out of order = W1 scaled down). Cells that mean
nothing (a tile longer than its window, an event log for a lifetime window, ...) are
skipped and the report says why.

Each workload spans W1's 400 days with W1's events per user per day (``--events``
events over ``--events / 20`` users), so 30-day and 365-day windows really evict;
a W1 *prefix* of the same size would cover a few days only. Every cell compiles a
one-feature view and feeds the workload through :meth:`ViewOperator.apply_batch`
(only those calls are timed: wall and CPU time). Between batches, untimed, it reads
a seeded sample of entities as of the batch's last arrival; the same reads of the
exact event log (or exact distinct count) of the same window are the reference for
the accuracy figures. Afterwards: serialised state per entity (``to_bytes``, what the
RocksDB state store holds per entity and feature, before RocksDB's own compression),
Python memory per entity (deep ``sys.getsizeof`` of a sample), and read latency. Every
cell runs the Python operators (``build_view(..., native=False)``), so the strategies are
compared on one footing; ``benchmarks.operators_batch`` times the native core beside them.

Then the question that motivates streamfeat, on W1 (all 20M events by default):
lifetime count vs exact 365-day count vs 365-day count in daily tiles updated daily
— state, CPU and how different the values are (:mod:`benchmarks.strategies_report`
writes the section, the tables and the plots).

Results: ``benchmarks/results/strategies.{json,md}`` and ``strategies_*.png`` —
written by the run, never by hand.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import RESULTS_DIR, machine, write_results
from streamfeat import (
    ApproxDistinct,
    Count,
    CountDistinct,
    Entity,
    Feature,
    FeatureView,
    Lifetime,
    Sliding,
    Source,
    build_view,
)
from streamfeat.build import strategy_name
from streamfeat.workload import DAY_MS, W1, EventBatch, WorkloadSpec, generate, iter_batches

DEFAULT_EVENTS = 400_000
QUICK_EVENTS = 8_000
QUICK_HEADLINE = dataclasses.replace(W1, users=5_000, events=100_000)
EVENTS_PER_USER = 20  # W1: 20M events over 1M users
BATCH = 40_000  # events per apply_batch call; a checkpoint read after each
SAMPLE = 300  # entities read at every checkpoint (accuracy)
READ_SAMPLE = 1_000  # entities whose read latency is timed at the end
STATE_SAMPLE = 5_000  # entities serialised when there are more
MEMORY_SAMPLE = 300  # entities whose Python memory is measured
HEADLINE_BATCH = 200_000
HEADLINE_CHECKPOINTS = 10
HEADLINE_SAMPLE = 5_000
MIN, HOUR = 60_000, 3_600_000

SOURCE = Source("transactions", timestamp="ts", schema={"user_id": str, "merchant_id": str, "amount": float, "ts": int})
ENTITY = Entity("user", key="user_id")
WINDOWS: dict[str, str | None] = {"1h": "1h", "7d": "7d", "30d": "30d", "365d": "365d", "lifetime": None}
WINDOW_MS = {"1h": HOUR, "7d": 7 * DAY_MS, "30d": 30 * DAY_MS, "365d": 365 * DAY_MS}
TILES = {"1m": MIN, "1h": HOUR, "1d": DAY_MS}


# -- the matrix ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Row:
    """One strategy of the matrix: the feature it compiles for a window, or why it has none."""

    key: str
    label: str
    reference: str  # key of the row whose reads are the exact values; itself when exact
    build: Callable[[str | None], Feature | str]  # a Feature, or the reason the cell is skipped


def _tiled(tile: str, **options: Any) -> Callable[[str | None], Feature | str]:
    def build(window: str | None) -> Feature | str:
        if window is None:
            return "tiles bound a finite window; a lifetime window keeps one running aggregate (row lifetime)"
        if TILES[tile] > WINDOW_MS[window]:
            return f"a {tile} tile is longer than the {window} window (the definition is rejected)"
        return Count(window=Sliding(window, tile=tile), **options)

    return build


def _exact(strategy: str) -> Callable[[str | None], Feature | str]:
    def build(window: str | None) -> Feature | str:
        if window is None:
            return "no event is ever evicted from a lifetime window: the lifetime running count is exact in O(1)"
        return Count(window=Sliding(window), strategy=strategy)  # type: ignore[arg-type]

    return build


def _lifetime(window: str | None) -> Feature | str:
    if window is not None:
        return "a running lifetime aggregate never forgets, so it cannot answer a bounded window"
    return Count(window=Lifetime())


def _distinct(cls: type, **options: Any) -> Callable[[str | None], Feature | str]:
    def build(window: str | None) -> Feature | str:
        if window is None:
            return cls("merchant_id", window=Lifetime())
        return cls("merchant_id", window=Sliding(window), **options)

    return build


def _distinct_tiles(window: str | None) -> Feature | str:
    if window is None:
        return "lifetime needs no tiles: one sketch (row approx_distinct)"
    if DAY_MS > WINDOW_MS[window]:
        return "a 1d tile is longer than the 1h window"
    return ApproxDistinct("merchant_id", window=Sliding(window, tile="1d"))


ROWS: tuple[Row, ...] = (
    Row(key="log", label="exact event log", reference="log", build=_exact("log")),
    Row(key="tiles_1m", label="tiles 1 min", reference="log", build=_tiled("1m")),
    Row(key="tiles_1h", label="tiles 1 h", reference="log", build=_tiled("1h")),
    Row(key="tiles_1d", label="tiles 1 d", reference="log", build=_tiled("1d")),
    Row(
        key="tiles_1d_daily",
        label="tiles 1 d, refreshed daily (lag 2 h)",
        reference="log",
        build=_tiled("1d", refresh="1d", publish_lag="2h"),
    ),
    Row(key="two_stacks", label="two-stacks", reference="log", build=_exact("two_stacks")),
    Row(key="subtract", label="subtract-on-evict", reference="log", build=_exact("subtract")),
    Row(key="lifetime", label="lifetime running count", reference="lifetime", build=_lifetime),
    Row(
        key="exact_distinct",
        label="exact distinct (event log)",
        reference="exact_distinct",
        build=_distinct(CountDistinct, strategy="log"),
    ),
    Row(
        key="approx_distinct",
        label="approx distinct (HLL p=12, default strategy)",
        reference="exact_distinct",
        build=_distinct(ApproxDistinct),
    ),
    Row(
        key="approx_distinct_tiles_1d",
        label="approx distinct (HLL p=12 per 1 d tile)",
        reference="exact_distinct",
        build=_distinct_tiles,
    ),
)


def workloads(events: int) -> dict[str, tuple[WorkloadSpec, str]]:
    """The four workloads: all span W1's 400 days; seeds fixed."""
    users = max(10, events // EVENTS_PER_USER)
    in_order = dataclasses.replace(W1, events=events, users=users, out_of_order=0.0)
    return {
        "uniform": (
            dataclasses.replace(in_order, zipf_s=1e-9),
            f"{users:,} users drawn uniformly (Zipf exponent 1e-9), in order",
        ),
        "zipf": (in_order, f"{users:,} users, Zipf s=1.1 (W1's skew), in order"),
        "heavy": (
            dataclasses.replace(in_order, users=10, zipf_s=0.5),
            "10 very heavy users (Zipf s=0.5 over 10), in order",
        ),
        "w1_ooo": (
            dataclasses.replace(W1, events=events, users=users),
            f"W1 scaled to {events:,} events / {users:,} users: Zipf 1.1, 1 % out of order",
        ),
    }


# -- inputs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    """One workload as Python lists in batches (built once, outside any timing)."""

    events: int
    keys: list[list[int]]
    event_times: list[list[int]]
    arrivals: list[list[int]]
    merchants: list[list[str]]
    users_seen: int
    span_days: float


def prepare(batch: EventBatch) -> Inputs:
    size = max(1_000, min(BATCH, -(-len(batch) // 10)))  # about 10 checkpoints

    def sliced(column: list[Any]) -> list[list[Any]]:
        return [column[i : i + size] for i in range(0, len(column), size)]

    span = float((batch.event_time.max() - batch.event_time.min()) / DAY_MS) if len(batch) else 0.0
    return Inputs(
        events=len(batch),
        keys=sliced(batch.user.tolist()),
        event_times=sliced(batch.event_time.tolist()),
        arrivals=sliced(batch.arrival.tolist()),
        merchants=sliced(batch.merchant_ids()),
        users_seen=int(np.unique(batch.user).size),
        span_days=round(span, 1),
    )


def sample_keys(inputs: Inputs, n: int, seed: int) -> list[int]:
    """A seeded sample of the entities the workload touches, sorted."""
    seen = sorted({k for batch in inputs.keys for k in batch})
    if len(seen) <= n:
        return seen
    rng = np.random.Generator(np.random.PCG64(seed))
    return sorted(seen[i] for i in rng.choice(len(seen), n, replace=False).tolist())


# -- measuring -----------------------------------------------------------------------------------

_SHARED = (type(None), bool)


def deep_size(obj: Any, seen: set[int] | None = None) -> int:
    """Bytes of ``obj`` and everything it references (``sys.getsizeof``, each object once;
    ``None``, booleans and the interpreter's cached small ints are shared, so count 0)."""
    if seen is None:
        seen = set()
    if isinstance(obj, _SHARED) or (type(obj) is int and -5 <= obj <= 256) or id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        return size + sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return size + sum(deep_size(x, seen) for x in obj)
    if isinstance(obj, (int, float, str, bytes)):
        return size
    for klass in type(obj).__mro__:
        for slot in getattr(klass, "__slots__", ()):
            if hasattr(obj, slot):
                size += deep_size(getattr(obj, slot), seen)
    if hasattr(obj, "__dict__"):
        size += deep_size(obj.__dict__, seen)
    return size


def _stats(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "p50": 0.0, "p99": 0.0, "max": 0.0}
    arr = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(arr.mean()),
        "p50": float(np.percentile(arr, 50)),
        "p99": float(np.percentile(arr, 99)),
        "max": float(arr.max()),
    }


def errors(values: list[Any], reference: list[Any]) -> dict[str, Any]:
    """Absolute and relative error of ``values`` against ``reference`` (pairs where the
    reference entity exists). Relative error: ``|v - r| / r`` over pairs with ``r > 0``."""
    abs_err: list[float] = []
    rel_err: list[float] = []
    for v, r in zip(values, reference, strict=True):
        if r is None:
            continue
        a = abs(float(v) - float(r))
        abs_err.append(a)
        if r:
            rel_err.append(a / abs(float(r)))
    differ = sum(1 for a in abs_err if a > 0)
    return {
        "pairs": len(abs_err),
        "pairs_differing": differ,
        "abs_max": max(abs_err, default=0.0),
        "abs_mean": statistics.fmean(abs_err) if abs_err else 0.0,
        "rel_max": max(rel_err, default=0.0),
        "rel_mean": statistics.fmean(rel_err) if rel_err else 0.0,
    }


def staleness_ms(feature: Feature, read_times: list[int]) -> int:
    """The largest ``t - as_of`` over the reads: how old the served value was. A refreshed
    feature shows the value as of boundary ``floor((t - lag) / every) * every``; others
    are current as of the read (0 here; the runtime adds its batch delay, see
    streaming.md's freshness)."""
    if feature.refresh is None:
        return 0
    every, lag = feature.refresh, feature.publish_lag or 0
    return max((t - ((t - lag) // every) * every for t in read_times), default=0)


def run_cell(feature: Feature, inputs: Inputs, sample: list[int], seed: int) -> tuple[dict[str, Any], list[list[Any]]]:
    """Timed updates, checkpoint reads, state and read figures of one feature on one workload."""
    view = FeatureView("v", entity=ENTITY, source=SOURCE, allowed_lateness="5m", features=[feature])
    op = build_view(view, native=False)  # the Python strategies: their objects are measured (deep_size)
    name = feature.output_name
    feat = op.features[0]
    states: dict[int, Any] = {}
    wall = cpu = 0.0
    accepted = late = 0
    checkpoints: list[list[Any]] = []
    read_times: list[int] = []
    gc.collect()
    for b, (keys, times, arrivals) in enumerate(zip(inputs.keys, inputs.event_times, inputs.arrivals)):
        column = inputs.merchants[b] if feature.input_field else None
        w0, c0 = time.perf_counter(), time.process_time()
        result = op.apply_batch(states, keys, times, arrivals, [column])
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        accepted += result.accepted
        late += len(result.late)
        t = arrivals[-1]
        read_times.append(t)
        get = states.get
        checkpoints.append([None if (s := get(k)) is None else feat.read(s.features[0], t) for k in sample])
    t_end = read_times[-1]
    keys = sorted(states)
    if len(keys) > STATE_SAMPLE:
        rng = np.random.Generator(np.random.PCG64(seed))
        measured = [keys[i] for i in rng.choice(len(keys), STATE_SAMPLE, replace=False).tolist()]
    else:
        measured = keys
    serialized = [len(op.to_bytes(states[k])) for k in measured]
    memory = [deep_size(states[k]) for k in measured[:MEMORY_SAMPLE]]
    heaviest = max(keys, key=lambda k: states[k].seq)
    read_us = []
    for k in measured[:READ_SAMPLE]:
        r0 = time.perf_counter()
        op.read(states[k], t_end)
        read_us.append((time.perf_counter() - r0) * 1e6)
    r0 = time.perf_counter()
    op.read(states[heaviest], t_end)
    heaviest_read_us = (time.perf_counter() - r0) * 1e6
    figures = {
        "feature": name,
        "strategy": strategy_name(feature) + ("" if feature.refresh is None else " + refresh"),
        "events": inputs.events,
        "accepted": accepted,
        "late": late,
        "seconds": round(wall, 4),
        "cpu_seconds": round(cpu, 4),
        "events_per_s": round(inputs.events / wall) if wall else None,
        "cpu_us_per_event": round(cpu / inputs.events * 1e6, 3) if inputs.events else None,
        "entities": len(states),
        "state_serialized_bytes": {**_stats(serialized), "measured": len(measured)},
        "state_memory_bytes": {**_stats(memory), "measured": len(memory)},
        "heaviest_entity": {
            "events": states[heaviest].seq,
            "serialized_bytes": len(op.to_bytes(states[heaviest])),
            "memory_bytes": deep_size(states[heaviest]),
            "read_us": round(heaviest_read_us, 2),
        },
        "read_us": _stats(read_us),
        "staleness_max_ms": staleness_ms(feature, read_times),
        "old_edge_early_max_ms": (feature.window.tile or 0) if isinstance(feature.window, Sliding) else 0,
    }
    return figures, checkpoints


def run_matrix(
    events: int, seed: int, only: set[str] | None, log: Callable[[str], None]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    cells: list[dict[str, Any]] = []
    described: dict[str, Any] = {}
    for wname, (spec, description) in workloads(events).items():
        if only and wname not in only:
            continue
        inputs = prepare(generate(spec, limit=events))
        sample = sample_keys(inputs, SAMPLE, seed)
        described[wname] = {
            "description": description,
            "spec": dataclasses.asdict(spec),
            "events": inputs.events,
            "users_seen": inputs.users_seen,
            "event_time_span_days": inputs.span_days,
            "checkpoints": len(inputs.keys),
            "sampled_entities": len(sample),
        }
        log(f"workload {wname}: {description}; {inputs.users_seen:,} users seen, {inputs.span_days} days")
        for window in WINDOWS:
            reads: dict[str, list[list[Any]]] = {}
            for row in ROWS:
                built = row.build(WINDOWS[window])
                cell: dict[str, Any] = {"workload": wname, "window": window, "row": row.key, "label": row.label}
                if isinstance(built, str):
                    cells.append({**cell, "status": "skipped", "reason": built})
                    continue
                figures, checkpoints = run_cell(built, inputs, sample, seed)
                reads[row.key] = checkpoints
                ref = reads.get(row.reference)
                if ref is None:
                    accuracy: dict[str, Any] = {"reference": None}
                else:
                    flat = [v for cp in checkpoints for v in cp]
                    accuracy = {"reference": row.reference, **errors(flat, [v for cp in ref for v in cp])}
                cells.append({**cell, "status": "ok", **figures, "accuracy": accuracy})
                log(
                    f"  {wname:<8} {window:<8} {row.key:<26} {figures['events_per_s']:>11,} ev/s "
                    f"{figures['state_serialized_bytes']['mean']:>10.0f} B/entity  "
                    f"rel err mean {accuracy.get('rel_mean', 0):.2e}"
                )
    return cells, described


# -- the headline question: lifetime vs exact 365 d vs daily 365 d --------------------------------

HEADLINE_FEATURES: dict[str, Feature] = {
    "lifetime": Count(window=Lifetime()),
    "exact_365d": Count(window=Sliding("365d")),
    "daily_365d": Count(window=Sliding("365d", tile="1d"), refresh="1d", publish_lag="2h"),
    # The same tiles read continuously: separates the cost of the tiles from that of the refresh.
    "tiles_365d": Count(window=Sliding("365d", tile="1d")),
}
HEADLINE_EXPR = {
    "lifetime": "Count(window=Lifetime())",
    "exact_365d": 'Count(window=Sliding("365d"))',
    "daily_365d": 'Count(window=Sliding("365d", tile="1d"), refresh="1d", publish_lag="2h")',
    "tiles_365d": 'Count(window=Sliding("365d", tile="1d"))',
}


def _batches(spec: WorkloadSpec, limit: int | None) -> Iterator[tuple[list[int], list[int], list[int]]]:
    for batch in iter_batches(spec, HEADLINE_BATCH, limit=limit):
        yield batch.user.tolist(), batch.event_time.tolist(), batch.arrival.tolist()


def run_headline(spec: WorkloadSpec, limit: int | None, seed: int, log: Callable[[str], None]) -> dict[str, Any]:
    """The three features over ``spec`` (its first ``limit`` events), each on its own states,
    timed apart; values compared at checkpoints (sampled users) and at the end (every user)."""
    ops = {k: build_view(FeatureView("v", entity=ENTITY, source=SOURCE, allowed_lateness="5m", features=[f]),
                         native=False)
           for k, f in HEADLINE_FEATURES.items()}  # fmt: skip
    states: dict[str, dict[int, Any]] = {k: {} for k in ops}
    wall = dict.fromkeys(ops, 0.0)
    cpu = dict.fromkeys(ops, 0.0)
    rng = np.random.Generator(np.random.PCG64(seed))
    sample = sorted(set(rng.choice(spec.users, HEADLINE_SAMPLE, replace=False).tolist()))
    target = spec.events if limit is None else min(limit, spec.events)
    total_batches = -(-target // HEADLINE_BATCH)
    every = max(1, total_batches // HEADLINE_CHECKPOINTS)
    diffs: dict[str, list[tuple[int, int]]] = {k: [] for k in ops if k != "exact_365d"}  # (value, exact) pairs
    events = 0
    started = time.perf_counter()
    t = spec.start_ms
    read = {k: op.features[0].read for k, op in ops.items()}
    for b, (keys, times, arrivals) in enumerate(_batches(spec, limit)):
        for k, op in ops.items():
            w0, c0 = time.perf_counter(), time.process_time()
            op.apply_batch(states[k], keys, times, arrivals, [None])
            wall[k] += time.perf_counter() - w0
            cpu[k] += time.process_time() - c0
        events += len(keys)
        t = arrivals[-1]
        if (b + 1) % every == 0 or events == target:
            exact = states["exact_365d"]
            for k in diffs:
                for user in sample:
                    s = exact.get(user)
                    if s is not None:
                        value = read[k](states[k][user].features[0], t)
                        diffs[k].append((value, read["exact_365d"](s.features[0], t)))
        if b % 20 == 0:
            log(f"  headline: {events:,} of {target:,} events ({time.perf_counter() - started:.0f} s)")
    # Every entity at the end of the stream.
    final = {k: {u: read[k](s.features[0], t) for u, s in states[k].items()} for k in ops}
    out: dict[str, Any] = {
        "spec": dataclasses.asdict(spec),
        "is_w1": spec == W1,
        "prefix": limit,
        "events": events,
        "entities": len(states["lifetime"]),
        "read_time_ms": t,
        "read_time_utc": datetime.fromtimestamp(t / 1000, UTC).isoformat(timespec="seconds"),
        "checkpoints_sampled_entities": len(sample),
        "features": {},
        "differences_at_end": {},
        "differences_over_checkpoints": {},
    }
    for k, op in ops.items():
        keys = sorted(states[k])
        if len(keys) > STATE_SAMPLE:
            keys_sample = sorted(rng.choice(len(keys), STATE_SAMPLE, replace=False).tolist())
            pick = [keys[i] for i in keys_sample]
        else:
            pick = keys
        ser = [len(op.to_bytes(states[k][u])) for u in pick]
        mem = [deep_size(states[k][u]) for u in pick[:MEMORY_SAMPLE]]
        mean_ser = statistics.fmean(ser)
        heaviest = max(keys, key=lambda u, k=k: states[k][u].seq)
        feature = HEADLINE_FEATURES[k]
        out["features"][k] = {
            "expr": HEADLINE_EXPR[k],
            "output": op.names[0],
            "strategy": strategy_name(feature) + ("" if feature.refresh is None else " + refresh"),
            "events_per_s": round(events / wall[k]),
            "cpu_us_per_event": round(cpu[k] / events * 1e6, 3),
            "cpu_seconds": round(cpu[k], 2),
            "state_serialized_bytes_mean": round(mean_ser, 1),
            "state_serialized_bytes_p99": float(np.percentile(ser, 99)),
            "state_serialized_total_mb": round(mean_ser * len(keys) / 1e6, 1),
            "state_memory_bytes_mean": round(statistics.fmean(mem), 1),
            "heaviest_user": {
                "events": states[k][heaviest].seq,
                "serialized_bytes": len(op.to_bytes(states[k][heaviest])),
                "memory_bytes": deep_size(states[k][heaviest]),
            },
            "state_memory_total_mb_estimate": round(statistics.fmean(mem) * len(keys) / 1e6, 1),
            "staleness_at_end_ms": staleness_ms(feature, [t]),
            "staleness_bound_ms": 0 if feature.refresh is None else feature.refresh + (feature.publish_lag or 0),
        }
    exact = final["exact_365d"]
    for k in diffs:
        pairs = [(final[k][u], exact[u]) for u in exact]
        out["differences_at_end"][k] = _difference(pairs)
        out["differences_over_checkpoints"][k] = _difference(diffs[k])
    out["exact_365d_median"] = float(np.median(list(exact.values())))
    out["lifetime_median"] = float(np.median(list(final["lifetime"].values())))
    return out


def _difference(pairs: list[tuple[int, int]]) -> dict[str, Any]:
    """How a feature's values differ from the exact 365-day count, over (value, exact) pairs."""
    if not pairs:
        return {"pairs": 0}
    v = np.array([p[0] for p in pairs], dtype=np.float64)
    e = np.array([p[1] for p in pairs], dtype=np.float64)
    d = v - e
    nz = e > 0
    rel = np.abs(d[nz]) / e[nz]
    return {
        "pairs": len(pairs),
        "share_differing": float((d != 0).mean()),
        "mean_signed": float(d.mean()),
        "abs_mean": float(np.abs(d).mean()),
        "abs_p99": float(np.percentile(np.abs(d), 99)),
        "abs_max": float(np.abs(d).max()),
        "rel_mean": float(rel.mean()) if rel.size else 0.0,
        "rel_p50": float(np.percentile(rel, 50)) if rel.size else 0.0,
        "rel_p99": float(np.percentile(rel, 99)) if rel.size else 0.0,
        "rel_max": float(rel.max()) if rel.size else 0.0,
    }


# -- entry point ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.strategies", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--events", type=int, default=None, help=f"events per matrix workload (default {DEFAULT_EVENTS:,})"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run: {QUICK_EVENTS:,} events per workload, small headline"
    )
    parser.add_argument(
        "--headline-events", type=int, default=None, help="W1 prefix for the headline (default: all of W1)"
    )
    parser.add_argument("--workload", action="append", help="run only this matrix workload (repeatable)")
    parser.add_argument("--skip-headline", action="store_true", help="matrix only")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory (default benchmarks/results)")
    args = parser.parse_args(argv)
    if args.events is None:
        args.events = QUICK_EVENTS if args.quick else DEFAULT_EVENTS
    if args.events <= 0:
        parser.error("--events must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from benchmarks import strategies_report

    args = parse_args(argv)
    info = machine()
    print(
        f"machine: {info['cpu']} ({info['cores']} cores), {info['platform']}, {info['python']}; "
        f"load average {info['load_average_at_start']}; git {info['git_commit']}",
        flush=True,
    )
    log = lambda line: print(line, flush=True)
    started = time.perf_counter()
    cells, described = run_matrix(args.events, W1.seed, set(args.workload or ()), log)
    headline: dict[str, Any] | None = None
    if not args.skip_headline:
        if args.quick:
            spec, limit = QUICK_HEADLINE, None
            what = f"W1 scaled to {spec.events:,} events / {spec.users:,} users (quick mode)"
        elif args.headline_events:
            spec, limit = W1, args.headline_events
            what = f"first {limit:,} events of W1"
        else:
            spec, limit, what = W1, None, f"all of W1 ({W1.events:,} events, {W1.users:,} users, {W1.days} days)"
        log(f"headline on {what}")
        headline = {"workload": what, **run_headline(spec, limit, W1.seed, log)}
    report = {
        "benchmark": "strategies",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.strategies", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {**info, "numpy": np.__version__},
        "parameters": {
            "events_per_workload": args.events,
            "batch": max(1_000, min(BATCH, -(-args.events // 10))),
            "checkpoint_sample": SAMPLE,
            "read_sample": READ_SAMPLE,
            "state_sample": STATE_SAMPLE,
            "memory_sample": MEMORY_SAMPLE,
            "allowed_lateness": "5m",
            "aggregation": "Count (distinct rows: merchant_id)",
        },
        "workloads": described,
        "cells": cells,
        "headline": headline,
        "seconds": None,
        "load_average_at_end": None,
        "plots": [],
    }
    if not args.no_plots:
        report["plots"] = strategies_report.plots(report, args.out)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write_results("strategies", report, strategies_report.markdown, args.out)
    log(f"wrote {args.out / 'strategies.json'} and {args.out / 'strategies.md'} in {report['seconds']} s")
    return report


if __name__ == "__main__":
    main()
