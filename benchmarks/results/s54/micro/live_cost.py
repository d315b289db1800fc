"""Per-record cost of the example view's apply_publish along the freshness benchmark's stream:
W1's first N events, moved forward to end a day or two before now ("recent"), in batches of B
records of one of 4 partitions (users hashed), published as of the wall clock. Prints µs per record
per tenth of the stream, and the split (apply_publish only; no cache, no stores).
usage: live_cost.py N B [OLDER_DAYS [THRESHOLD]]; env AT=frontier reads as of the batch's newest arrival (a live stream)
instead of the wall clock"""
import os, sys, time, dataclasses
import numpy as np
sys.path.insert(0, os.environ.get("ROOT", "."))
from benchmarks.streaming import recent
from streamfeat.workload import W1, generate, DAY_MS
from streamfeat import build_view
from streamfeat.examples.transactions import user_txn

N = int(sys.argv[1]); B = int(sys.argv[2]); older = int(sys.argv[3]) if len(sys.argv) > 3 else 0
spec = recent(W1, N)
spec = dataclasses.replace(spec, start_ms=spec.start_ms - older * DAY_MS)
batch = generate(spec, limit=N)
op = build_view(user_txn)
users = batch.user
keys_all = list(batch.user_ids())
merch = list(batch.merchant_ids())
et = batch.event_time.tolist(); ar = batch.arrival.tolist(); am = batch.amount.tolist()
part = (users % 4).astype(np.int64)
# emulate 4 partitions read in turn, B records each
idx_by_part = [np.nonzero(part == p)[0] for p in range(4)]
pos = [0, 0, 0, 0]
states = [dict() for _ in range(4)]
larges = [set() for _ in range(4)]
THRESH = int(sys.argv[4]) if len(sys.argv) > 4 else 16384
clock = time.perf_counter
# stop 54: PARTS (env) parts of the stream instead of tenths
done = 0; tenth = N // int(os.environ.get("PARTS", "10")); t_acc = 0.0; n_acc = 0; out = []
now_offset = int(time.time() * 1000) - int(batch.arrival[-1])  # publish "now" as if the stream arrives in real time ending now
big = (1 << 62)
while any(pos[p] < len(idx_by_part[p]) for p in range(4)):
    for p in range(4):
        ix = idx_by_part[p][pos[p]:pos[p] + B]
        if not len(ix):
            continue
        pos[p] += len(ix)
        il = ix.tolist()
        keys = [keys_all[i] for i in il]
        cols_src = {"amount": [am[i] for i in il], "merchant_id": [merch[i] for i in il]}
        cols = op.columns_for(cols_src)
        ets = [et[i] for i in il]; ars = [ar[i] for i in il]
        # as of the wall clock, as the flow publishes (the stream ends a day or two before it); AT=frontier: as of
        # the batch's newest arrival, as a live stream's flow reads (its event times are about now)
        at = max(ars) if os.environ.get("AT") == "frontier" else int(time.time() * 1000)
        st = states[p]
        t0 = clock()
        done_ = op.apply_publish(st, keys, ets, ars, cols, at, at + 2000, larges[p], THRESH)
        t_acc += clock() - t0; n_acc += len(il)
        _, entities, (packed, data, values_only, large_at) = done_
        held = {entities[i] for i, _ in values_only}
        lg = larges[p]
        lg.difference_update([e for e in entities if e not in held])
        lg.update(entities[i] for i in large_at)
        done += len(il)
        if n_acc >= tenth:
            out.append(t_acc / n_acc * 1e6); t_acc = 0; n_acc = 0
print(f"N={N} B={B} older={older} threshold={THRESH} at={os.environ.get('AT', 'wall clock')}: us/record per tenth:", " ".join(f"{x:.2f}" for x in out))

# Per-entity publish cost of the heaviest users: one event each, as of now, after the whole prefix.
import collections
for p in range(1):
    st = states[p]
    counts = collections.Counter(keys_all[i] for i in idx_by_part[p].tolist())
    for top in (10, 100, 1000, 10000):
        heavy = [k for k, _ in counts.most_common(top)]
        lastt = max(et) ; lasta = max(ar)
        ts = []
        for rep in range(5):
            keys = heavy
            cols = op.columns_for({"amount": [1.0] * len(keys), "merchant_id": [f"m{rep}x{j}" for j in range(len(keys))]})
            # AT=frontier: read as of the entity's own newest event (a live stream, event time ~ now);
            # default: as of the wall clock, as the benchmark's flow does (its stream ends a day or two before)
            at = lastt + rep if os.environ.get("AT") == "frontier" else int(time.time() * 1000)
            t0 = clock()
            op.apply_publish(st, keys, [lastt + rep] * len(keys), [lasta + rep] * len(keys), cols, at, at + 2000, larges[p], THRESH)
            ts.append((clock() - t0) / len(keys) * 1e6)
        sizes = sorted(len(op.to_bytes(st[k])) for k in heavy)
        print(f"[at={os.environ.get('AT', 'wall clock')}] top {top:5d} of partition {p}: apply_publish {min(ts):.1f} us per entity (1 event each); state bytes median {sizes[len(sizes)//2]}, max {sizes[-1]}; large {sum(k in larges[p] for k in heavy)}")
