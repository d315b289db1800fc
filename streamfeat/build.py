"""Definitions -> operators: turn a FeatureView into the ViewOperator that streaming,
backfill and serving all run.

A view whose every feature the native core covers (:func:`operators.native.native_spec`)
runs there when the extension is built;
``STREAMFEAT_NATIVE=0`` in the environment (or ``build_view(view, native=False)``) keeps
it on the Python operators. Both give the same values and the same state bytes.
"""

from __future__ import annotations

import os

from operators import aggregations as agg
from operators.base import Aggregator, WindowStrategy
from operators.feature import FeatureOperator
from operators.native import native_view
from operators.view import ViewOperator
from operators.windows import (
    ExactLogStrategy,
    HoppingCoverage,
    LifetimeCoverage,
    LifetimeStrategy,
    MonotonicStrategy,
    Refresh,
    SlidingCoverage,
    SlidingHllStrategy,
    SubtractOnEvictStrategy,
    TiledCoverage,
    TilesStrategy,
    TwoStacksStrategy,
)
from streamfeat import features as f
from streamfeat.definitions import FeatureView
from streamfeat.windows import Hopping, Lifetime, Sliding

__all__ = ["NATIVE_ENV", "build_aggregator", "build_feature", "build_view", "native_enabled", "strategy_name"]


def build_aggregator(feature: f.Feature, field_type: type | None) -> Aggregator:
    """The operators aggregator that computes ``feature``."""
    if isinstance(feature, f.Count):
        return agg.Count()
    if isinstance(feature, f.Sum):
        return agg.Sum(integer=field_type is int)
    if isinstance(feature, f.Mean):
        return agg.Mean()
    if isinstance(feature, f.Variance):
        return agg.Variance()
    if isinstance(feature, f.StdDev):
        return agg.StdDev()
    if isinstance(feature, f.Min):
        return agg.Min()
    if isinstance(feature, f.Max):
        return agg.Max()
    if isinstance(feature, f.First):
        return agg.First()
    if isinstance(feature, f.LastN):
        return agg.LastN(feature.n)
    if isinstance(feature, f.Last):
        return agg.Last()
    if isinstance(feature, f.CountDistinct):
        return agg.CountDistinct()
    if isinstance(feature, f.ApproxDistinct):
        return agg.ApproxCountDistinct(feature.precision)
    if isinstance(feature, f.ApproxQuantile):
        return agg.ApproxQuantile(feature.q, feature.relative_accuracy)
    raise TypeError(f"no aggregator for {type(feature).__name__}")


def strategy_name(feature: f.Feature) -> str:
    """Which window strategy a feature runs on."""
    window = feature.window
    if isinstance(window, Lifetime):
        return "lifetime"
    if isinstance(window, Hopping) or (isinstance(window, Sliding) and window.tile is not None):
        return "tiles"
    if feature.strategy != "auto":
        return feature.strategy
    if feature.invertible:
        return "subtract"
    if isinstance(feature, f.ApproxDistinct):
        # A sketch per element would make two-stacks state huge; the event log folds the
        # whole window per read. Per-register staircases read in O(registers changed).
        return "sliding_hll"
    if isinstance(feature, (f.Min, f.Max)):
        # Keeps only the events that can still be the answer: about ln(n) of n.
        return "monotonic"
    return "two_stacks"


def build_feature(feature: f.Feature, field_type: type | None) -> FeatureOperator:
    aggregator = build_aggregator(feature, field_type)
    window = feature.window
    name = strategy_name(feature)
    strategy: WindowStrategy
    if isinstance(window, Lifetime):
        coverage = LifetimeCoverage()
        strategy = LifetimeStrategy(aggregator)
    elif isinstance(window, Hopping):
        coverage = HoppingCoverage(window.size, window.hop)
        strategy = TilesStrategy(aggregator, window.hop)
    elif window.tile is not None:
        coverage = TiledCoverage(window.size, window.tile)
        strategy = TilesStrategy(aggregator, window.tile)
    else:
        coverage = SlidingCoverage(window.size)
        strategy = {
            "log": ExactLogStrategy,
            "monotonic": MonotonicStrategy,
            "sliding_hll": SlidingHllStrategy,
            "subtract": SubtractOnEvictStrategy,
            "two_stacks": TwoStacksStrategy,
        }[name](aggregator)
    refresh = None if feature.refresh is None else Refresh(feature.refresh, feature.publish_lag or 0)
    return FeatureOperator(
        name=feature.output_name,
        field=feature.input_field,
        aggregator=aggregator,
        strategy=strategy,
        coverage=coverage,
        refresh=refresh,
    )


#: Environment variable that turns the native core off when set to ``0``.
NATIVE_ENV = "STREAMFEAT_NATIVE"


def native_enabled() -> bool:
    """Whether :func:`build_view` may pick the native core (``STREAMFEAT_NATIVE`` is not ``0``)."""
    return os.environ.get(NATIVE_ENV, "1").strip() != "0"


def build_view(view: FeatureView, *, native: bool | None = None) -> ViewOperator:
    """Compile a view's definitions into its runtime operator: the native core's when it
    covers every feature and ``native`` (default: :func:`native_enabled`) allows it."""
    schema = view.source.schema
    types = [schema.get(feature.input_field or "") for feature in view.features]
    features = [build_feature(feature, field_type) for feature, field_type in zip(view.features, types)]
    lateness, ahead = view.allowed_lateness, view.source.max_ahead
    if native if native is not None else native_enabled():
        op = native_view(features, allowed_lateness=lateness, max_ahead=ahead, field_types=types)
        if op is not None:
            return op
    return ViewOperator(features, allowed_lateness=lateness, max_ahead=ahead)
