"""Fold `perf script -F ip,sym` output (recorded with --call-graph dwarf) two ways: by the nearest owning frame of
ours or a library's (the flow), and for the frames under KEY..., each sample's leaf and the frame just below KEY
(the simulation). Usage: python3 perf_owners.py owners SCRIPT.txt | python3 perf_owners.py under SCRIPT.txt KEY..."""
import collections, re, sys

def samples(path):
    out, cur = [], []
    for line in open(path):
        if not line.strip():
            if cur:
                out.append(cur); cur = []
            continue
        parts = line.strip().split(None, 1)
        cur.append((parts[1] if len(parts) > 1 else "?").split("+0x")[0])
    if cur:
        out.append(cur)
    return out

mode, path, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
all_samples = samples(path)
n = len(all_samples)
print(f"{n} samples")
if mode == "owners":
    owner = collections.Counter()
    for s in all_samples:
        own = "other"
        for f in s:
            m = re.search(r"(_native::[A-Za-z_:]+|_store_native::[A-Za-z_:]+|rocksdb::[A-Za-z]+|rd_kafka_[a-z_]+|"
                          r"Consumer_consume|bytewax::[a-z_:]+)", f)
            if m:
                own = m.group(1); break
        owner[own] += 1
    for k, v in owner.most_common(30):
        print(f"{v / n * 100:5.1f}% {k}")
else:
    for key in keys:
        sub = []
        for s in all_samples:
            for i, f in enumerate(s):
                if key in f:
                    sub.append(s[: i + 1]); break
        print(f"== {key}: {len(sub) / n * 100:.1f}% of the samples")
        leaf = collections.Counter(st[0][:90] for st in sub)
        for k, v in leaf.most_common(14):
            print(f"   leaf {v / n * 100:5.1f}% {k}")
