"""The commit path's steps for K dirty entities of U resident (one partition's commit in the freshness run's late
seconds): time per entity of each step, with the real RocksDBStateStore."""
import os, sys, time, random, shutil
sys.path.insert(0, os.environ.get("ROOT", "/work/main"))
from streamfeat.state.store import RocksDBStateStore
from streamfeat.state import keys as layout
K = int(sys.argv[1]) if len(sys.argv) > 1 else 11000; U = 25000; C = int(sys.argv[2]) if len(sys.argv) > 2 else 40
rng = random.Random(3)
path = "/tmp/s58/commit/db"; shutil.rmtree(path, ignore_errors=True)
store = RocksDBStateStore(path, wal=False)
prefix = layout.view_prefix("0123456789abcdef")
ents = [f"u{rng.randrange(10**6)}" for _ in range(U)]
vals = [os.urandom(rng.randint(700, 1500)) for _ in range(64)]
resident = {e: object() for e in ents}
tot = {}
def tick(name, t0):
    tot[name] = tot.get(name, 0.0) + time.perf_counter() - t0
    return time.perf_counter()
for c in range(C):
    dirty = dict.fromkeys(rng.sample(ents, K))
    encoded = {e: vals[rng.randrange(64)] for e in dirty}
    t = time.perf_counter()
    puts = {prefix + k.encode(): data for k, data in encoded.items()}; t = tick("pending_writes dictcomp", t)
    offsets = {("topic", 0): c * 1000}
    # RocksDBStateStore.commit, split
    from streamfeat.state.store import _checked_keys
    from bisect import insort
    ordered = _checked_keys(puts, "put"); t = tick("_checked_keys (sort)", t)
    removes = []; _checked_keys(removes, "delete")
    writes = dict(puts)
    for (topic, partition), offset in offsets.items():
        key = layout.offset_key(topic, partition)
        if key not in writes:
            insort(ordered, key)
        writes[key] = layout.encode_offset(offset)
    t = tick("dict copy + offsets", t)
    import rocksdict
    batch = rocksdict.WriteBatch(raw_mode=True)
    for key in ordered:
        batch.put(key, writes[key])
    t = tick("WriteBatch puts", t)
    store.db.write(batch, store._write_options); t = tick("db.write", t)
    for key in dirty:
        resident[key] = resident.pop(key)
    t = tick("mark_flushed moves", t)
n = K * C
for k, v in tot.items(): print(f"{k:28s} {v/n*1e6:6.3f} us/entity")
print(f"{'total':28s} {sum(tot.values())/n*1e6:6.3f} us/entity")
store.close(); shutil.rmtree(path, ignore_errors=True)
