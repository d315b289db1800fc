import numpy as np, sys
sys.path.insert(0, "/work/main")
from benchmarks.streaming import recent
from streamfeat.workload import W1, generate
N = 7_000_000
b = generate(recent(W1, N), limit=N)
u = b.user.astype(np.int64)
part = u % 4
for batch_ms in (20, 50):
    rows = dirty = 0
    per_part_s = 232342 // 4
    per_batch = per_part_s * batch_ms // 1000
    for p in range(4):
        up = u[part == p]
        for s0 in range(0, len(up) - per_part_s, per_part_s):
            sec = up[s0:s0 + per_part_s]
            dirty += len(np.unique(sec))
            for b0 in range(0, per_part_s, per_batch):
                rows += len(np.unique(sec[b0:b0 + per_batch]))
    print(batch_ms, "ms batches: rows", rows, "dirty per 1s commit", dirty, "ratio", rows / dirty, "rows/event", rows / len(u))
print("users", len(np.unique(u)))
