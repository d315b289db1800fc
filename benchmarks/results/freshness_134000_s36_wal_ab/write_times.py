import time, rocksdict, shutil, random
for wal in (True, False):
  for n in (10000, 50000):
    p='/tmp/streamfeat-gil-test'; shutil.rmtree(p, ignore_errors=True)
    db=rocksdict.Rdict(p, options=rocksdict.Options(raw_mode=True))
    wo=rocksdict.WriteOptions(); wo.disable_wal=not wal
    rng=random.Random(1)
    ts=[]
    for r in range(6):
        items=sorted((rng.randbytes(16), rng.randbytes(1000)) for _ in range(n))
        b=rocksdict.WriteBatch(raw_mode=True)
        for k,v in items: b.put(k,v)
        t0=time.perf_counter(); db.write(b, wo); ts.append((time.perf_counter()-t0)*1000)
    print('wal',wal,'n',n,'ms',[round(t,1) for t in ts])
    db.close()
