import sys, os, tempfile, contextlib, gc, time
from pathlib import Path
import benchmarks.streaming as s
if os.environ.get("LIGHT"):
    s.EXAMPLE_FEATURES = Path(__file__).with_name("light_features.py")
@contextlib.contextmanager
def keep(prefix=""):
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    yield d
tempfile.TemporaryDirectory = keep
_start = {}
T0 = time.monotonic()
def cb(phase, info):
    if phase == "start": _start["t"] = time.perf_counter()
    else:
        d = (time.perf_counter() - _start["t"]) * 1000
        if d > 20: print(f"GC gen{info['generation']} {d:.0f} ms at {time.monotonic()-T0:.1f}s collected {info['collected']}", flush=True)
gc.callbacks.append(cb)
from benchmarks import freshness
freshness.main(sys.argv[1:])
