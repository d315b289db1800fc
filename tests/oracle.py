"""Brute-force oracle: feature values computed straight from raw events.

Written from ``docs/semantics.md`` alone — it shares no code with ``operators`` —
so that a property test comparing the two checks the operators against the
written contract, not against themselves.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from streamfeat import features as f
from streamfeat.windows import Hopping, Lifetime, Sliding


@dataclass(frozen=True)
class RawEvent:
    event_time: int
    arrival: int
    value: Any


@dataclass(frozen=True)
class Accepted:
    event_time: int
    arrival: int  # effective arrival (non-decreasing per entity)
    seq: int
    value: Any


def accept(events: list[RawEvent], *, allowed_lateness: int, max_ahead: int) -> tuple[list[Accepted], list[str]]:
    """Replay the per-entity lateness rules; returns the accepted events and each event's fate."""
    accepted: list[Accepted] = []
    fates: list[str] = []
    now: int | None = None
    newest: int | None = None
    for event in events:
        effective = event.arrival if now is None else max(now, event.arrival)
        if event.event_time > effective + max_ahead:
            fates.append("too_far_ahead")
            continue
        if newest is not None and event.event_time < newest - allowed_lateness:
            fates.append("late")
            continue
        now = effective
        newest = event.event_time if newest is None else max(newest, event.event_time)
        accepted.append(Accepted(event.event_time, effective, len(accepted), event.value))
        fates.append("accepted")
    return accepted, fates


def covers(window: Any, t: int, event_time: int) -> bool:
    """Is ``event_time`` inside ``window`` as of ``t`` (semantics.md, 'Windows')?"""
    if isinstance(window, Lifetime):
        return event_time <= t
    if isinstance(window, Hopping):
        end = math.floor(t / window.hop) * window.hop
        return end - window.size < event_time <= end
    if isinstance(window, Sliding):
        if window.tile is None:
            return t - window.size < event_time <= t
        start = math.ceil(t / window.tile) * window.tile - window.size
        return start < event_time <= t
    raise TypeError(window)


def in_window(feature: f.Feature, accepted: list[Accepted], t: int) -> list[Accepted]:
    """The accepted events a read at ``t`` covers, after every arrived event up to ``t``."""
    arrived_by = t
    as_of = t
    if feature.refresh is not None:
        as_of = math.floor((t - feature.publish_lag) / feature.refresh) * feature.refresh
        arrived_by = as_of + feature.publish_lag
    return [e for e in accepted if e.arrival <= arrived_by and covers(feature.window, as_of, e.event_time)]


def expected(feature: f.Feature, events: list[Accepted]) -> Any:
    """The aggregate over ``events``, computed directly."""
    values = [e.value for e in events]
    ordered = sorted(events, key=lambda e: (e.event_time, e.seq))
    if isinstance(feature, f.Count):
        return len(events)
    if isinstance(feature, f.Sum):
        return sum(values, 0.0)
    if isinstance(feature, f.Mean):
        return statistics.fmean(values) if values else None
    if isinstance(feature, f.Variance):
        return statistics.pvariance(values) if values else None
    if isinstance(feature, f.StdDev):
        return statistics.pstdev(values) if values else None
    if isinstance(feature, f.Min):
        return min(values) if values else None
    if isinstance(feature, f.Max):
        return max(values) if values else None
    if isinstance(feature, f.First):
        return ordered[0].value if ordered else None
    if isinstance(feature, f.LastN):
        return [e.value for e in ordered[-feature.n :]] if ordered else []
    if isinstance(feature, f.Last):
        return ordered[-1].value if ordered else None
    if isinstance(feature, (f.CountDistinct, f.ApproxDistinct)):
        return len(set(values))
    if isinstance(feature, f.ApproxQuantile):
        if not values:
            return None
        return sorted(values)[math.floor(feature.q * (len(values) - 1))]
    raise TypeError(feature)


def agrees(feature: f.Feature, got: Any, want: Any) -> bool:
    """Exact agreement, except for documented approximation and float rounding."""
    if want is None or got is None:
        return got is None and want is None
    if isinstance(feature, f.ApproxDistinct):
        return abs(got - want) <= max(1, 0.05 * want)
    if isinstance(feature, f.ApproxQuantile):
        return abs(got - want) <= feature.relative_accuracy * abs(want) + 1e-9
    if isinstance(feature, (f.Sum, f.Mean, f.Variance, f.StdDev)):
        return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-6)
    return got == want
