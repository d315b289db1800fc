import json, sys
s = json.load(open(sys.argv[1]))
prev = None
for t, row in s:
    cpu = sum(v for k, v in row.items() if not k.startswith("_"))
    if prev:
        dt = t - prev[0]
        print(f"cpu {((cpu - prev[1]) / dt):6.0f} ms/s  minflt/s {(row.get('_minflt', 0) - prev[2]) / dt:8.0f}  rss {row.get('_rss_mb')} MB anon {row.get('_Anonymous')} MB thp {row.get('_AnonHugePages')} MB shmem {row.get('_Shmem')}")
    prev = (t, cpu, row.get("_minflt", 0))
