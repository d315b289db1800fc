"""The freshness reader's cost per poll of 200 rows of ~600 B: get_raw as a feature server reads (rows as
StoredEntity), the native read alone, and event_times (the header only). Usage: python3 reader_micro.py"""
import time, tempfile, random
from pathlib import Path
from streamfeat.online import LmdbStore, StoredEntity
from streamfeat.online.base import CachedValues
d = Path(tempfile.mkdtemp()); path = d / "online.lmdb"
rng = random.Random(1)
ents = [f"u{i}" for i in range(200)]
w = LmdbStore(path)
w.write("user_txn", "0123456789abcdef", {e: StoredEntity(rng.randbytes(600), 5, 123, CachedValues(b'{"a":1,"b":2.5,"c":[1,2,3,4,5]}', 0, 2**62)) for e in ents})
r = LmdbStore(path, readonly=True)
N = 2000
t = time.process_time()
for _ in range(N):
    rows = r.get_raw("user_txn", "0123456789abcdef", ents, at=int(time.time() * 1000))
el = time.process_time() - t
print(f"get_raw 200: {el/N*1e3:.3f} ms per poll, {el/N/200*1e6:.2f} us per entity")
t = time.process_time()
for _ in range(N):
    rows = r._file.get("user_txn", "0123456789abcdef", ents, 5)
el = time.process_time() - t
print(f"native get only: {el/N*1e3:.3f} ms per poll, {el/N/200*1e6:.2f} us per entity")
t = time.process_time()
for _ in range(N):
    rows = r.event_times("user_txn", "0123456789abcdef", ents)
el = time.process_time() - t
print(f"event_times 200: {el/N*1e3:.3f} ms per poll, {el/N/200*1e6:.2f} us per entity")
