"""Reads of a large 30-day sliding distinct count 0, 1.5 and 10 days after its newest event
(the freshness benchmark reads 1-2 days after; a feature server reads a quiet entity days after) — the
state's registers whose heads left the window by then. Prints µs per read_until and per
next_change. Usage: PYTHONPATH=TREE python3 hll_read_micro.py"""
import random, time
from streamfeat import ApproxDistinct, Sliding
from streamfeat.build import build_feature
from operators import native

DAY = 86_400_000
feature = build_feature(ApproxDistinct("m", window=Sliding("30d")), str)
op = native.NativeViewOperator([feature], allowed_lateness=300_000, max_ahead=DAY, field_types=[str])
rng = random.Random(30)
state = op.new_state()
t0 = 1_700_000_000_000
n = 40_000  # 40,000 events over 40 days, 3,000 merchants: a heavy entity
for i in range(n):
    t = t0 + i * (40 * DAY // n)
    op.apply(state, t, t, [f"m{rng.randrange(3000)}"])
newest = t
print(len(op.to_bytes(state)), "state bytes")
for lag_days in (0, 1.5, 10):
    at = newest + int(lag_days * DAY)
    reps = 2000
    best_r = best_c = 1e9
    for _ in range(5):
        s = time.perf_counter()
        for _ in range(reps):
            op.read_until(state, at)
        best_r = min(best_r, (time.perf_counter() - s) / reps)
        s = time.perf_counter()
        for _ in range(reps):
            op.next_change(state, at)
        best_c = min(best_c, (time.perf_counter() - s) / reps)
    print(f"read {lag_days} days after the newest event: read_until {best_r*1e6:.2f} us, next_change {best_c*1e6:.2f} us")
