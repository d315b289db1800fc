"""Stop 55: the flow's perf samples by symbol, production seconds 5-11 (early.by_symbol.txt) against 23-29 (late...),
one run (run.log), 499 Hz each: what grew. Run in this folder: python3 diff.py"""
import re

def load(name):
    counts = {}
    for line in open(name):
        m = re.match(r"\s*[\d.]+%\s+(\d+)\s+\[.\]\s+(.*)", line) or re.match(r"\s*[\d.]+%\s+(\d+)\s+\[k\]\s+(.*)", line)
        if m:
            counts[m[2].strip()] = counts.get(m[2].strip(), 0) + int(m[1])
    return counts

early, late = load("early.by_symbol.txt"), load("late.by_symbol.txt")
total = lambda f: sum(int(l.split()[1]) for l in open(f) if "%" in l)
print(f"samples (all libraries): early {total('early.by_library.txt')}, late {total('late.by_library.txt')}")
print("early   late  change  symbol")
for name in sorted(set(early) | set(late), key=lambda k: early.get(k, 0) - late.get(k, 0))[:20]:
    print(f"{early.get(name, 0):5d}  {late.get(name, 0):5d}  {late.get(name, 0) - early.get(name, 0):+6d}  {name[:100]}")
