"""publish_packed over batches of ~800 random touched states (cold), and the same batch again (hot)."""
import time, sys, os, random
from streamfeat.workload import W1, generate
from benchmarks.streaming import recent
from streamfeat.examples.transactions import user_txn
from streamfeat import build_view
E = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
b = generate(recent(W1, E), limit=E)
op = build_view(user_txn, native=True)
keys = b.user_ids(); times = b.event_time.tolist(); arr = (b.event_time + 1000).tolist()
cols = op.columns_for({"amount": b.amount.tolist(), "merchant_id": [f"m{m}" for m in b.merchant.tolist()]})
states = {}
for lo in range(0, E, 20000):
    op.apply_batch(states, keys[lo:lo+20000], times[lo:lo+20000], arr[lo:lo+20000], [None if c is None else c[lo:lo+20000] for c in cols])
names = [f.output_name for f in user_txn.features]
at = max(times) + 1000
random.seed(3)
ents = list(states)
# touched entities weighted by their events (as a batch touches them)
small = {k for k, v in states.items() if len(op.to_bytes(v)) < 16384}
batches = [[k for k in dict.fromkeys(random.sample(keys, 1500)) if k in small] for _ in range(300)]
cold = hot = 0.0; rows = 0; nbytes = 0
if os.environ.get("GO"): open("/tmp/pub_go", "w").write(str(os.getpid()))  # for perf record -p
for batch in batches * int(os.environ.get("REPS", 1)):
    st = [states[k] for k in batch]
    flags = [False] * len(st)
    t = time.perf_counter(); packed, data, _, _ = op.publish_packed(st, batch, at, None, flags, 16384); cold += time.perf_counter() - t
    t = time.perf_counter(); op.publish_packed(st, batch, at, None, flags, 16384); hot += time.perf_counter() - t
    rows += len(st); nbytes += len(packed)
print(f"{rows} rows, {nbytes/rows:.0f} B packed per row: cold {cold/rows*1e9:.0f} ns, hot {hot/rows*1e9:.0f} ns per row")
