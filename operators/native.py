"""The native (Rust) view operator, for views it covers; the Python operators otherwise.

``operators._native`` (built from ``operators/rust``) runs the rules of
:mod:`operators.view` and :mod:`operators.feature` for views whose every feature it
covers (:func:`native_spec`):

* count, and sum of a float field, over a lifetime or tiled window (refreshed or not)
  or an exact sliding window (subtract-on-evict);
* max of a float field over an exact sliding window (monotonic queue);
* the last n values of a float field over the lifetime;
* approximate distinct count of a string field over an exact sliding window (sliding
  HyperLogLog).

Its states encode to the same bytes as the Python operators' (a state written by one
is read by the other; sliding HyperLogLog states in the event-log layout of older
versions are read by the Python operators only), and the tests compare the two on
random event streams, the Python code being the oracle.

:class:`NativeViewOperator` keeps the :class:`~operators.view.ViewOperator` interface;
:func:`native_view` returns one when the extension is built and covers the features.
"""

from __future__ import annotations

from collections.abc import Hashable, MutableMapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from operators.aggregations.count import Count
from operators.aggregations.extremes import Max
from operators.aggregations.hll import ApproxCountDistinct
from operators.aggregations.ordered import LastN
from operators.aggregations.sum import Sum
from operators.feature import FeatureOperator
from operators.view import BatchResult, Outcome, ViewOperator, gc_paused
from operators.windows.coverage import LifetimeCoverage, SlidingCoverage, TiledCoverage
from operators.windows.lifetime import LifetimeStrategy
from operators.windows.monotonic import MonotonicStrategy
from operators.windows.sliding_hll import SlidingHllStrategy
from operators.windows.subtract import SubtractOnEvictStrategy
from operators.windows.tiles import TilesStrategy

try:
    from operators import _native
except ImportError:  # not built (no Rust toolchain at install): the Python operators run
    _native = None

__all__ = ["NativeViewOperator", "available", "hashed_fields", "native_spec", "native_view"]

Spec = tuple[str, tuple[int, int] | None, tuple[int, int] | None]


def available() -> bool:
    """Whether the extension was built and imports."""
    return _native is not None


def native_spec(feature: FeatureOperator, field_type: type | None = None) -> Spec | None:
    """The native core's description of ``feature`` (whose input field has type
    ``field_type``), or ``None`` when it does not cover it."""
    aggregator, coverage, strategy = feature.aggregator, feature.coverage, feature.strategy
    kind = type(aggregator)
    if kind is Count:
        name = "count"
    elif kind is Sum and not aggregator.integer and field_type is float:
        name = "sum_float"
    elif kind is Max and field_type is float:
        name = "max_float"
    elif kind is LastN and field_type is float:
        name = f"last_n:{aggregator.n}"
    elif kind is ApproxCountDistinct and field_type is str:
        name = f"distinct:{aggregator.precision}"
    else:
        return None
    window: tuple[int, int] | None
    if isinstance(coverage, LifetimeCoverage) and type(strategy) is LifetimeStrategy:
        window = None
        if kind in (Max, ApproxCountDistinct):
            return None
    elif isinstance(coverage, TiledCoverage) and type(strategy) is TilesStrategy and strategy.tile == coverage.tile:
        window = (coverage.size, coverage.tile)
        if kind not in (Count, Sum):
            return None
    elif isinstance(coverage, SlidingCoverage) and feature.refresh is None:
        window = (coverage.size, 0)  # tile 0: exact
        expected = {Count: SubtractOnEvictStrategy, Sum: SubtractOnEvictStrategy, Max: MonotonicStrategy,
                    ApproxCountDistinct: SlidingHllStrategy}.get(kind)  # fmt: skip
        if type(strategy) is not expected:
            return None
    else:
        return None
    if feature.refresh is not None and kind not in (Count, Sum):
        return None
    refresh = None if feature.refresh is None else (feature.refresh.every, feature.refresh.lag)
    return name, window, refresh


