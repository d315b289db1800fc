"""One digest over the native to_bytes of states of 0-2,000 events (the example view): equal digests, equal bytes.
Usage (repository root): PYTHONPATH=. python3 encode_same.py"""
import sys, time, hashlib
from streamfeat.build import build_view
from streamfeat.examples.transactions import user_txn
op = build_view(user_txn)
now = int(time.time() * 1000) - 86_400_000
h = hashlib.sha256()
for N in (0, 1, 2, 7, 50, 333, 2000):
    states = {}
    keys = [f"u{i % 3}" for i in range(N)]
    times = [1_700_000_000_000 + ((i * 7919) % (N + 1)) * 60_000 for i in range(N)]
    cols = {"user_id": keys, "merchant_id": [f"m{i % 50}" for i in range(N)], "amount": [float(i % 97) / 3 for i in range(N)], "ts": times}
    op.apply_batch(states, keys, times, [t + 1000 for t in times], op.columns_for(cols))
    for k in sorted(states):
        h.update(op.to_bytes(states[k]))
print(h.hexdigest())
