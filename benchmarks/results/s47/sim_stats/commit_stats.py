import runpy, sys, time
from streamfeat.state import store as st
orig = st.RocksDBStateStore.commit
stats = []
def commit(self, puts, deletes, offsets):
    t = time.perf_counter(); orig(self, puts, deletes, offsets); dt = time.perf_counter() - t
    stats.append((len(puts), sum(map(len, puts.values())), dt))
st.RocksDBStateStore.commit = commit
import atexit
def report():
    n = len(stats); q = n // 4
    for i in range(4):
        part = stats[i*q:(i+1)*q]
        k = sum(p[0] for p in part)/len(part); b = sum(p[1] for p in part)/len(part); d = sum(p[2] for p in part)/len(part)
        print(f"quarter {i+1}: {len(part)} commits, {k:,.0f} keys, {b/1e6:.2f} MB, {b/max(k,1):,.0f} B/key, {d*1e3:.1f} ms/commit, {d/max(k,1)*1e6:.2f} us/key", flush=True)
atexit.register(report)
sys.argv = ["pipe_sim_fresh.py"] + sys.argv[1:]
runpy.run_path("benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py", run_name="__main__")
