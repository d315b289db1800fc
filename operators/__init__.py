"""Pure window and aggregation operators: no Kafka, bytewax, storage or I/O imports.

* :mod:`operators.base` — the Aggregator and WindowStrategy protocols;
* :mod:`operators.aggregations` — one class per aggregation;
* :mod:`operators.windows` — coverage rules and one module per strategy;
* :mod:`operators.feature` — one feature of one entity (pending events, refresh snapshots);
* :mod:`operators.view` — lateness, arrival clock and the batch entry point.
"""

from operators.base import Aggregator, WindowStrategy
from operators.codec import StateFormatError
from operators.feature import FeatureOperator, FeatureState, ReadBeforeStateError
from operators.view import BatchResult, EntityState, Outcome, ViewOperator

__all__ = [
    "Aggregator",
    "BatchResult",
    "EntityState",
    "FeatureOperator",
    "FeatureState",
    "Outcome",
    "ReadBeforeStateError",
    "StateFormatError",
    "ViewOperator",
    "WindowStrategy",
]
