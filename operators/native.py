"""The native (Rust) view operator, for views it covers; the Python operators otherwise.

``operators._native`` (built from ``operators/rust``) runs the rules of
:mod:`operators.view` and :mod:`operators.feature` for views whose every feature is a
count or a sum of a float field over a lifetime or tiled sliding window, with or
without a refresh cadence — the cheap features. Its states encode to the same bytes as
the Python operators' (a state written by one is read by the other), and the tests
compare the two on random event streams, the Python code being the oracle.

:class:`NativeViewOperator` keeps the :class:`~operators.view.ViewOperator` interface;
:func:`native_view` returns one when the extension is built and covers the features.
"""

from __future__ import annotations

from collections.abc import Hashable, MutableMapping, Sequence
from typing import Any

from operators.aggregations.count import Count
from operators.aggregations.sum import Sum
from operators.feature import FeatureOperator
from operators.view import BatchResult, Outcome, ViewOperator, gc_paused
from operators.windows.coverage import LifetimeCoverage, TiledCoverage
from operators.windows.lifetime import LifetimeStrategy
from operators.windows.tiles import TilesStrategy

try:
    from operators import _native
except ImportError:  # not built (no Rust toolchain at install): the Python operators run
    _native = None

__all__ = ["NativeViewOperator", "available", "native_spec", "native_view"]

Spec = tuple[str, tuple[int, int] | None, tuple[int, int] | None]


def available() -> bool:
    """Whether the extension was built and imports."""
    return _native is not None


def native_spec(feature: FeatureOperator) -> Spec | None:
    """The native core's description of ``feature``, or ``None`` when it does not cover it."""
    aggregator = feature.aggregator
    if type(aggregator) is Count:
        kind = "count"
    elif type(aggregator) is Sum and not aggregator.integer:
        kind = "sum_float"
    else:
        return None
    coverage, strategy = feature.coverage, feature.strategy
    if isinstance(coverage, LifetimeCoverage) and type(strategy) is LifetimeStrategy:
        window = None
    elif isinstance(coverage, TiledCoverage) and type(strategy) is TilesStrategy and strategy.tile == coverage.tile:
        window = (coverage.size, coverage.tile)
    else:
        return None
    refresh = None if feature.refresh is None else (feature.refresh.every, feature.refresh.lag)
    return kind, window, refresh


class NativeViewOperator(ViewOperator):
    """A :class:`ViewOperator` whose states and updates live in the native core.

    States are ``operators._native.NativeEntityState`` (``now``, ``frontier`` and ``seq``
    readable); every method answers as the Python operator would, bit for bit.
    """

    def __init__(self, features: Sequence[FeatureOperator], *, allowed_lateness: int, max_ahead: int) -> None:
        if _native is None:
            raise RuntimeError("operators._native is not built (install with a Rust toolchain)")
        super().__init__(features, allowed_lateness=allowed_lateness, max_ahead=max_ahead)
        specs = [native_spec(f) for f in self.features]
        uncovered = [f.name for f, spec in zip(self.features, specs) if spec is None]
        if uncovered:
            raise ValueError(f"the native core does not cover feature(s) {uncovered}")
        self._core = _native.NativeView(specs, allowed_lateness, max_ahead)
        self.state_class = _native.NativeEntityState

    def new_state(self) -> Any:
        return self._core.new_state()

    def apply(self, state: Any, event_time: int, arrival: int, values: Sequence[Any]) -> Outcome:
        return Outcome(self._core.apply(state, event_time, arrival, values))

    def apply_batch(
        self,
        states: MutableMapping[Hashable, Any],
        keys: Sequence[Hashable],
        event_times: Sequence[int],
        arrivals: Sequence[int],
        columns: Sequence[Sequence[Any] | None],
    ) -> BatchResult:
        with gc_paused():  # states are native objects: only the mapping allocates
            accepted, late, ahead = self._core.apply_batch(states, keys, event_times, arrivals, columns)
        return BatchResult(accepted, late, ahead)

    def read(self, state: Any, t: int) -> dict[str, Any]:
        if state is None:
            return {f.name: f.empty_value() for f in self.features}
        return dict(zip(self.names, self._core.read(state, t)))

    def read_until(self, state: Any, t: int) -> tuple[dict[str, Any], int]:
        values, until = self._core.read_until(state, t)
        return dict(zip(self.names, values)), until

    def next_change(self, state: Any, t: int) -> int:
        if state is None:
            return super().next_change(None, t)
        return self._core.next_change(state, t)

    def to_bytes(self, state: Any) -> bytes:
        return self._core.to_bytes(state)

    def from_bytes(self, data: bytes) -> Any:
        return self._core.from_bytes(data)


def native_view(features: Sequence[FeatureOperator], *, allowed_lateness: int, max_ahead: int) -> ViewOperator | None:
    """A :class:`NativeViewOperator` for ``features`` when the extension is built and covers
    every one of them; ``None`` otherwise."""
    if _native is None or not features or any(native_spec(f) is None for f in features):
        return None
    return NativeViewOperator(features, allowed_lateness=allowed_lateness, max_ahead=max_ahead)
