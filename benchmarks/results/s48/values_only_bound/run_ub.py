"""Upper bound of publishing values-only rows between commits: with NOFULL=1 the commit encodes the deferred
(values-only) entities for RocksDB but publishes no full row for them (a reader past their values' span would
read an old state: not a correct flow, only a bound). Usage (repository root):
NOFULL=1 LSB=1 QUARTERS=1 APPLY_T=1 WAL=0 PYTHONPATH=. python3 run_ub.py benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py 4000000 1500"""
import os, runpy, sys
from streamfeat import pipeline as P
from streamfeat.online.packed import PackedRows
orig = P.FeaturePipeline._encode_dirty
def encode_dirty_nofull(self, runtimes):
    for runtime in runtimes:
        encoded, peek, op = runtime.encoded, runtime.cache.peek, runtime.op
        for key in runtime.cache.dirty_keys():
            if key not in encoded:
                state = peek(key)
                if state is not None:
                    encoded[key] = op.to_bytes(state)
    return [[] for _ in runtimes]
if os.environ.get("NOFULL"):
    P.FeaturePipeline._encode_dirty = encode_dirty_nofull
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
