"""Whether rocksdict's WriteBatch write releases the GIL: a batch of 30,000 800-byte values (sorted keys, WAL off)
written while another Python thread spins and counts; a thread free to run counts millions of loops in tens of
milliseconds. Prints the batch's build and write times and the loops counted during the write.
Usage: python3 rocksdict_write_gil.py"""
import os, shutil, threading, time, random
import rocksdict
path = "/tmp/rocksdict_write_gil_db"
shutil.rmtree(path, ignore_errors=True)
opts = rocksdict.Options(raw_mode=True)
db = rocksdict.Rdict(path, options=opts)
wo = rocksdict.WriteOptions(); wo.disable_wal = True
rng = random.Random(1)
puts = {b"V" + str(rng.randrange(10**9)).encode(): os.urandom(800) for _ in range(30000)}
ordered = sorted(puts)
for r in range(4):
    t0 = time.perf_counter()
    batch = rocksdict.WriteBatch(raw_mode=True)
    for k in ordered:
        batch.put(k, puts[k])
    t1 = time.perf_counter()
    counter = [0]; stop = [False]
    def spin():
        while not stop[0]:
            counter[0] += 1
    th = threading.Thread(target=spin); th.start()
    time.sleep(0.01); c0 = counter[0]; t2 = time.perf_counter()
    db.write(batch, wo)
    t3 = time.perf_counter(); c1 = counter[0]
    stop[0] = True; th.join()
    print(f"round {r}: build {1000*(t1-t0):.1f} ms, write {1000*(t3-t2):.1f} ms, spin loops during write {c1-c0}")
# the baseline: the same spinner while this thread sleeps 50 ms (free to run)
counter = [0]; stop = [False]
def spin_free():
    while not stop[0]:
        counter[0] += 1
th = threading.Thread(target=spin_free); th.start()
time.sleep(0.01); c0 = counter[0]; time.sleep(0.05); c1 = counter[0]
stop[0] = True; th.join()
print(f"baseline: spin loops in 50 ms while this thread sleeps {c1 - c0}")
