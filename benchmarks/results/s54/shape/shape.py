import sys, numpy as np
d = np.load(sys.argv[1]); lat = d["lat"] * 1000; sent = d["sent"]; t = sent - sent.min()
for s in range(int(t.max()) + 1):
    m = (t >= s) & (t < s + 1)
    if m.sum():
        print(f"{s:3d}s n={m.sum():5d} p50={np.percentile(lat[m],50):7.1f} p99={np.percentile(lat[m],99):7.1f} max={lat[m].max():7.1f}")
print("overall p99", np.percentile(lat, 99), "p99 without last 5 s", np.percentile(lat[t < t.max() - 5], 99))
