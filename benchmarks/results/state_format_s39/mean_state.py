"""Mean, median and p99 size of the entity states left in the pipeline simulation's RocksDB stores
(/tmp/streamfeat-pipe-sim/t-*) by ../pipeline_late_regime_s32/pipe_sim_fresh.py."""
import rocksdict, glob, numpy as np
sizes=[]
for d in sorted(glob.glob("/tmp/streamfeat-pipe-sim/t-*")):
    db = rocksdict.Rdict(d, options=rocksdict.Options(raw_mode=True), access_type=rocksdict.AccessType.read_only())
    sizes += [len(v) for k, v in db.items() if k.startswith(b"S")]
    db.close()
s=np.array(sizes); print(f"{len(s)} states: mean {s.mean():.1f} B, p50 {np.median(s):.0f}, p99 {np.percentile(s,99):.0f}, total {s.sum()/1e6:.1f} MB")
