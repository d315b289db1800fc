"""apply_publish cost per record of the example view with one feature left out at a time, over the last
part of the freshness stream (the 30-day windows filled): which feature's filled window costs most.
usage: feature_cost.py N B  (s54's live_cost.py loop: 4 partitions, B records each in turn, as of the wall clock)
env: ROOT (checkout, default /work/main); ONLY=TEXT (the full view and the variant leaving out the feature
named with TEXT); HLL_ONLY=1 (a view of the distinct count alone); AT=frontier (read as of the batch's newest
arrival); ARRIVE=now (every record arrives at the publishing clock, as in the freshness flow, whose records
arrive when sent: W1's arrivals otherwise, a day or two before the clock); APPLY_ONLY=1 (apply_batch:
the events applied, nothing published); FEATURES=NAME,... (a view of those features alone)"""
import os, sys, time, dataclasses
import numpy as np
sys.path.insert(0, os.environ.get("ROOT", "/work/main"))
from benchmarks.streaming import recent
from streamfeat.workload import W1, generate
from streamfeat import build_view
from streamfeat.examples.transactions import user_txn

N = int(sys.argv[1]); B = int(sys.argv[2])
batch = generate(recent(W1, N), limit=N)
keys_all = list(batch.user_ids()); merch = list(batch.merchant_ids())
et = batch.event_time.tolist(); ar = batch.arrival.tolist(); am = batch.amount.tolist()
part = (batch.user % 4).astype(np.int64)
idx_by_part = [np.nonzero(part == p)[0] for p in range(4)]
variants = [("all", list(user_txn.features))]
for i, f in enumerate(user_txn.features):
    variants.append((f"without {f.output_name}", [g for j, g in enumerate(user_txn.features) if j != i]))
variants.append(("all (again, last)", list(user_txn.features)))  # the order's effect
if os.environ.get("HLL_ONLY"):
    variants = [("hll only", [f for f in user_txn.features if type(f).__name__ == "ApproxDistinct"])]
if os.environ.get("FEATURES"):  # one view of these features (output names, comma-separated)
    names = os.environ["FEATURES"].split(",")
    variants = [(os.environ["FEATURES"], [f for f in user_txn.features if f.output_name in names])]
only = os.environ.get("ONLY")
if only:
    variants = [v for v in variants if v[0] == "all" or only in v[0]]
for name, feats in variants:
    view = dataclasses.replace(user_txn, features=feats)
    op = build_view(view)
    pos = [0, 0, 0, 0]; states = [dict() for _ in range(4)]; larges = [set() for _ in range(4)]
    done = 0; late_t = 0.0; late_n = 0; all_t = 0.0
    late_from = int(N * 0.8)
    while any(pos[p] < len(idx_by_part[p]) for p in range(4)):
        for p in range(4):
            ix = idx_by_part[p][pos[p]:pos[p] + B]
            if not len(ix):
                continue
            pos[p] += len(ix)
            il = ix.tolist()
            keys = [keys_all[i] for i in il]
            cols = op.columns_for({"amount": [am[i] for i in il], "merchant_id": [merch[i] for i in il]})
            ets = [et[i] for i in il]; ars = [ar[i] for i in il]
            at = max(ars) if os.environ.get("AT") == "frontier" else int(time.time() * 1000)
            if os.environ.get("ARRIVE") == "now":  # as the freshness flow sees them: arriving when sent, now
                ars = [at] * len(il)
            t0 = time.process_time()
            if os.environ.get("APPLY_ONLY"):  # the events applied, nothing published
                op.apply_batch(states[p], keys, ets, ars, cols)
                dt = time.process_time() - t0
            else:
                done_ = op.apply_publish(states[p], keys, ets, ars, cols, at, at + 2000, larges[p], 16384)
                dt = time.process_time() - t0
                _, entities, (packed, data, values_only, large_at) = done_
                held = {entities[i] for i, _ in values_only}
                larges[p].difference_update([e for e in entities if e not in held]); larges[p].update(entities[i] for i in large_at)
            all_t += dt
            if done >= late_from:
                late_t += dt; late_n += len(il)
            done += len(il)
    print(f"{name:40s} µs/record overall {all_t / N * 1e6:.3f}, last fifth {late_t / max(1, late_n) * 1e6:.3f}", flush=True)
