"""CPU per record of what a worker does natively per batch: decode the JSON records (`decode_records` on buffers,
as the native Kafka reader hands them over), pick the view's columns, `apply_publish` — with the distinct count's
field decoded as a list of strs or as `HashedTexts` (stop 57), alternated in one process.
usage: decode_apply.py N B ROUNDS  (the first N events of the freshness stream, 4 partitions, B records each in
turn; every record arriving at the publishing clock, as in the freshness flow: s56 feature_cost.py's ARRIVE=now)"""
import itertools, os, sys, time
from array import array

import numpy as np
import orjson

sys.path.insert(0, os.environ.get("ROOT", "/work/main"))
from benchmarks.streaming import recent
from streamfeat import build_view
from streamfeat.examples.transactions import user_txn
from streamfeat.ingest import decode_records
from streamfeat.record_batch import PackedValues, Timestamps
from streamfeat.workload import W1, generate

N, B, ROUNDS = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
batch = generate(recent(W1, N), limit=N)
records = list(batch.records())
payloads = [orjson.dumps({k: r[k] for k in ("user_id", "merchant_id", "amount", "ts")}) for r in records]
part = (batch.user % 4).astype(np.int64)
idx_by_part = [np.nonzero(part == p)[0].tolist() for p in range(4)]
source = user_txn.source
order = []  # (partition, positions) in the order the loop takes them
pos = [0, 0, 0, 0]
while any(pos[p] < len(idx_by_part[p]) for p in range(4)):
    for p in range(4):
        ix = idx_by_part[p][pos[p]:pos[p] + B]
        if ix:
            order.append(ix)
            pos[p] += len(ix)
chunks = []
for ix in order:
    values = [payloads[i] for i in ix]
    ends = array("q", itertools.accumulate(len(v) for v in values))
    chunks.append((PackedValues(b"".join(values), ends), ix))
print(f"{N:,} records in {len(chunks):,} batches of up to {B:,}", flush=True)


def run(hashed: frozenset[str]) -> tuple[float, float]:
    op = build_view(user_txn)
    states = [dict() for _ in range(4)]
    larges = [set() for _ in range(4)]
    total = late = 0.0
    late_n = done = 0
    for k, (buffers, ix) in enumerate(chunks):
        p = k % 4
        at = int(time.time() * 1000)
        stamps = Timestamps(array("q", [at] * len(ix)))
        t0 = time.process_time()
        decoded, dead = decode_records(source, "user_id", buffers, stamps, topic="t", partition=p,
                                       offsets=list(range(len(ix))), hashed=hashed)
        done_ = op.apply_publish(states[p], decoded.keys, decoded.event_times, decoded.arrivals,
                                 op.columns_for(decoded.columns), at, at + 2000, larges[p], 16384)
        dt = time.process_time() - t0
        assert not dead and done_ is not None
        _, entities, (_, _, values_only, large_at) = done_
        held = {entities[i] for i, _ in values_only}
        larges[p].difference_update([e for e in entities if e not in held])
        larges[p].update(entities[i] for i in large_at)
        total += dt
        if done >= N * 0.8:
            late += dt
            late_n += len(ix)
        done += len(ix)
    return total / N * 1e6, late / max(1, late_n) * 1e6


for r in range(ROUNDS):
    for name, hashed in (("strs", frozenset()), ("hashed", frozenset({"merchant_id"}))) if r % 2 == 0 else (
            ("hashed", frozenset({"merchant_id"})), ("strs", frozenset())):
        overall, last = run(hashed)
        print(f"round {r + 1} {name:7s} µs/record overall {overall:.3f}, last fifth {last:.3f}", flush=True)
