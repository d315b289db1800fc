"""Bytes the last quarter of the simulation would encode for online rows, by state size class: each entity's
touches (batches of 2,000 per partition holding it, last quarter) times its state size at the end of the run (an
upper bound: states grow through the quarter). Reads the state left by ../pipeline_late_regime_s32/pipe_sim_fresh.py."""
import rocksdict, numpy as np, glob
from streamfeat.workload import W1, generate
from benchmarks.streaming import recent
E=4_000_000
b = generate(recent(W1, E), limit=E)
keys = b.user_ids()
sizes={}
for d in sorted(glob.glob("/tmp/streamfeat-pipe-sim/t-*")):
    db = rocksdict.Rdict(d, options=rocksdict.Options(raw_mode=True), access_type=rocksdict.AccessType.read_only())
    for k, v in db.items():
        sizes[k]=len(v)
    db.close()
# map entity -> size: keys contain entity string at end?

ent={}
for k,v in sizes.items():
    if k.startswith(b'S') or b'u' in k[-12:]:
        pass

import re
for k,v in sizes.items():
    if k[:1] in (b'M',b'O'): continue
    e=k[k.index(b"\\")+1:].decode()
    ent[e]=v

PARTS=4; BATCH=2000
parts=[[] for _ in range(PARTS)]
for i,k in enumerate(keys): parts[hash(k)%PARTS].append(i)
touch={}
for p in range(PARTS):
    idx=parts[p]; n=len(idx)
    for s in range(3*n//4, n, BATCH):
        for k in set(keys[i] for i in idx[s:s+BATCH]): touch[k]=touch.get(k,0)+1
bins=[0,512,1024,2048,4096,8192,16384,1<<30]
tot=np.zeros(len(bins)-1); cnt=np.zeros(len(bins)-1)
for k,t in touch.items():
    s=ent.get(k,0); j=np.searchsorted(bins,s,side='right')-1
    tot[j]+=t*s; cnt[j]+=t
for j in range(len(bins)-1): print(f"{bins[j]:>6}-{bins[j+1]:<10} touches {int(cnt[j]):>8} bytes {tot[j]/1e6:8.1f} MB")
