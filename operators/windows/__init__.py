"""Window coverage rules and one module per window strategy."""

from operators.windows.coverage import (
    Coverage,
    HoppingCoverage,
    LifetimeCoverage,
    Refresh,
    SlidingCoverage,
    TiledCoverage,
)
from operators.windows.exact_log import ExactLogStrategy
from operators.windows.lifetime import LifetimeStrategy
from operators.windows.monotonic import MonotonicStrategy
from operators.windows.sliding_hll import SlidingHllStrategy
from operators.windows.subtract import SubtractOnEvictStrategy
from operators.windows.tiles import TilesStrategy
from operators.windows.two_stacks import TwoStacksStrategy

__all__ = [
    "Coverage",
    "ExactLogStrategy",
    "HoppingCoverage",
    "LifetimeCoverage",
    "LifetimeStrategy",
    "MonotonicStrategy",
    "Refresh",
    "SlidingCoverage",
    "SlidingHllStrategy",
    "SubtractOnEvictStrategy",
    "TiledCoverage",
    "TilesStrategy",
    "TwoStacksStrategy",
]
