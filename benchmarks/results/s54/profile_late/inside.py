"""Within samples whose stack passes through FRAME (substring), count the frames just below it (children, inclusive)
and leaves: perf script -F tid,ip,sym,dso output."""
import sys, collections, re
path, target = sys.argv[1], sys.argv[2]
samples = []; cur = None
for line in open(path):
    if not line.strip():
        if cur: samples.append(cur)
        cur = None; continue
    if not line.startswith("\t"):
        cur = []
    else:
        parts = line.strip().split(None, 1)
        name = parts[1] if len(parts) > 1 else "?"
        cur.append(re.sub(r" \(/.*\)$", "", name))
if cur: samples.append(cur)
incl = collections.Counter(); leaf = collections.Counter(); n = 0
for frames in samples:
    idx = next((i for i, f in enumerate(frames) if target in f), None)
    if idx is None: continue
    n += 1
    leaf[frames[0][:90]] += 1
    for f in set(frames[:idx]): incl[f[:90]] += 1
print(f"{n} samples through {target}")
print("-- inclusive below it"); [print(f"  {100*c/n:5.1f}% {k}") for k, c in incl.most_common(40)]
print("-- leaves"); [print(f"  {100*c/n:5.1f}% {k}") for k, c in leaf.most_common(25)]
