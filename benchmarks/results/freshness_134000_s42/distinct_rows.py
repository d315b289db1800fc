"""Online rows per event for windows of the paced stream (134,000 events/s): distinct users per window of W1's
first 4.02M events (recent event times), early, middle and late. Usage (repository root): PYTHONPATH=. python3 distinct_rows.py"""
import numpy as np
from benchmarks.streaming import recent
from streamfeat.workload import W1, generate
N = 4_020_000
b = generate(recent(W1, N), limit=N)
u = np.asarray(b.user)
rate = 134_000
for ms in (5, 10, 15, 20, 30, 50, 100, 200, 500, 1000):
    n = max(1, int(rate * ms / 1000))
    tot = 0
    for q in (0, 1, 3):  # quarters: early, q2, late
        seg = u[q * N // 4:(q + 1) * N // 4]
        d = sum(len(np.unique(seg[i:i + n])) for i in range(0, len(seg) - n + 1, n))
        print(f"{ms:5d} ms ({n:6d} ev) quarter {q+1}: rows/event {d / (len(seg) // n * n):.3f}")
