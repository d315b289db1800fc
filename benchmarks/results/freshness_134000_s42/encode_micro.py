"""to_bytes of entity states holding N events in their exact windows (the example view), per call."""
import sys, time
from streamfeat.build import build_view
from streamfeat.examples.transactions import user_txn
op = build_view(user_txn)
N = int(sys.argv[1])
now = int(time.time() * 1000) - 86_400_000
states = {}
keys = ["u1"] * N
times = [now - (N - i) * 60_000 for i in range(N)]
cols = {"user_id": keys, "merchant_id": [f"m{i % 50}" for i in range(N)], "amount": [float(i % 97) for i in range(N)], "ts": times}
op.apply_batch(states, keys, times, times, op.columns_for(cols))
st = states["u1"]
data = op.to_bytes(st)
reps = max(1, 2_000_000 // max(1, len(data)))
t = time.perf_counter()
for _ in range(reps):
    op.to_bytes(st)
el = time.perf_counter() - t
print(f"{N} events: state {len(data)} B, to_bytes {el / reps * 1e6:.2f} us")
