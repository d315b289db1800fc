import runpy, sys, collections, numpy as np
from streamfeat import pipeline as P
S = collections.Counter(); sizes = []
orig = P.FeaturePipeline._packed_rows
def pr(self, runtime, entities, published):
    packed, data, vo, la = published
    S["rows"] += len(entities); S["packed_bytes"] += len(packed); S["values_only"] += len(vo)
    S["data_bytes"] += sum(len(d) for d in data if d is not None)
    if S["calls"] % 10 == 0: sizes.extend(len(d) for d in data if d is not None)
    S["calls"] += 1
    return orig(self, runtime, entities, published)
P.FeaturePipeline._packed_rows = pr
sys.argv = ["x"] + sys.argv[1:]
runpy.run_path("benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py", run_name="__main__")
print(dict(S)); a = np.array(sizes); print("state bytes p50/p90/p99/max/mean", np.percentile(a, [50, 90, 99]).round(), a.max(), a.mean().round())
print("per row packed", S["packed_bytes"] / S["rows"], "data", S["data_bytes"] / S["rows"])
