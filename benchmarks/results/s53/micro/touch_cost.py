"""After building states over W1's first N events (recent), the cost of touching each of the users ranked
LO..HI in activity (partition 0) with one event: apply_batch alone, then apply_publish, then publish_packed
alone, per entity (best of REPS). usage: touch_cost.py N LO HI REPS"""
import os, sys, time, collections
N, LO, HI, REPS = map(int, sys.argv[1:5])
sys.argv = [sys.argv[0], str(N), "4500", "0", "16384"]
src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "live_cost.py")).read().split("# Per-entity publish cost")[0]
exec(compile(src, "live_cost.py", "exec"))
st = states[0]
counts = collections.Counter(keys_all[i] for i in idx_by_part[0].tolist())
ents = [k for k, _ in counts.most_common(HI)][LO:HI]
lastt, lasta = max(et), max(ar)
sizes = sorted(len(op.to_bytes(st[k])) for k in ents)
print(f"ranks {LO}..{HI}: state bytes median {sizes[len(sizes)//2]}, p90 {sizes[len(sizes)*9//10]}; events in prefix median {sorted(counts[k] for k in ents)[len(ents)//2]}")
names = list(op.names)
def run(kind, rep):
    cols = op.columns_for({"amount": [1.0] * len(ents), "merchant_id": [f"m{rep}x{j}" for j in range(len(ents))]})
    ets = [lastt + rep] * len(ents); ars = [lasta + rep] * len(ents)
    at = int(time.time() * 1000)
    t0 = clock()
    if kind == "apply_batch":
        op.apply_batch(st, ents, ets, ars, cols)
    elif kind == "apply_publish":
        op.apply_publish(st, ents, ets, ars, cols, at, at + 2000, larges[0], 16384)
    elif kind == "publish_packed":
        op._core.publish_packed([st[k] for k in ents], ents, names, at, at + 2000, [False] * len(ents), 16384)
    elif kind == "to_bytes":
        tb = op.to_bytes
        for k in ents: tb(st[k])
    return (clock() - t0) / len(ents) * 1e6
rep = 1
for kind in ("apply_batch", "apply_publish", "publish_packed", "to_bytes"):
    best = []
    for _ in range(REPS):
        rep += 1
        best.append(run(kind, rep))
    print(f"{kind:15s} {min(best):6.2f} us per entity (runs: {' '.join(f'{b:.2f}' for b in best)})")
