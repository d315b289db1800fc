import rocksdict, glob, struct, numpy as np
names=["count_lifetime","count_365d_tiled","sum_7d","max_30d","distinct_30d","last5","count_1h"]
per=[[] for _ in names]; tot=[]
for d in sorted(glob.glob("/tmp/streamfeat-pipe-sim/t-*")):
    db = rocksdict.Rdict(d, options=rocksdict.Options(raw_mode=True), access_type=rocksdict.AccessType.read_only())
    for k, v in db.items():
        if not k.startswith(b'S'): continue
        o=29; n=struct.unpack(">I", v[25:29])[0]
        for i in range(n):
            L=struct.unpack(">I", v[o:o+4])[0]; per[i].append(L); o+=4+L
        tot.append(len(v))
    db.close()
tot=np.array(tot); print("states", len(tot), "mean", tot.mean())
for nm,p in zip(names,per):
    p=np.array(p); print(f"{nm:18} mean {p.mean():7.1f} p50 {np.median(p):6.0f} p99 {np.percentile(p,99):8.0f} share {p.sum()/tot.sum():.2f}")
