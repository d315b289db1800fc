"""streamfeat: streaming features for machine learning, the same in training and serving.

Write definitions (:class:`Entity`, :class:`Source`, :class:`FeatureView` and features
such as :class:`Count` or :class:`Sum` over :class:`Sliding`, :class:`Hopping`,
:class:`Tumbling` or :class:`Lifetime` windows); :func:`build_view` compiles a view into
the operator that streaming, backfill and serving all run.
"""

from streamfeat.build import build_view
from streamfeat.clock import Clock, ManualClock, SystemClock
from streamfeat.definitions import Entity, FeatureView, Source
from streamfeat.durations import format_duration, parse_duration
from streamfeat.errors import DefinitionError, StateError, StreamfeatError, WorkloadError
from streamfeat.features import (
    ApproxDistinct,
    ApproxQuantile,
    Count,
    CountDistinct,
    Feature,
    First,
    Last,
    LastN,
    Max,
    Mean,
    Min,
    StdDev,
    Sum,
    Variance,
)
from streamfeat.windows import Hopping, Lifetime, Sliding, Tumbling, Window
from streamfeat.serving.client import Client  # noqa: E402  (after the definitions it imports)

__version__ = "0.1.0"

__all__ = [
    "ApproxDistinct",
    "ApproxQuantile",
    "Client",
    "Clock",
    "Count",
    "CountDistinct",
    "DefinitionError",
    "Entity",
    "Feature",
    "FeatureView",
    "First",
    "Hopping",
    "Last",
    "LastN",
    "Lifetime",
    "ManualClock",
    "Max",
    "Mean",
    "Min",
    "Sliding",
    "Source",
    "StateError",
    "StdDev",
    "StreamfeatError",
    "Sum",
    "SystemClock",
    "Tumbling",
    "Variance",
    "Window",
    "WorkloadError",
    "build_view",
    "format_duration",
    "parse_duration",
]
