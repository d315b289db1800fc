"""µs per to_bytes of sliding 30-day distinct-count states of a heavy, a medium and a light entity
(the example view's ApproxDistinct alone). Usage: PYTHONPATH=TREE python3 enc_micro.py [ROUNDS]"""
import random, sys, time
from streamfeat import ApproxDistinct, Sliding
from streamfeat.build import build_feature
from operators import native

DAY = 86_400_000
feature = build_feature(ApproxDistinct("m", window=Sliding("30d")), str)
op = native.NativeViewOperator([feature], allowed_lateness=300_000, max_ahead=DAY, field_types=[str])
rng = random.Random(30)
t0 = 1_700_000_000_000
states = {}
for name, n, merchants in (("heavy", 40_000, 50_000), ("medium", 2_000, 50_000), ("light", 60, 50_000)):
    state = op.new_state()
    for i in range(n):
        t = t0 + i * (30 * DAY // n)
        op.apply(state, t, t, [f"m{rng.randrange(merchants)}"])
    states[name] = state
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
for name, state in states.items():
    size = len(op.to_bytes(state))
    reps = max(200, 2_000_000 // size)
    best = 1e9
    for _ in range(rounds):
        s = time.perf_counter()
        for _ in range(reps):
            op.to_bytes(state)
        best = min(best, (time.perf_counter() - s) / reps)
    print(f"{name}: {size} bytes, to_bytes {best*1e6:.3f} us ({size / best / 1e9:.2f} GB/s)")
