# The operators alone late in the freshness benchmark's regime: 4M W1 events with recent event times,
# arriving at 134,000 events/s, applied and published in batches of 2,000; CPU per quarter of the run.
# Argument: a feature-name fragment ("Distinct": the 30-day ApproxDistinct) or "all" (the example view).
# With LATE_SLEEP=S it writes its pid to /tmp/late_go at 3M events and sleeps S s (to attach `perf`).
import time, dataclasses, os, sys
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
which = sys.argv[1] if len(sys.argv) > 1 else "Distinct"
feats = [x for x in user_txn.features if which in str(x)] if which != "all" else list(user_txn.features)
op = build_view(dataclasses.replace(user_txn, features=feats)); states = {}; large = set()
ta = [0.0]*4; tp = [0.0]*4
for s in range(0, EVENTS, 2000):
    if s == 3_000_000 and os.environ.get("LATE_SLEEP"):
        open("/tmp/late_go", "w").write(str(os.getpid()))
        time.sleep(float(os.environ["LATE_SLEEP"]))
    sl = slice(s, s + 2000); k = keys[sl]; q = s // 1_000_000
    t = time.thread_time()
    op.apply_batch(states, k, et[sl], planned[sl], op.columns_for({"amount": amount[sl], "merchant_id": merch[sl]}))
    t1 = time.thread_time()
    touched = list(dict.fromkeys(k)); at = planned[s + len(k) - 1]
    packed, data, vo, large_at = op.publish_packed([states[x] for x in touched], touched, at, at + 2000, [x in large for x in touched], 16384)
    values_only = {touched[i] for i, _ in vo}
    large.difference_update(set(touched) - values_only); large.update(touched[i] for i in large_at)
    t2 = time.thread_time()
    ta[q] += t1 - t; tp[q] += t2 - t1
print(which, "apply", [round(x, 2) for x in ta], "publish", [round(x, 2) for x in tp])
