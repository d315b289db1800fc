# hll_sizes.py: the 30-day distinct count's registers per published state, by quarter (every 10th batch)
import time, dataclasses, struct
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
f = [x for x in user_txn.features if "Distinct" in str(x)][0]
op = build_view(dataclasses.replace(user_txn, features=[f])); states = {}
regs = {q: [] for q in range(4)}; pts = {q: [] for q in range(4)}
for s in range(0, EVENTS, 2000):
    sl = slice(s, s + 2000); k = keys[sl]; q = s // 1_000_000
    op.apply_batch(states, k, et[sl], planned[sl], op.columns_for({"amount": amount[sl], "merchant_id": merch[sl]}))
    touched = list(dict.fromkeys(k)); at = planned[s + len(k) - 1]
    packed, data, vo, large_at = op.publish_packed([states[x] for x in touched], touched, at, at + 2000, [False]*len(touched), 1 << 30)
    if s % 20000 == 0:
        for d in data:
            # header: u8 version, 3 x i64, u32 count, then u32 blob len + HLL: u8 ver, u8 prec, i64 newest, u32 n
            n = struct.unpack(">I", d[48:52])[0]; main = struct.unpack(">I", d[34:38])[0]
            regs[q].append(n); pts[q].append((main - 14 - 3 * n) / 9 if n else 0)
for q in range(4):
    r = np.array(regs[q]); p = np.array(pts[q])
    print(f"quarter {q}: states {len(r)}, registers p50 {np.percentile(r,50):.0f} p90 {np.percentile(r,90):.0f} p99 {np.percentile(r,99):.0f} max {r.max()}, dense(>=64) {np.mean(r>=64)*100:.1f}%, share of registers in dense states {r[r>=64].sum()/max(1,r.sum())*100:.1f}%, pairs/register {p.sum()/max(1,r.sum()):.2f}")