class NativeViewOperator(ViewOperator):
    """A :class:`ViewOperator` whose states and updates live in the native core.

    States are ``operators._native.NativeEntityState`` (``now``, ``frontier`` and ``seq``
    readable); every method answers as the Python operator would, bit for bit.
    """

    def __init__(
        self,
        features: Sequence[FeatureOperator],
        *,
        allowed_lateness: int,
        max_ahead: int,
        field_types: Sequence[type | None] | None = None,
    ) -> None:
        if _native is None:
            raise RuntimeError("operators._native is not built (install with a Rust toolchain)")
        super().__init__(features, allowed_lateness=allowed_lateness, max_ahead=max_ahead)
        types = list(field_types) if field_types is not None else [None] * len(self.features)
        specs = [native_spec(f, t) for f, t in zip(self.features, types, strict=True)]
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

    def apply_batch_join(
        self,
        states: MutableMapping[Hashable, Any],
        keys: Sequence[Hashable],
        event_times: Sequence[int],
        arrivals: Sequence[int],
        columns: Sequence[Sequence[Any] | None],
        pending: dict[Hashable, list[tuple[int, Any]]],
    ) -> tuple[BatchResult, list[tuple[Any, list[Any]]]]:
        """:meth:`apply_batch` that also answers spine rows. ``pending`` maps an entity to
        its rows ``(time, row)``, latest first; a row is answered on its entity's state
        just before the entity's first event in the batch that arrived after its time, and
        removed from ``pending`` (an entity without rows left is removed). Returns the
        batch result and ``(row, values)`` per answered row, values in feature order —
        backfill's point-in-time join, with no pass over the events in Python."""
        with gc_paused():
            accepted, late, ahead, joined = self._core.apply_batch_join(
                states, keys, event_times, arrivals, columns, pending
            )
        return BatchResult(accepted, late, ahead), joined

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

    def publish_batch(
        self, states: list[Any], at: int | None, horizon: int | None, large: list[bool]
    ) -> list[tuple[bytes | None, bytes | None, int, int]]:
        """Per state ``(data, values, valid_from, valid_until)``: its bytes, and its values
        as of ``max(state.now, at)`` as JSON with the span they hold for — what
        ``to_bytes`` and ``streamfeat.online.base.cache_values`` give, in one call
        (``values`` is ``None`` without ``at`` or where JSON cannot carry them). ``data``
        is ``None`` where ``large[i]`` and the values hold past ``horizon``."""
        return self._core.publish_batch(states, list(self.names), at, horizon, large)

    def publish_packed(
        self,
        states: list[Any],
        entities: list[str],
        at: int | None,
        horizon: int | None,
        large: list[bool],
        threshold: int,
    ) -> tuple[bytes, list[bytes | None], list[tuple[int, int]], list[int]]:
        """The rows :meth:`publish_batch` gives, packed into one buffer for a store that
        takes packed rows (``streamfeat.online.packed``), ``entities[i]`` the key of
        ``states[i]``: ``(packed, data, values_only, large_at)`` with each state's bytes
        (``None`` for a values-only row), the ``(index, valid_until)`` of the values-only
        rows and the indexes of the states whose bytes are ``threshold`` long or more."""
        return self._core.publish_packed(states, entities, list(self.names), at, horizon, large, threshold)

    def apply_publish(
        self,
        states: MutableMapping[Hashable, Any],
        keys: Sequence[Hashable],
        event_times: Sequence[int],
        arrivals: Sequence[int],
        columns: Sequence[Sequence[Any] | None],
        at: int | None,
        horizon: int | None,
        large: AbstractSet[str],
        threshold: int,
    ) -> tuple[BatchResult, list[str], tuple[bytes, list[bytes | None], list[tuple[int, int]], list[int]]] | None:
        """:meth:`apply_batch`, then :meth:`publish_packed` of each entity of the batch that
        has a state, in the order of its first event in the batch, in one call: ``(result,
        entities, published)``, ``published`` as :meth:`publish_packed` gives it (``large``:
        the entities whose flag it takes). ``None`` when the batch needs the general path (a
        key that is not a ``str``, ...): nothing was applied; call both methods then."""
        with gc_paused():
            done = self._core.apply_publish(
                states, keys, event_times, arrivals, columns, list(self.names), at, horizon, large, threshold
            )
        if done is None:
            return None
        accepted, late, ahead, entities, packed, data, values_only, large_at = done
        return BatchResult(accepted, late, ahead), entities, (packed, data, values_only, large_at)

    def from_bytes(self, data: bytes) -> Any:
        return self._core.from_bytes(data)

    def from_bytes_many(self, blobs: list[bytes]) -> list[Any]:
        """:meth:`from_bytes` of each blob in one call that decodes without the GIL (the
        state cache reading back a batch's evicted entities: the process's other threads run
        Python meanwhile). Raises as ``from_bytes`` does for the first blob that does not decode."""
        return self._core.from_bytes_many(blobs)

    def release_states(self, states: list[Any]) -> int:
        """Free the contents of states that ``states`` alone holds (evicted ones) without
        the GIL; they are left empty, so drop the list right after. Returns how many."""
        return _native.release_states(states)

    def replay_join(self, keys: Sequence[str] | tuple[Any, Any], times: Sequence[int] | Any) -> Any:
        """An ``operators._native.ReplayJoin`` over this view answering spine row ``i``
        (entity ``keys[i]`` as of ``times[i]``): a replay whose entity states live in the
        native core (``operators/rust/src/replay.rs``), for backfill's point-in-time join."""
        return _native.ReplayJoin(self._core, keys, times)


def native_view(
    features: Sequence[FeatureOperator],
    *,
    allowed_lateness: int,
    max_ahead: int,
    field_types: Sequence[type | None] | None = None,
) -> ViewOperator | None:
    """A :class:`NativeViewOperator` for ``features`` (``field_types``: each one's input
    field type) when the extension is built and covers every one of them; ``None`` otherwise."""
    types = list(field_types) if field_types is not None else [None] * len(features)
    if _native is None or not features or any(native_spec(f, t) is None for f, t in zip(features, types, strict=True)):
        return None
    return NativeViewOperator(features, allowed_lateness=allowed_lateness, max_ahead=max_ahead, field_types=types)


def hashed_fields(ops: Sequence[ViewOperator], entity_fields: Sequence[str]) -> frozenset[str]:
    """The input fields of ``ops`` (the views of one source, keyed by ``entity_fields``)
    that only native distinct counts read: their decoded columns may come as
    ``operators._native.HashedTexts``, hashes without a Python ``str`` per value. Empty
    when any view is not native (its operators read values one by one)."""
    distinct: set[str] = set()
    other: set[str] = set(entity_fields)
    for op in ops:
        if not isinstance(op, NativeViewOperator):
            return frozenset()
        for feature in op.features:
            if feature.field is not None:
                is_distinct = type(feature.aggregator) is ApproxCountDistinct
                (distinct if is_distinct else other).add(feature.field)
    return frozenset(distinct - other)
