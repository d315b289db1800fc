import os, sys, time, random, shutil, collections
sys.path.insert(0, "/work/main")
import rocksdict
from streamfeat.state.store import RocksDBStateStore, _checked_keys
from streamfeat.state import keys as layout
from bisect import insort
K = 11000; U = 25000; C = 40
prefix = layout.view_prefix("0123456789abcdef")
def run(name, opt):
    rng = random.Random(3)
    ents = [f"u{rng.randrange(10**6)}" for _ in range(U)]
    vals = [os.urandom(rng.randint(700, 1500)) for _ in range(64)]
    path = "/tmp/s58/commit/dbo"; shutil.rmtree(path, ignore_errors=True)
    store = RocksDBStateStore(path, wal=False)
    prep = wr = 0.0
    for c in range(C):
        encoded = {e: vals[rng.randrange(64)] for e in rng.sample(ents, K)}
        offsets = {("topic", 0): c * 1000}
        t = time.perf_counter()
        b = rocksdict.WriteBatch(raw_mode=True)
        if not opt:
            puts = {prefix + k.encode(): data for k, data in encoded.items()}
            ordered = _checked_keys(puts, "put")
            writes = dict(puts)
            for (topic, partition), offset in offsets.items():
                key = layout.offset_key(topic, partition)
                if key not in writes: insort(ordered, key)
                writes[key] = layout.encode_offset(offset)
            for key in ordered: b.put(key, writes[key])
        else:
            ents_sorted = sorted(encoded)
            keys = [prefix + k.encode() for k in ents_sorted]
            collections.deque(map(b.put, keys, map(encoded.__getitem__, ents_sorted)), maxlen=0)
            for (topic, partition), offset in offsets.items():
                b.put(layout.offset_key(topic, partition), layout.encode_offset(offset))
        t1 = time.perf_counter(); prep += t1 - t
        store.db.write(b, store._write_options); wr += time.perf_counter() - t1
    print(f"{name:10s} prepare+puts {prep/(K*C)*1e6:.3f} us/entity, db.write {wr/(K*C)*1e6:.3f}")
    store.close(); shutil.rmtree(path, ignore_errors=True)
for _ in range(3):
    run("current", False); run("opt", True)
