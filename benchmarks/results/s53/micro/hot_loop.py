"""Build the example view's states over W1's first N events (recent), then repeat apply_publish of one event
for each of the TOP most active users of partition 0 REPS times (for perf -D): usage hot_loop.py N TOP REPS"""
import os, sys, time, collections
sys.argv = [sys.argv[0], sys.argv[1], "4500", "0", "16384", *sys.argv[2:]]
TOP, REPS = int(sys.argv[5]), int(sys.argv[6])
src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "live_cost.py")).read().split("# Per-entity publish cost")[0]
exec(compile(src, "live_cost.py", "exec"))
st = states[0]
counts = collections.Counter(keys_all[i] for i in idx_by_part[0].tolist())
heavy = [k for k, _ in counts.most_common(TOP)]
lastt, lasta = max(et), max(ar)
print("hot loop starts", flush=True)
t0 = clock()
for rep in range(REPS):
    cols = op.columns_for({"amount": [1.0] * len(heavy), "merchant_id": [f"m{rep}x{j}" for j in range(len(heavy))]})
    at = int(time.time() * 1000)
    op.apply_publish(st, heavy, [lastt + rep] * len(heavy), [lasta + rep] * len(heavy), cols, at, at + 2000, larges[0], 16384)
print(f"{(clock() - t0) / REPS / len(heavy) * 1e6:.2f} us per entity", flush=True)
