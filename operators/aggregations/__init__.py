"""One small class per aggregation, all implementing :class:`operators.base.Aggregator`."""

from operators.aggregations.count import Count
from operators.aggregations.distinct import CountDistinct
from operators.aggregations.extremes import Max, Min
from operators.aggregations.hll import ApproxCountDistinct
from operators.aggregations.moments import Mean, StdDev, Variance
from operators.aggregations.ordered import First, Last, LastN
from operators.aggregations.quantile import ApproxQuantile
from operators.aggregations.sum import Sum

__all__ = [
    "ApproxCountDistinct",
    "ApproxQuantile",
    "Count",
    "CountDistinct",
    "First",
    "Last",
    "LastN",
    "Max",
    "Mean",
    "Min",
    "StdDev",
    "Sum",
    "Variance",
]
