"""Feature definitions: one frozen class per aggregation.

Each feature names its input field (none for :class:`Count`), a window, and
optionally a refresh cadence with a publish lag. Field names and types are
checked against the source schema when the feature joins a
:class:`~streamfeat.definitions.FeatureView`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from streamfeat.durations import Duration, format_duration, parse_duration
from streamfeat.errors import DefinitionError
from streamfeat.windows import Hopping, Lifetime, Sliding, Window

__all__ = [
    "ApproxDistinct",
    "ApproxQuantile",
    "Count",
    "CountDistinct",
    "Feature",
    "First",
    "Last",
    "LastN",
    "Max",
    "Mean",
    "Min",
    "StdDev",
    "Strategy",
    "Sum",
    "Variance",
]

Strategy = Literal["auto", "log", "subtract", "two_stacks", "monotonic"]
_STRATEGIES = ("auto", "log", "subtract", "two_stacks", "monotonic")

#: What kind of input field an aggregation takes.
InputKind = Literal["none", "numeric", "ordered", "scalar"]


@dataclass(frozen=True, kw_only=True)
class Feature:
    """Common options of every feature.

    * ``window`` — :class:`Sliding`, :class:`Hopping`/:class:`Tumbling` or :class:`Lifetime` (default).
    * ``refresh`` — publish the value every ``refresh`` instead of continuously.
    * ``publish_lag`` — with ``refresh``: each boundary's value lands this much later
      and includes events that arrived until then (e.g. ``refresh="1d", publish_lag="2h"``).
    * ``name`` — output name; by default ``{field}_{op}_{window}``.
    * ``strategy`` — for exact sliding windows, force ``"log"``, ``"subtract"``,
      ``"two_stacks"`` or (min and max only) ``"monotonic"`` instead of the best one
      for the aggregation (``"auto"``).
    """

    window: Window = field(default_factory=Lifetime)
    refresh: Duration | None = None
    publish_lag: Duration | None = None
    name: str | None = None
    strategy: Strategy = "auto"

    op: ClassVar[str] = "feature"
    input_kind: ClassVar[InputKind] = "numeric"
    invertible: ClassVar[bool] = True

    def __post_init__(self) -> None:
        what = f"{type(self).__name__}"
        if not isinstance(self.window, (Sliding, Hopping, Lifetime)):
            raise DefinitionError(f"{what}: window must be Sliding, Hopping, Tumbling or Lifetime, got {self.window!r}")
        refresh = None if self.refresh is None else parse_duration(self.refresh, what=f"{what} refresh")
        if self.publish_lag is not None and refresh is None:
            raise DefinitionError(f"{what}: publish_lag needs a refresh cadence (e.g. refresh='1d')")
        lag = 0 if self.publish_lag is None else parse_duration(self.publish_lag, what=f"{what} publish_lag", allow_zero=True)
        granularity = self.window.granularity
        if refresh is not None and granularity is not None and refresh % granularity:
            raise DefinitionError(
                f"{what}: refresh {format_duration(refresh)} is not a whole number of the window's "
                f"tiles/hops ({format_duration(granularity)}), so boundary values could not be exact"
            )
        object.__setattr__(self, "refresh", refresh)
        object.__setattr__(self, "publish_lag", None if refresh is None else lag)
        if self.strategy not in _STRATEGIES:
            raise DefinitionError(f"{what}: unknown strategy {self.strategy!r}; choose one of {', '.join(_STRATEGIES)}")
        if self.strategy != "auto":
            if not isinstance(self.window, Sliding) or self.window.tile is not None:
                raise DefinitionError(
                    f"{what}: strategy={self.strategy!r} applies to exact Sliding windows only "
                    f"(tiled, hopping and lifetime windows have one strategy each)"
                )
            if self.strategy == "subtract" and not self.invertible:
                raise DefinitionError(f"{what}: strategy='subtract' needs an invertible aggregation; {self.op} is not")
            if self.strategy == "monotonic" and self.op not in ("min", "max"):
                raise DefinitionError(f"{what}: strategy='monotonic' answers min and max only, not {self.op}")
        if self.name is not None and (not isinstance(self.name, str) or not self.name.isidentifier()):
            raise DefinitionError(f"{what}: name {self.name!r} must be a valid identifier")

    @property
    def input_field(self) -> str | None:
        return None

    @property
    def op_label(self) -> str:
        return self.op

    @property
    def output_name(self) -> str:
        """Deterministic output name, e.g. ``amount_sum_7d`` or ``count_365d_tile1d_every1d``."""
        if self.name is not None:
            return self.name
        parts = [p for p in (self.input_field, self.op_label, self.window.label) if p]
        if self.refresh is not None:
            parts.append(f"every{format_duration(self.refresh)}")
        return "_".join(parts)


@dataclass(frozen=True, kw_only=True)
class Count(Feature):
    """Number of events."""

    op: ClassVar[str] = "count"
    input_kind: ClassVar[InputKind] = "none"


@dataclass(frozen=True)
class _FieldFeature(Feature):
    field: str

    def __post_init__(self) -> None:
        if not isinstance(self.field, str) or not self.field:
            raise DefinitionError(f"{type(self).__name__}: the input field must be a non-empty string")
        super().__post_init__()

    @property
    def input_field(self) -> str | None:
        return self.field


@dataclass(frozen=True)
class Sum(_FieldFeature):
    """Sum of a numeric field."""

    op: ClassVar[str] = "sum"


@dataclass(frozen=True)
class Mean(_FieldFeature):
    """Arithmetic mean of a numeric field (None when empty)."""

    op: ClassVar[str] = "mean"


@dataclass(frozen=True)
class Variance(_FieldFeature):
    """Population variance of a numeric field (None when empty)."""

    op: ClassVar[str] = "var"


@dataclass(frozen=True)
class StdDev(_FieldFeature):
    """Population standard deviation of a numeric field (None when empty)."""

    op: ClassVar[str] = "stddev"


@dataclass(frozen=True)
class Min(_FieldFeature):
    """Smallest value (numbers or strings; None when empty)."""

    op: ClassVar[str] = "min"
    input_kind: ClassVar[InputKind] = "ordered"
    invertible: ClassVar[bool] = False


@dataclass(frozen=True)
class Max(_FieldFeature):
    """Largest value (numbers or strings; None when empty)."""

    op: ClassVar[str] = "max"
    input_kind: ClassVar[InputKind] = "ordered"
    invertible: ClassVar[bool] = False


@dataclass(frozen=True)
class First(_FieldFeature):
    """Value of the earliest event (ties: earliest arrival)."""

    op: ClassVar[str] = "first"
    input_kind: ClassVar[InputKind] = "scalar"
    invertible: ClassVar[bool] = False


@dataclass(frozen=True)
class Last(_FieldFeature):
    """Value of the latest event (ties: latest arrival)."""

    op: ClassVar[str] = "last"
    input_kind: ClassVar[InputKind] = "scalar"
    invertible: ClassVar[bool] = False


@dataclass(frozen=True)
class LastN(_FieldFeature):
    """The ``n`` latest values, oldest first."""

    n: int = 5
    op: ClassVar[str] = "last"
    input_kind: ClassVar[InputKind] = "scalar"
    invertible: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or not 1 <= self.n <= 10_000:
            raise DefinitionError(f"LastN({self.field!r}): n must be an integer between 1 and 10000, got {self.n!r}")
        super().__post_init__()

    @property
    def op_label(self) -> str:
        return f"last{self.n}"


@dataclass(frozen=True)
class CountDistinct(_FieldFeature):
    """Exact number of distinct values (state grows with the distinct values)."""

    op: ClassVar[str] = "distinct"
    input_kind: ClassVar[InputKind] = "scalar"


@dataclass(frozen=True)
class ApproxDistinct(_FieldFeature):
    """Approximate number of distinct values (HyperLogLog; 1.04/sqrt(2**precision)
    relative standard error, 1.6 % at the default precision 12)."""

    precision: int = 12
    op: ClassVar[str] = "approx_distinct"
    input_kind: ClassVar[InputKind] = "scalar"
    invertible: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if isinstance(self.precision, bool) or not isinstance(self.precision, int) or not 4 <= self.precision <= 16:
            raise DefinitionError(f"ApproxDistinct({self.field!r}): precision must be an integer in 4..16")
        super().__post_init__()


@dataclass(frozen=True)
class ApproxQuantile(_FieldFeature):
    """Approximate quantile ``q`` (DDSketch): within ``relative_accuracy`` of the exact
    lower quantile, relative to its value."""

    q: float = 0.5
    relative_accuracy: float = 0.01
    op: ClassVar[str] = "quantile"

    def __post_init__(self) -> None:
        if not isinstance(self.q, (int, float)) or not 0.0 <= self.q <= 1.0:
            raise DefinitionError(f"ApproxQuantile({self.field!r}): q must be within [0, 1], got {self.q!r}")
        if not isinstance(self.relative_accuracy, (int, float)) or not 0.0 < self.relative_accuracy < 0.5:
            raise DefinitionError(f"ApproxQuantile({self.field!r}): relative_accuracy must be within (0, 0.5)")
        super().__post_init__()

    @property
    def op_label(self) -> str:
        return "p" + f"{self.q * 100:g}".replace(".", "_")
