import sys, numpy as np, collections
rows=[l.split() for l in open(sys.argv[1])]
t0=min(float(r[2]) for r in rows)
for kind in ("p","c"):
    R=[r for r in rows if r[0]==kind]
    for lo,hi in [(0,10),(10,20),(20,27),(27,99)]:
        S=[r for r in R if lo<=float(r[2])-t0<hi]
        if not S: continue
        w=np.array([float(r[3]) for r in S])*1000; c=np.array([float(r[4]) for r in S])*1000; n=np.array([int(r[5]) for r in S])
        extra = ""
        if kind=="p" and len(S)>5:
            A=np.vstack([np.ones(len(S)),n]).T
            (a,b),*_=np.linalg.lstsq(A,c,rcond=None); (a2,b2),*_=np.linalg.lstsq(A,w,rcond=None)
            extra=f" | cpu fit {a:.2f} ms + {b*1000:.2f} us/rec; wall fit {a2:.2f} ms + {b2*1000:.2f} us/rec; cpu us/rec {c.sum()/n.sum()*1000:.2f}"
        print(f"{kind} {lo:>2}-{hi:<2}s n={len(S):4d} wall sum {w.sum():7.0f} ms, cpu sum {c.sum():7.0f} ms, wait {100*(1-c.sum()/w.sum()):4.1f}%, median wall {np.median(w):.1f} cpu {np.median(c):.1f}{extra}")
