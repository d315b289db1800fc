"""Per-touch cost of apply_publish on the heaviest 10000 entities of partition 0 after W1's first N events."""
import os, sys, time, dataclasses, collections
import numpy as np
sys.path.insert(0, os.environ.get("ROOT", "/work/main"))
from benchmarks.streaming import recent
from streamfeat.workload import W1, generate
from streamfeat import build_view
from streamfeat.examples.transactions import user_txn
N = int(sys.argv[1]); TOP = int(sys.argv[2]); SECS = float(sys.argv[3])
spec = recent(W1, N)
batch = generate(spec, limit=N)
op = build_view(user_txn)
keys_all = list(batch.user_ids()); merch = list(batch.merchant_ids())
et = batch.event_time.tolist(); ar = batch.arrival.tolist(); am = batch.amount.tolist()
ix0 = np.nonzero((batch.user % 4) == 0)[0].tolist()
st, lg = {}, set()
for s in range(0, len(ix0), 4500):
    il = ix0[s:s + 4500]
    keys = [keys_all[i] for i in il]
    cols = op.columns_for({"amount": [am[i] for i in il], "merchant_id": [merch[i] for i in il]})
    at = int(time.time() * 1000)
    _, ents, (packed, data, vo, large_at) = op.apply_publish(st, keys, [et[i] for i in il], [ar[i] for i in il], cols, at, at + 2000, lg, 16384)
    held = {ents[i] for i, _ in vo}
    lg.difference_update([e for e in ents if e not in held]); lg.update(ents[i] for i in large_at)
counts = collections.Counter(keys_all[i] for i in ix0)
heavy = [k for k, _ in counts.most_common(TOP)]
lastt, lasta = max(et), max(ar)
print("READY", os.getpid(), flush=True)
time.sleep(2)
t_end = time.time() + SECS; rep = 0; tt = 0.0; n = 0
while time.time() < t_end:
    cols = op.columns_for({"amount": [1.0] * len(heavy), "merchant_id": [f"m{rep % 50}x{j}" for j in range(len(heavy))]})
    at = int(time.time() * 1000) if os.environ.get("AT") != "frontier" else lastt + rep
    t0 = time.perf_counter()
    op.apply_publish(st, heavy, [lastt + rep] * len(heavy), [lasta + rep] * len(heavy), cols, at, at + 2000, lg, 16384)
    tt += time.perf_counter() - t0; n += len(heavy); rep += 1
print(f"top {TOP}: {tt / n * 1e6:.2f} us per touch over {rep} rounds")
