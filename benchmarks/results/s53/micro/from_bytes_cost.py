"""from_bytes of 20,000 of the example view's states (partition 0 after W1's first 1M events), per state, three times."""
import os, sys, time, collections
sys.argv = [sys.argv[0], "1000000", "4500", "0", "16384"]
src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "live_cost.py")).read().split("# Per-entity publish cost")[0]
exec(compile(src, "live_cost.py", "exec"))
st = states[0]
ks = list(st)[:20000]
blobs = [op.to_bytes(st[k]) for k in ks]
fb = op.from_bytes
for r in range(3):
    t0 = clock(); out = [fb(b) for b in blobs]; t1 = clock()
    print(f"from_bytes {(t1-t0)/len(blobs)*1e6:.2f} us per state (median {sorted(map(len, blobs))[len(blobs)//2]} B)")
