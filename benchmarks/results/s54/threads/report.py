import json, sys
from collections import defaultdict
samples = json.load(open(sys.argv[1]))
# per-second deltas per thread
deltas = []
for (t0, a), (t1, b) in zip(samples, samples[1:]):
    deltas.append({k: (b[k] - a.get(k, 0)) / (t1 - t0) for k in b if not k.startswith("_")})
tot = [sum(d.values()) for d in deltas]
start = next(i for i, x in enumerate(tot) if x > 300)
names = sorted({k for d in deltas for k in d})
def group(k):
    n = k.split("/")[0]
    return n
spans = [(0, 10), (10, 20), (20, 25), (25, 30), (30, 36)]
print("thread group".ljust(24), *[f"{a}-{b}s".rjust(9) for a, b in spans])
agg = defaultdict(lambda: [0.0] * len(spans))
for d_i, d in enumerate(deltas[start:]):
    for j, (a, b) in enumerate(spans):
        if a <= d_i < b:
            for k, v in d.items():
                agg[group(k)][j] += v / (b - a)
for g, v in sorted(agg.items(), key=lambda x: -sum(x[1])):
    if sum(v) > 5:
        print(g.ljust(24), *[f"{x:9.1f}" for x in v])
print("total".ljust(24), *[f"{sum(v[j] for v in agg.values()):9.1f}" for j in range(len(spans))])
