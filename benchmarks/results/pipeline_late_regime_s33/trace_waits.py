"""What a worker thread of `streamfeat run` did before its reads whose oldest record had waited longest,
from a trace of `python -m benchmarks.freshness --trace` (the flow-trace-0.jsonl of a kept work directory).
Usage: python3 trace_waits.py FLOW_TRACE.jsonl"""
import collections
import json
import sys

import numpy as np

records = [json.loads(line) for line in open(sys.argv[1])]
reads = sorted((r for r in records if r[0] == "read"), key=lambda r: r[1])
procs = [r for r in records if r[0] == "proc"]
commits = [r for r in records if r[0] == "commit"]
rounds = [r for r in records if r[0] == "wround"]
busy = collections.defaultdict(list)  # thread -> (kind, start, end)
for r in procs:
    busy[r[3]].append(("process (commits included)", r[1], r[2]))
for r in commits:
    busy[r[3]].append(("commit", r[1], r[2]))
waits = [(r[1], r[1] - r[4] / 1000, r[2]) for r in reads if r[4]]
wait = np.array([w for _, w, _ in waits])
print("oldest record's wait at read, s: p50 %.3f p90 %.3f p99 %.3f" % tuple(np.percentile(wait, [50, 90, 99])))
p95 = np.percentile(wait, 95)
spent = collections.Counter()
slow = [(at, thread) for at, w, thread in waits if w >= p95]
for at, thread in slow:
    for kind, start, end in busy[thread]:
        spent[kind] += max(0.0, min(end, at) - max(start, at - 0.4))
print(f"{len(slow)} reads at or above p95: their thread's busy time in the 400 ms before, mean s:",
      {kind: round(total / len(slow), 3) for kind, total in spent.items()})
inside = sum(1 for c in commits if any(p[3] == c[3] and p[1] <= c[1] and c[2] <= p[2] for p in procs))
print(f"commits inside a batch's processing: {inside} of {len(commits)}; all processing {sum(p[2] - p[1] for p in procs):.2f} s, "
      f"of it commits {sum(c[2] - c[1] for c in commits):.2f} s")
start = min(r[1] for r in procs)
window = collections.defaultdict(collections.Counter)
for r in procs:
    window[int((r[1] - start) // 5)][f"thread {r[3] % 1000} processing"] += (r[2] - r[1]) / 5
for r in commits:
    window[int((r[1] - start) // 5)]["commits"] += (r[2] - r[1]) / 5
for r in rounds:
    window[int((r[1] - start) // 5)]["online writer"] += (r[2] - r[1]) / 5
print("share of wall time per 5 s (processing includes commits):")
for k in sorted(window):
    print(f"  from {k * 5:3d} s:", {name: round(v, 2) for name, v in sorted(window[k].items())})
