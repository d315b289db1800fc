"""Does rocksdict hold the GIL while RocksDB writes? A thread spins on the clock while the main thread writes
WriteBatches of 8,000 puts of 1,000 bytes; the spinner's longest gap is the time it could not run.
Usage: python3 rocksdict_gil.py"""
import threading, time, os, tempfile
from rocksdict import Rdict, WriteBatch, Options
d = tempfile.mkdtemp()
db = Rdict(d, Options(raw_mode=True))
stop = False; ticks = []
def spin():
    last = time.perf_counter()
    while not stop:
        now = time.perf_counter(); ticks.append(now - last); last = now
t = threading.Thread(target=spin); t.start(); time.sleep(0.1)
val = os.urandom(1000)
for rnd in range(3):
    wb = WriteBatch(raw_mode=True)
    for i in range(8000): wb.put(b"k%07d%d" % (i, rnd), val)
    ticks.clear()
    t0 = time.perf_counter(); db.write(wb); dt = time.perf_counter() - t0
    print(f"write {dt*1000:.1f} ms; spinner max gap {max(ticks)*1000:.1f} ms over {len(ticks)} ticks")
stop = True; t.join(); db.close()
