import json, sys, collections
for f in sys.argv[1:]:
    recs = [json.loads(l) for l in open(f)]
    by = collections.defaultdict(list)
    for r in recs:
        if r[0] == "commit": by[r[3]].append(r[1])
    close = total = 0
    allc = sorted(t for cs in by.values() for t in cs)
    for cs in by.values():
        cs.sort()
        total += len(cs)
        close += sum(1 for a, b in zip(cs, cs[1:]) if b - a < 0.2)
    anyclose = sum(1 for a, b in zip(allc, allc[1:]) if b - a < 0.1)
    print(f"{f}: {total} commits; a worker's next commit within 200 ms: {close}; any two commits within 100 ms: {anyclose}")
