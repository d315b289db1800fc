"""``streamfeat demo``: a small W1-like stream through the example features, in process.

Generates card transactions (see :mod:`streamfeat.workload`), applies them in arrival
order through the compiled operators of ``examples/transactions.py`` — the same code
the streaming runtime and backfill run — and prints a few users' feature values as of
a few times, so the semantics can be seen: the exact 7-day sum and 1-hour count move
with time, the daily-refreshed 365-day count only changes at its 02:00 publication.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from operators import EntityState
from streamfeat.build import build_view
from streamfeat.clock import DAY_MS, HOUR_MS
from streamfeat.definitions import FeatureView
from streamfeat.loader import EXAMPLE_FEATURES, load_views
from streamfeat.workload import WorkloadSpec, iter_batches

__all__ = ["DemoResult", "run_demo"]


@dataclass(frozen=True)
class DemoResult:
    events: int
    accepted: int
    late: int
    too_far_ahead: int
    entities: int
    seconds: float
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
    out: TextIO = sys.stdout,
) -> DemoResult:
    """Run the demo and print its table to ``out``; returns what it printed, as data."""
    if view is None:
        view = load_views(EXAMPLE_FEATURES)[0]
    spec = WorkloadSpec(users=users, events=events, days=days, merchants=max(10, users // 4), seed=seed)
    op = build_view(view)
    states: dict[str, EntityState] = {}
    activity: Counter[str] = Counter()
    accepted = late = ahead = 0
    started = time.perf_counter()
    for batch in iter_batches(spec, batch_size=50_000):
        keys = batch.user_ids()
        data = {"amount": batch.amount.tolist(), "merchant_id": batch.merchant_ids()}
        result = op.apply_batch(states, keys, batch.event_time.tolist(), batch.arrival.tolist(), op.columns_for(data))
        accepted += result.accepted
        late += len(result.late)
        ahead += len(result.too_far_ahead)
        activity.update(keys)
    seconds = time.perf_counter() - started

    end = max(state.now for state in states.values())
    heavy = [user for user, _ in activity.most_common(show)]
    quiet = sorted((u for u in states if activity[u] == 1), key=lambda u: int(u[1:]))[:1]
    chosen = heavy + quiet
    # Reads: the end of the stream, one hour later, the next publication of the daily
    # feature (02:00 UTC), and a week later when the 7-day window has emptied.
    next_publication = (end // DAY_MS + 1) * DAY_MS + 2 * HOUR_MS
    times = [end, end + HOUR_MS, next_publication, end + 8 * DAY_MS]
    table = {(user, t): op.read(states[user], t) for user in chosen for t in times}

    print(
        f"streamfeat demo: {events:,} transactions of {users:,} users over {days} days "
        f"(Zipf s={spec.zipf_s}, {spec.out_of_order:.0%} out of order), seed {seed}",
        file=out,
    )
    print(
        f"applied in {seconds:.2f} s ({events / seconds:,.0f} events/s): {accepted:,} accepted, "
        f"{late:,} late (> {view.allowed_lateness // 60_000} min behind), {ahead:,} too far ahead; "
        f"{len(states):,} users",
        file=out,
    )
    width = max(len(name) for name in op.names) + 2
    for user in chosen:
        label = "one of the heaviest users" if user in heavy else "a user with one transaction"
        print(f"\n{user} ({activity[user]:,} transactions; {label}) — values as of:", file=out)
        cells = {(name, t): _fmt_value(table[(user, t)][name]) for name in op.names for t in times}
        columns = {t: max(18, *(len(cells[(name, t)]) for name in op.names)) + 2 for t in times}
        print("feature".ljust(width) + "".join(_fmt_time(t).rjust(columns[t]) for t in times), file=out)
        for name in op.names:
            print(name.ljust(width) + "".join(cells[(name, t)].rjust(columns[t]) for t in times), file=out)
    print(
        "\nRead the columns left to right: exact windows (amount_sum_7d, count_1h) move with the read time; "
        "count_365d_tile1d_every1d changes only when the next daily value lands at 02:00 UTC.",
        file=out,
    )
    return DemoResult(events, accepted, late, ahead, len(states), seconds, table)
