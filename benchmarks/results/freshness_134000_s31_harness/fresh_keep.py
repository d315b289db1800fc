import sys, os, tempfile, contextlib
from pathlib import Path
import benchmarks.streaming as s
if os.environ.get("LIGHT"):
    s.EXAMPLE_FEATURES = Path(__file__).with_name("light_features.py")
@contextlib.contextmanager
def keep(prefix=""):
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    print("work dir", d, flush=True)
    yield d
tempfile.TemporaryDirectory = keep
from benchmarks import freshness
freshness.main(sys.argv[1:])
