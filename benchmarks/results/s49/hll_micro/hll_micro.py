"""Cold-state costs of the native sliding distinct count (the example view's 30-day ApproxDistinct alone):
STATES entities of EVENTS events each over 30 days (memory well past the caches), then per entity, round robin:
to_bytes, one batch of one event per entity (apply_batch), from_bytes. Prints ns per entity for each, best of ROUNDS.
Usage: PYTHONPATH=. python3 hll_micro.py [STATES] [EVENTS] [ROUNDS]"""
import random, sys, time
from streamfeat import ApproxDistinct, Sliding
from streamfeat.build import build_feature
from operators import native

DAY = 86_400_000
STATES = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
EVENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 1500
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
feature = build_feature(ApproxDistinct("m", window=Sliding("30d")), str)
op = native.NativeViewOperator([feature], allowed_lateness=300_000, max_ahead=DAY, field_types=[str])
rng = random.Random(49)
t0 = 1_700_000_000_000
keys = [f"u{i}" for i in range(STATES)]
states = {}
step = 30 * DAY // EVENTS
for j in range(EVENTS):  # interleaved, as a stream fills them (allocations spread over the heap)
    t = t0 + j * step
    batch = keys
    op.apply_batch(states, batch, [t] * STATES, [t] * STATES, [[f"m{rng.randrange(50_000)}" for _ in batch]])
size = sum(len(op.to_bytes(s)) for s in states.values())
print(f"{STATES} states of {EVENTS} events, {size / STATES:,.0f} bytes each encoded")
order = keys[:]
rng.shuffle(order)
best = {"to_bytes": 1e9, "apply": 1e9, "from_bytes": 1e9}
t = t0 + EVENTS * step
for _ in range(ROUNDS):
    s = time.perf_counter()
    blobs = [op.to_bytes(states[k]) for k in order]
    best["to_bytes"] = min(best["to_bytes"], (time.perf_counter() - s) / STATES)
    t += step
    values = [f"m{rng.randrange(50_000)}" for _ in order]
    s = time.perf_counter()
    op.apply_batch(states, order, [t] * STATES, [t] * STATES, [values])
    best["apply"] = min(best["apply"], (time.perf_counter() - s) / STATES)
    s = time.perf_counter()
    decoded = [op.from_bytes(b) for b in blobs]
    best["from_bytes"] = min(best["from_bytes"], (time.perf_counter() - s) / STATES)
    del decoded, blobs
print("  ".join(f"{k} {v * 1e9:,.0f} ns" for k, v in best.items()))
