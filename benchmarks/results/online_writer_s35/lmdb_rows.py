"""The embedded store's native writer alone (`LmdbFile.write_packed`), in the freshness regime's shape:
batches of ~760 packed rows of one view (state bytes sized like the example view's states at stop 34:
lognormal around 569 bytes, capped at 16 KiB; values JSON of ~120 bytes), entities drawn over 1M users
(half uniform, half Zipf-skewed). The store is filled by a first, untimed pass; then PASSES timed passes
write the same entities again with newer versions, so every row replaces a stored one and the file no
longer grows. Prints the writer's CPU per row in each timed pass (the calling thread's CPU: write_packed
runs in it, without the GIL).
Since stop 38 also GROW: each pass's states are GROW bytes longer than the last's
(an entity's state gaining an event between two of its rows), and the writer's in-place counts when the
build has them.
Usage (repository root): python3 lmdb_rows.py [ROWS] [PASSES] [SEED] [GROW]"""
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from streamfeat.online.base import make_row
from streamfeat.online.lmdb_store import LmdbFile
from streamfeat.online.packed import pack_rows

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 400_000
PASSES = int(sys.argv[2]) if len(sys.argv) > 2 else 3
SEED = int(sys.argv[3]) if len(sys.argv) > 3 else 7
GROW = int(sys.argv[4]) if len(sys.argv) > 4 else 0
BATCH = 760
rng = np.random.default_rng(SEED)
users = np.where(rng.random(ROWS) < 0.5, rng.integers(1, 1_000_000, ROWS), np.minimum(rng.zipf(1.2, ROWS), 1_000_000))
sizes = np.minimum(rng.lognormal(np.log(569), 0.9, ROWS).astype(int) + 24, 16384)
blob = rng.integers(0, 256, 40000, dtype=np.uint8).tobytes()
values = b'{"count":12,"count_365d":40,"sum_7d":123.45,"max_30d":99.5,"distinct_30d":7,"last_5":[1.0,2.0,3.0,4.0,5.0],"count_1h":1}'


def batches(version_base: int, grow: int = 0) -> list[bytes]:
    out = []
    for start in range(0, ROWS, BATCH):
        rows = {}
        for i in range(start, min(start + BATCH, ROWS)):
            rows[f"u{users[i]}"] = make_row(blob[: sizes[i] + grow], version_base + i + 1, 1_700_000_000_000 + i, values, 1, 2)
        out.append(pack_rows(rows).data)
    return out


work = Path("/tmp/streamfeat-lmdb-rows")
shutil.rmtree(work, ignore_errors=True)
work.mkdir()
file = LmdbFile(str(work / "online.lmdb"), False, 1 << 30, False, True)
for data in batches(0):
    file.write_packed([("user_txn", "fp", data)])
out = []
for p in range(1, PASSES + 1):
    packed = batches(p * ROWS, p * GROW)
    t0 = time.thread_time()
    rows = sum(file.write_packed([("user_txn", "fp", data)]) for data in packed)
    out.append((time.thread_time() - t0) / max(1, rows) * 1e6)
counts = file.write_counts() if hasattr(file, "write_counts") else None
print("writer µs per row per pass:", " ".join(f"{x:.2f}" for x in out),
      f"(rows {ROWS:,} per pass, seed {SEED}, grow {GROW})", f"in place/moved/new {counts}" if counts else "")
file.close()
