"""Summarise py-spy raw stacks of the thread holding the GIL (pyspy_gil.sh): each innermost Python line's share of
the samples and, with --native stacks, the native frames under it. usage: gil_summary.py STACKS.txt"""
import collections
import sys

total = 0
under: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
for line in open(sys.argv[1]):
    stack, n = line.rstrip().rsplit(" ", 1)
    total += int(n)
    frames = stack.split(";")
    at = max((i for i, f in enumerate(frames) if ".py:" in f), default=-1)
    python = frames[at][:90] if at >= 0 else "?"
    native = " > ".join(f.split(" (")[0][:60] for f in frames[at + 1:at + 4])
    under[python][native] += int(n)
print(total, "samples holding the GIL")
lines = collections.Counter({k: sum(c.values()) for k, c in under.items()})
for python, n in lines.most_common(25):
    print(f"{100 * n / total:5.1f} {python}")
    for native, m in under[python].most_common(4):
        if native:
            print(f"        {100 * m / total:5.1f} {native}")
