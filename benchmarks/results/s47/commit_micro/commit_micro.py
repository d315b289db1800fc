"""The Python and RocksDB parts of one partition's commit at the freshness benchmark's size:
8,300 dirty entities of 25,000+ resident, 300-byte states, a store already holding 200,000.
Times each step (best of ROUNDS commits)."""
import os, random, sys, time, tempfile, itertools
import rocksdict
from streamfeat.state import RocksDBStateStore
from streamfeat.state import store as st
from streamfeat.state import keys as layout

random.seed(47)
ROUNDS = int(os.environ.get("ROUNDS", 20))
N_DIRTY = 8300
path = tempfile.mkdtemp(prefix="commit_micro_")
store = RocksDBStateStore(path, wal=False)
prefix = layout.view_prefix("f" * 16)
universe = [f"user_{i:08d}" for i in range(200_000)]
store.commit({prefix + k.encode(): os.urandom(300) for k in universe[:100_000]}, [], {("t", 0): 1})
store.commit({prefix + k.encode(): os.urandom(300) for k in universe[100_000:]}, [], {("t", 0): 2})
times = {}; raw = []
def lap(name, t0):
    t = time.perf_counter(); times.setdefault(name, []).append(t - t0); return t
for r in range(ROUNDS):
    keys = ["".join(["", k]) for k in random.sample(universe, N_DIRTY)]  # fresh str objects
    encoded = {k: os.urandom(300) for k in keys}
    t = time.perf_counter()
    puts = {prefix + k.encode(): data for k, data in encoded.items()}
    t = lap("pending_writes dictcomp", t)
    merged = {}; merged.update(puts)
    t = lap("_commit puts.update", t)
    ordered = st._checked_keys(merged, "put")
    t = lap("_checked_keys (sort)", t)
    writes = dict(merged)
    writes[layout.offset_key("t", 0)] = layout.encode_offset(r + 3)
    t = lap("dict(puts) copy", t)
    batch = rocksdict.WriteBatch(raw_mode=True)
    for key in ordered:
        batch.put(key, writes[key])
    batch.put(layout.offset_key("t", 0), layout.encode_offset(r + 3))
    t = lap("WriteBatch puts (Python loop)", t)
    store.db.write(batch, store._write_options)
    t = lap("db.write", t); raw.append(times["db.write"][-1])
for name, v in times.items():
    v.sort()
    print(f"{name:32s} median {v[len(v)//2]*1e3:7.2f} ms  min {v[0]*1e3:7.2f} ms")
store.close()
print("db.write per round ms:", " ".join(f"{x*1e3:.1f}" for x in raw))
