# time the phases of commits inside pipe_sim_fresh (monkeypatched wrappers)
import time, runpy, sys, collections
from streamfeat import pipeline as P
from streamfeat.state import cache as C, store as S
T = collections.defaultdict(float); N = collections.Counter()
def wrap(cls, name, label):
    f = getattr(cls, name)
    def w(*a, **k):
        t = time.perf_counter()
        try: return f(*a, **k)
        finally: T[label] += time.perf_counter() - t; N[label] += 1
    setattr(cls, name, w)
for owner, name, label in [
    (P.FeaturePipeline, "commit", "commit(total)"), (P.FeaturePipeline, "_encode_dirty", "encode_dirty"),
    (P.FeaturePipeline, "_commit", "_commit"), (C.EntityStateCache, "pending_writes", "pending_writes"),
    (S.RocksDBStateStore, "commit", "store.commit"), (S.RocksDBStateStore, "_write", "store._write"),
    (C.EntityStateCache, "mark_flushed", "mark_flushed"), (C.EntityStateCache, "_evict", "evict"),
    (P.FeaturePipeline, "_process", "_process(total)"), (C.EntityStateCache, "checkout", "checkout"),
    (C.EntityStateCache, "checkin", "checkin"), (P.FeaturePipeline, "_publish_rows", "publish_rows"),
]:
    wrap(owner, name, label)
sys.argv = ["x"] + sys.argv[1:]
runpy.run_path("benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py", run_name="__main__")
for k in sorted(T, key=lambda k: -T[k]): print(f"{k:20s} {T[k]:8.2f}s  n={N[k]}  {T[k]/N[k]*1000:8.2f} ms each")
