"""python3 fresh_features.py FEATURES.py <benchmarks.freshness arguments>: the freshness benchmark with another
features file in place of the example view's (same source and topic name)."""
import sys
from pathlib import Path
import benchmarks.streaming as streaming
from benchmarks import freshness
streaming.EXAMPLE_FEATURES = Path(sys.argv.pop(1))
freshness.main(sys.argv[1:])
