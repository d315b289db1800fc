"""Sim wrapper: RocksDB read-path options. BC=MiB block cache, RC=MiB row cache, COMPNONE=1; prints get_many CPU."""
import runpy, sys, time, atexit, os
import rocksdict
from streamfeat.state import store as st
_BBO, _Opt = rocksdict.BlockBasedOptions, rocksdict.Options
def BBO():
    t = _BBO()
    if os.environ.get("BC"):
        t.set_block_cache(rocksdict.Cache(int(os.environ["BC"]) << 20))
    return t
def Opt(*a, **k):
    o = _Opt(*a, **k)
    if os.environ.get("RC"):
        o.set_row_cache(rocksdict.Cache(int(os.environ["RC"]) << 20))
    if os.environ.get("COMPNONE"):
        o.set_compression_type(rocksdict.DBCompressionType.none())
    return o
rocksdict.BlockBasedOptions = BBO
rocksdict.Options = Opt
orig = st.RocksDBStateStore.get_many
stats = [0, 0.0]
def get_many(self, keys):
    t = time.thread_time(); v = orig(self, keys); stats[1] += time.thread_time() - t; stats[0] += len(keys)
    return v
st.RocksDBStateStore.get_many = get_many
atexit.register(lambda: print(f"get_many: {stats[0]:,} keys, {stats[1]:.2f} s cpu", flush=True))
sys.argv = ["pipe_sim_fresh.py"] + sys.argv[1:]
runpy.run_path("benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py", run_name="__main__")
