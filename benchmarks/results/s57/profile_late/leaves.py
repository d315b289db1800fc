import sys, collections
sys.path.insert(0, "/work/main/benchmarks/results/s56/profile_late")
from stacks import read_stacks
st = read_stacks(sys.argv[1])
n = len(st)
print(n, "samples")
leaf = collections.Counter(s[1] if len(s) > 1 else "?" for s in st)
for f, c in leaf.most_common(int(sys.argv[2]) if len(sys.argv) > 2 else 20):
    print(f"{100*c/n:5.1f} {f[:120]}")
c = collections.Counter()
for s in st:
    if len(s) > 1 and s[1] == "clear_page_erms":
        fr = [f for f in s[2:] if ("_native" in f or "mi_" in f or "alloc::" in f or "rocksdb" in f or "Py" in f)]
        c[" <- ".join(x[:45] for x in fr[:4])] += 1
print("clear_page callers")
for k, v in c.most_common(8):
    print(v, k)
