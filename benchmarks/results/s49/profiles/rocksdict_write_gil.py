"""A thread counting in Python while another thread writes 12 prepared rocksdict WriteBatches of 20,000 x 2 KB
(no WAL): counts per second alone and during the writes. Usage: python3 rocksdict_write_gil.py"""
import threading, time, os, rocksdict, shutil
import tempfile; p=tempfile.mkdtemp() + "/db"; shutil.rmtree(p, ignore_errors=True)
db=rocksdict.Rdict(p, options=rocksdict.Options(raw_mode=True))
vals=[(b"k%09d"%i, os.urandom(2000)) for i in range(20000)]
batches=[]
for j in range(12):
    b=rocksdict.WriteBatch(raw_mode=True)
    for k,v in vals: b.put(k,v)
    batches.append(b)
writes=[]
def writer():
    wo=rocksdict.WriteOptions(); wo.disable_wal=True
    for b in batches:
        t=time.perf_counter(); db.write(b, wo); writes.append(time.perf_counter()-t)
def counter(sec):
    c=0; t0=time.perf_counter()
    while time.perf_counter()-t0<sec: c+=1
    return c
base=counter(1.0)
th=threading.Thread(target=writer); t0=time.perf_counter(); th.start()
c=0
while th.is_alive(): c+=1
el=time.perf_counter()-t0
print("count/s alone", base, "during", c/el, "elapsed", el, "write ms", sum(writes)/len(writes)*1000)
