"""A py-lmdb or native reader open while a py-lmdb or native writer grows the store past the 32 MiB map the reader
opened with (MDB_MAP_RESIZED before a76bc09). Usage: python3 resize_check.py native|py native|py"""
import random, sys, tempfile
from pathlib import Path
from streamfeat.online import LmdbStore
from streamfeat.online.base import StoredEntity
wn, rn = sys.argv[1] == "native", sys.argv[2] == "native"
d = Path(tempfile.mkdtemp()); path = d / "online.lmdb"
rng = random.Random(3)
with LmdbStore(path, map_size=1 << 20, native=wn) as store:
    store.write("user_txn", "0123456789abcdef", {"u0": StoredEntity(b"x", 1, 1)})
    import subprocess
    code = f"""
from streamfeat.online import LmdbStore
import sys
with LmdbStore({str(path)!r}, readonly=True, native={rn}) as store:
    for line in sys.stdin:
        rows = store.get_raw("user_txn", "0123456789abcdef", line.split())
        print([None if r is None else r.version for r in rows], flush=True)
"""
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    p.stdin.write("u0\n"); p.stdin.flush(); print(p.stdout.readline().strip())
    store.write("user_txn", "0123456789abcdef", {f"u{i}": StoredEntity(rng.randbytes(3000), 2, i) for i in range(15000)})
    print("size", path.stat().st_size)
    p.stdin.write("u0 u14999\n"); p.stdin.flush(); print(p.stdout.readline().strip())
    p.stdin.close(); p.wait(); print("rc", p.returncode)
