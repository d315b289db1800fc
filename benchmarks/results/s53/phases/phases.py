import sys, collections
rows=[l.split() for l in open(sys.argv[1])]
secs=sorted({int(r[0]) for r in rows})
busy=[s for s in secs if any(r[1]=='process' and int(r[0])==s and float(r[3])>0.3 for r in rows)]
ranges=[(busy[0],busy[0]+10),(busy[0]+10,busy[0]+20),(busy[0]+24,busy[0]+30)]
labels=["process","decode","checkout","apply_publish","packed_rows","checkin","publish_rows","commit","pending_writes","rocks_commit","mark_flushed","rocks_get","kafka_read"]
print("phase".ljust(15)+"".join(f"{f'{a-busy[0]}-{b-busy[0]}s cpu/wall ms/s':>28}" for a,b in ranges))
for lab in labels:
    out=lab.ljust(15)
    for a,b in ranges:
        S=[r for r in rows if r[1]==lab and a<=int(r[0])<b]
        w=sum(float(r[2]) for r in S)/(b-a)*1000; c=sum(float(r[3]) for r in S)/(b-a)*1000; n=sum(int(r[4]) for r in S)/(b-a)
        out+=f"{c:12.0f}/{w:5.0f} ({n:5.0f}/s)"
    print(out)
