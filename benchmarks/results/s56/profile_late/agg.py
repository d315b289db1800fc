import sys, collections
leafs = sys.argv[1].split(",")
depth = int(sys.argv[2]) if len(sys.argv) > 2 else 6
stacks = []; cur = []
for line in open("late.script"):
    line = line.rstrip("\n")
    if not line.strip():
        if cur: stacks.append(cur); cur = []
        continue
    if not line.startswith((" ", "\t")):
        cur = [line]; continue
    parts = line.strip().split(None, 1)
    sym = parts[1] if len(parts) > 1 else "?"
    sym = sym.rsplit(" (", 1)[0]
    cur.append(sym)
if cur: stacks.append(cur)
total = len(stacks)
c = collections.Counter()
n = 0
for s in stacks:
    frames = s[1:]
    if not frames: continue
    if any(l in frames[0] for l in leafs):
        n += 1
        # find first frame from interesting code
        chain = [f for f in frames[1:] if "_native::" in f or "_store_native" in f or "rocksdb" in f or "Py" in f or "mdb_" in f or "rocksdict" in f][:depth]
        c[" <- ".join(x[:70] for x in chain[:depth])] += 1
print(total, "samples;", n, "match")
for k, v in c.most_common(25): print(v, k)
