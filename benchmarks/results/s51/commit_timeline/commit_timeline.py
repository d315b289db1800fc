"""The commits of a traced `streamfeat run` (benchmarks/flow_trace), in time order: when each began
(s after the first), how long it took and which worker thread ran it; then, per second of the run,
how many commits began in it and the longest spread of a second's commits.
Usage: python3 commit_timeline.py FLOW-TRACE.jsonl"""
import json
import sys
from collections import defaultdict

records = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
commits = sorted((r for r in records if r[0] == "commit"), key=lambda r: r[1])
start = commits[0][1]
threads = sorted({r[3] for r in commits})
for _, began, ended, thread in commits:
    print(f"{began - start:8.3f} s  {1000 * (ended - began):6.1f} ms  thread {threads.index(thread)}")
# gaps between consecutive commits (any thread): clustered commits show as short gaps
gaps = sorted(b[1] - a[1] for a, b in zip(commits, commits[1:]))
print(f"{len(commits)} commits; gap between consecutive commits: p10 {1000 * gaps[len(gaps) // 10]:.1f} ms, "
      f"median {1000 * gaps[len(gaps) // 2]:.1f} ms, p90 {1000 * gaps[9 * len(gaps) // 10]:.1f} ms")
