"""The embedded store's native writer alone: write_packed of batches of rows shaped like the flow's.
SO=path of a _store_native .so (default: the installed one). ENTITIES users (340,000: a 30 s run of the
benchmark stream), rows of a skewed size (state bytes 200 B-8 KB), BATCHES batches of ROWS entities drawn
with a Zipf-like skew, written in one write_packed call each; prints µs per row. Seeded."""
import importlib.machinery, importlib.util, os, struct, sys, time, random
import numpy as np

so = os.environ.get("SO")
if so:
    loader = importlib.machinery.ExtensionFileLoader("streamfeat._store_native", so)
    spec = importlib.util.spec_from_file_location("streamfeat._store_native", so, loader=loader)
    mod = importlib.util.module_from_spec(spec); loader.exec_module(mod)
else:
    import streamfeat._store_native as mod
ENTITIES = int(os.environ.get("ENTITIES", 340_000)); ROWS = int(os.environ.get("ROWS", 10_000))
BATCHES = int(os.environ.get("BATCHES", 150))
rng = np.random.default_rng(7)
path = f"/dev/shm/s56-writer-{os.getpid()}.lmdb"
f = mod.LmdbFile(path, False, 1 << 33, False, True)
keys = [f"u{i}".encode() for i in range(ENTITIES)]
# state sizes: most small, a tail of large ones (heavy users)
sizes = np.minimum(8192, (rng.pareto(1.3, ENTITIES) * 200 + 200)).astype(int)
vals = b'{"count_lifetime": 12, "sum_amount_7d": 123.45, "max_amount_30d": 99.0, "approx_distinct_merchant_id_30d": 7}'
def pack(idx, version):
    parts = []
    for i in idx:
        k = keys[i]
        st = b"s" * int(sizes[i])
        parts.append(struct.pack("<I", len(k)) + k + struct.pack("<qqqq", version, version, version, version + 1000)
                     + struct.pack("<i", len(vals)) + vals + struct.pack("<i", len(st)) + st)
    return b"".join(parts)
# fill: every entity once
for start in range(0, ENTITIES, 50_000):
    f.write_packed([("user_txn", "fp", pack(range(start, min(ENTITIES, start + 50_000)), 1))])
weights = 1.0 / (np.arange(1, ENTITIES + 1) ** 0.8); weights /= weights.sum()
batches = [np.unique(rng.choice(ENTITIES, size=ROWS, p=weights)) for _ in range(BATCHES)]
REPS = int(os.environ.get("REPS", 4))
datas = [[pack(b, 2 + rep * BATCHES + n) for n, b in enumerate(batches)] for rep in range(REPS)]
rows = sum(len(b) for b in batches)
per_row = []
for rep in range(REPS):
    t = time.process_time()
    for d in datas[rep]:
        f.write_packed([("user_txn", "fp", d)])
    per_row.append((time.process_time() - t) / rows * 1e6)
print(f"{os.path.basename(so or 'installed')}: {rows:,} rows x {REPS}: µs/row min {min(per_row):.3f} all {' '.join(f'{x:.3f}' for x in per_row)}; counts {f.write_counts()}")
f.close()
for p in (path, path + "-lock"):
    try: os.unlink(p)
    except FileNotFoundError: pass
