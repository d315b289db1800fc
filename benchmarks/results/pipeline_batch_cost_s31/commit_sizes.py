import sys, time, runpy
from streamfeat.state import store as st
from streamfeat import pipeline as pl
log = []
orig = st.RocksDBStateStore.commit
def commit(self, puts, deletes, offsets):
    t = time.perf_counter(); orig(self, puts, deletes, offsets)
    if offsets:
        big = sum(len(v) for v in puts.values() if len(v) >= 16384)
        log.append((len(puts), sum(len(v) for v in puts.values()), big, time.perf_counter() - t))
st.RocksDBStateStore.commit = commit
oc = pl.FeaturePipeline.commit
clog = []
def pcommit(self, *a, **k):
    t = time.perf_counter(); oc(self, *a, **k); clog.append(time.perf_counter() - t)
pl.FeaturePipeline.commit = pcommit
sys.argv = ["x", "1000000", "2000"]
runpy.run_path(str(__import__("pathlib").Path(__file__).with_name("pipe_sim.py")), run_name="__main__")
for (n, b, big, d), c in list(zip(log, clog))[4:16]:
    print(f"puts {n:6d} bytes {b/1e6:6.2f} MB (>=16K: {big/1e6:5.2f} MB) state-store commit {d*1000:5.1f} ms; pipeline commit {c*1000:5.1f} ms")
