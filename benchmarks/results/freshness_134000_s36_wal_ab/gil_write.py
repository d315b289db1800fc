import threading, time, rocksdict, os, shutil, random
p='/tmp/streamfeat-gil-test'; shutil.rmtree(p, ignore_errors=True)
db=rocksdict.Rdict(p, options=rocksdict.Options(raw_mode=True))
stop=False; ticks=[]
def spin():
    while not stop:
        ticks.append(time.perf_counter())
        time.sleep(0)  # yields
t=threading.Thread(target=spin); t.start()
time.sleep(0.1)
rng=random.Random(1)
items=[(rng.randbytes(16), rng.randbytes(1000)) for _ in range(50000)]
items.sort()
b=rocksdict.WriteBatch(raw_mode=True)
for k,v in items: b.put(k,v)
n0=len(ticks); t0=time.perf_counter()
db.write(b)
t1=time.perf_counter(); n1=len(ticks)
# longest gap in ticks during write
gaps=[b-a for a,b in zip(ticks,ticks[1:]) if t0<=b<=t1+0.01]
print('write ms', (t1-t0)*1000, 'ticks during', n1-n0, 'max gap ms', max(gaps)*1000 if gaps else None)
stop=True; t.join()
