"""The native core's to_bytes and from_bytes per state on the states of the first N W1 events (recent event
times), applied in batches of 20,000; best of 5. Run from the repository root: PYTHONPATH=. python3 codec_micro.py N"""
import time, sys
import numpy as np
from streamfeat.workload import W1, generate
from benchmarks.streaming import recent
from streamfeat.examples.transactions import user_txn
from streamfeat import build_view
E = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
b = generate(recent(W1, E), limit=E)
op = build_view(user_txn, native=True)
keys = b.user_ids(); times = b.event_time.tolist(); arr = (b.event_time + 1000).tolist()
cols = op.columns_for({"amount": b.amount.tolist(), "merchant_id": b.merchant_ids() if hasattr(b, "merchant_ids") else [f"m{m}" for m in b.merchant.tolist()]})
states = {}
for lo in range(0, E, 20000):
    op.apply_batch(states, keys[lo:lo+20000], times[lo:lo+20000], arr[lo:lo+20000], [None if c is None else c[lo:lo+20000] for c in cols])
vals = list(states.values())
best_e = best_d = 1e9
for _ in range(5):
    t = time.perf_counter(); data = [op.to_bytes(s) for s in vals]; best_e = min(best_e, time.perf_counter() - t)
    t = time.perf_counter(); back = [op.from_bytes(d) for d in data]; best_d = min(best_d, time.perf_counter() - t)
n = len(vals); tot = sum(map(len, data))
print(f"{n} states, {tot/n:.0f} B mean: to_bytes {best_e/n*1e9:.0f} ns, from_bytes {best_d/n*1e9:.0f} ns per state")
