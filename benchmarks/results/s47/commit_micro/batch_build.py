import os, time, random, collections
import rocksdict
random.seed(1)
keys = sorted(b"V" + os.urandom(8).hex().encode() for _ in range(8300))
puts = {k: os.urandom(300) for k in keys}
def loop():
    b = rocksdict.WriteBatch(raw_mode=True)
    for key in keys:
        b.put(key, puts[key])
    return b
def loop_bound():
    b = rocksdict.WriteBatch(raw_mode=True); put = b.put
    for key in keys:
        put(key, puts[key])
    return b
def mapped():
    b = rocksdict.WriteBatch(raw_mode=True)
    collections.deque(map(b.put, keys, map(puts.__getitem__, keys)), maxlen=0)
    return b
for f in (loop, loop_bound, mapped) * 2:
    best = min((lambda: (lambda t: (f(), time.perf_counter() - t)[1])(time.perf_counter()))() for _ in range(30))
    print(f"{f.__name__:12s} {best*1e3:.2f} ms")
