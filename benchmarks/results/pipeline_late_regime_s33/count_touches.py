import runpy, sys
from operators.native import NativeViewOperator
from streamfeat.state.cache import EntityStateCache
c = {"touch": 0, "dirty": 0, "commits": 0}
pp = NativeViewOperator.publish_packed
def publish_packed(self, states, entities, *a):
    c["touch"] += len(entities); return pp(self, states, entities, *a)
NativeViewOperator.publish_packed = publish_packed
pw = EntityStateCache.pending_writes
def pending_writes(self, encoded=None):
    puts, deletes = pw(self, encoded); c["dirty"] += len(puts); c["commits"] += 1; return puts, deletes
EntityStateCache.pending_writes = pending_writes
sys.argv = ["sim", "4000000", "2000"]
runpy.run_path("benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py", run_name="__main__")
print(c, "touches per dirty entity per commit:", round(c["touch"] / c["dirty"], 2))
