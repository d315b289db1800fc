"""Per-feature blob sizes of the states left by pipe_sim_fresh.py (layout 3)."""
import rocksdict, glob, numpy as np
from operators.codec import decode_varints, read_length
from streamfeat.examples.transactions import user_txn
names = [f.output_name for f in user_txn.features]
per = [[] for _ in names]; totals = []
for d in sorted(glob.glob("/tmp/streamfeat-pipe-sim/t-*")):
    db = rocksdict.Rdict(d, options=rocksdict.Options(raw_mode=True), access_type=rocksdict.AccessType.read_only())
    for k, v in db.items():
        if not k.startswith(b"S"): continue
        assert v[0] == 3
        _, pos = decode_varints(v, 1, 4)
        totals.append(len(v))
        for i in range(len(names)):
            n, start = read_length(v, pos, "x"); pos = start + n
            per[i].append(n)
    db.close()
t = np.array(totals); w = t / t.sum()
print(f"{len(t)} states mean {t.mean():.1f} p50 {np.median(t):.0f} p99 {np.percentile(t,99):.0f}")
for name, sizes in zip(names, per):
    s = np.array(sizes)
    print(f"{name:35s} mean {s.mean():7.1f}  p50 {np.median(s):5.0f}  p99 {np.percentile(s,99):6.0f}  share {s.sum()/t.sum():.1%}")
