"""Attribute each perf sample (perf script -F tid,ip,sym,dso) to the innermost Python-callable native method
(pyo3 `__pymethod_NAME__`) or Python C-API eval (Python code) on its stack; prints shares per thread group."""
import re, sys, collections
samples = []; cur = None
for line in open(sys.argv[1]):
    if not line.strip():
        if cur: samples.append(cur)
        cur = None; continue
    if not line.startswith("\t"):
        cur = [line.split()[0], []]
    else:
        parts = line.strip().split(None, 1)
        cur[1].append(parts[1] if len(parts) > 1 else "?")
if cur: samples.append(cur)
by = collections.Counter(); tot = collections.Counter()
for tid, frames in samples:
    label = None
    for f in frames:
        m = re.search(r"__pymethod_(\w+?)__", f)
        if m:
            owner = re.search(r"(\w+)::__pymethod", f)
            label = f"{owner.group(1) if owner else ''}.{m.group(1)}"; break
        if "_PyEval_EvalFrameDefault" in f:
            leaf = frames[0].split(" (")[0]
            label = "python: " + (leaf if "libpython" in frames[0] or "python" in frames[0] else leaf)[:60]; break
    if label is None:
        label = "other: " + frames[0][:70] if frames else "?"
    by[(tid, label)] += 1; tot[tid] += 1
total = sum(tot.values())
for tid, n in tot.most_common(6):
    print(f"== thread {tid}: {n} samples ({100*n/total:.1f}%)")
    rows = [(l, c) for (t, l), c in by.items() if t == tid]
    for l, c in sorted(rows, key=lambda x: -x[1])[:int(sys.argv[2]) if len(sys.argv) > 2 else 25]:
        print(f"   {100*c/total:5.1f}%  {l}")
