import runpy, sys, time, atexit
from streamfeat.state import store as st
orig = st.RocksDBStateStore.get_many
stats = []
def get_many(self, keys):
    t = time.thread_time(); v = orig(self, keys); dt = time.thread_time() - t
    stats.append((len(keys), sum(x is not None for x in v), sum(len(x) for x in v if x is not None), dt))
    return v
st.RocksDBStateStore.get_many = get_many
def report():
    n = len(stats); q = n // 4
    for i in range(4):
        part = stats[i*q:(i+1)*q]
        k = sum(p[0] for p in part); f = sum(p[1] for p in part); b = sum(p[2] for p in part); d = sum(p[3] for p in part)
        print(f"quarter {i+1}: {len(part)} reads, {k:,} keys, {f:,} found, {b/max(f,1):,.0f} B/found, {d:.2f} s cpu, {d/max(k,1)*1e6:.2f} us/key", flush=True)
atexit.register(report)
sys.argv = ["pipe_sim_fresh.py"] + sys.argv[1:]
runpy.run_path("benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py", run_name="__main__")
