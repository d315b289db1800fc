"""benchmarks.freshness with the view of light_features.py (one lifetime count) in place of the example view:
the flow's cost and freshness without the features' work. Same arguments as `python3 -m benchmarks.freshness`.
Usage (repository root): PYTHONPATH=. python3 benchmarks/results/freshness_134000_s43/light.py --bootstrap ... --out DIR"""
from pathlib import Path

import benchmarks.streaming as streaming

streaming.EXAMPLE_FEATURES = Path(__file__).with_name("light_features.py")

from benchmarks import freshness  # noqa: E402

freshness.main()
