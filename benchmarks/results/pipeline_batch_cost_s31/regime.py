"""Operator cost (apply + publish, batches of 2,000 on the top user's partition and all) per 1M events
in the freshness benchmark's regime: arrival = planned send time at 134,000 events/s, event times = W1's
moved to end a day or two before the run."""
import time
import numpy as np
from benchmarks.streaming import recent
from streamfeat.workload import W1, generate
from streamfeat.build import build_view
from streamfeat.examples.transactions import user_txn
EVENTS = 4_000_000
b = generate(recent(W1, EVENTS), limit=EVENTS)
keys = b.user_ids(); et = b.event_time.tolist()
now0 = int(time.time() * 1000)
planned = (now0 + np.arange(EVENTS) * (1000.0 / 134000)).astype(np.int64).tolist()
amount = b.amount.tolist(); merch = [f"m{m}" for m in b.merchant.tolist()]
op = build_view(user_txn)
states = {}; large = set()
seg = {}
for s in range(0, EVENTS, 2000):
    sl = slice(s, s + 2000)
    k = keys[sl]
    t = time.perf_counter()
    op.apply_batch(states, k, et[sl], planned[sl], op.columns_for({"amount": amount[sl], "merchant_id": merch[sl]}))
    touched = list(dict.fromkeys(k))
    at = planned[s + len(k) - 1]
    packed, data, vo, large_at = op.publish_packed([states[x] for x in touched], touched, at, at + 2000, [x in large for x in touched], 16384)
    values_only = {touched[i] for i, _ in vo}
    large.difference_update(set(touched) - values_only); large.update(touched[i] for i in large_at)
    seg[s // 1_000_000] = seg.get(s // 1_000_000, 0.0) + time.perf_counter() - t
for i in sorted(seg):
    print(f"events {i}M-{i+1}M (production {i*7.5:.1f}-{(i+1)*7.5:.1f} s): {seg[i]:.2f} s CPU in apply+publish = {seg[i]:.2f} µs/event")
