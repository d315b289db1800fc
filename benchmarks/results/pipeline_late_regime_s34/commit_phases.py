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
wrap(P.FeaturePipeline, "commit", "commit(total)")
wrap(P.FeaturePipeline, "_encode_dirty", "encode_dirty")
wrap(P.FeaturePipeline, "_commit", "_commit")
wrap(C.EntityStateCache, "pending_writes", "pending_writes")
wrap(S.RocksDBStateStore, "commit", "store.commit")
wrap(S.RocksDBStateStore, "_write", "store._write")
wrap(C.EntityStateCache, "mark_flushed", "mark_flushed")
wrap(C.EntityStateCache, "_evict", "evict")
wrap(P.FeaturePipeline, "_process", "_process(total)")
wrap(C.EntityStateCache, "checkout", "checkout")
wrap(C.EntityStateCache, "checkin", "checkin")
wrap(P.FeaturePipeline, "_publish_rows", "publish_rows")
sys.argv = ["x"] + sys.argv[1:]
runpy.run_path("benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py", run_name="__main__")
for k in sorted(T, key=lambda k: -T[k]): print(f"{k:20s} {T[k]:8.2f}s  n={N[k]}  {T[k]/N[k]*1000:8.2f} ms each")
