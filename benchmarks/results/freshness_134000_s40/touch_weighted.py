"""Per-feature bytes of the sim's final states, weighted by each entity's events in the first 4M W1 events
(a hot entity is encoded once per batch it is in)."""
import rocksdict, glob, collections
import numpy as np
from operators.codec import decode_varints, read_length
from streamfeat.examples.transactions import user_txn
from streamfeat.workload import W1, generate
from benchmarks.streaming import recent
b = generate(recent(W1, 4_000_000), limit=4_000_000)
counts = collections.Counter(b.user_ids())
from streamfeat.state import keys as layout
PREFIX = layout.view_prefix(user_txn.fingerprint())
names = [f.output_name for f in user_txn.features]
tot = np.zeros(len(names)); weight_total = 0; big = np.zeros(len(names)); bigw = 0
for d in sorted(glob.glob("/tmp/streamfeat-pipe-sim/t-*")):
    db = rocksdict.Rdict(d, options=rocksdict.Options(raw_mode=True), access_type=rocksdict.AccessType.read_only())
    for k, v in db.items():
        if not k.startswith(b"S"): continue
        if not k.startswith(PREFIX): continue
        w = counts.get(k[len(PREFIX):].decode(), 0)
        _, pos = decode_varints(v, 1, 4)
        sizes = []
        for i in range(len(names)):
            n, start = read_length(v, pos, "x"); pos = start + n; sizes.append(n)
        tot += w * np.array(sizes); weight_total += w
        if len(v) >= 2048 and len(v) < 16384: big += w * np.array(sizes); bigw += w
    db.close()
print(f"touch-weighted mean state bytes by feature (weight = events of the entity; total weight {weight_total:,}):")
for n, t, bg in zip(names, tot, big):
    print(f"  {n:35s} all {t/weight_total:8.1f} B   states of 2-16 KiB {bg/max(bigw,1):8.1f} B")
print(f"  sum all {tot.sum()/weight_total:.1f} B; 2-16 KiB {big.sum()/max(bigw,1):.1f} B (weight {bigw:,})")
