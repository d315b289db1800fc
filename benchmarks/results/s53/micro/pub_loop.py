"""Build the example view's states over W1's first N events (recent), then publish_packed the users ranked LO..HI REPS times
(a loop to profile with perf -D): usage pub_loop.py N LO HI REPS"""
import os, sys, time, collections
N, LO, HI, REPS = map(int, sys.argv[1:5])
sys.argv = [sys.argv[0], str(N), "4500", "0", "16384"]
src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "live_cost.py")).read().split("# Per-entity publish cost")[0]
exec(compile(src, "live_cost.py", "exec"))
st = states[0]
counts = collections.Counter(keys_all[i] for i in idx_by_part[0].tolist())
ents = [k for k, _ in counts.most_common(HI)][LO:HI]
names = list(op.names)
sts = [st[k] for k in ents]
print("loop starts", flush=True)
t0 = clock()
for rep in range(REPS):
    at = int(time.time() * 1000)
    op._core.publish_packed(sts, ents, names, at, at + 2000, [False] * len(ents), 16384)
print(f"{(clock()-t0)/REPS/len(ents)*1e6:.2f} us per entity", flush=True)
