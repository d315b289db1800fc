"""Commits numbered batches to a state store forever; test_crash.py kills it with SIGKILL.

Batch ``i`` (from 0) writes, in one commit:

* entities ``e0``..``e{ENTITIES-1}``, each ``i`` as 8 bytes big-endian plus padding;
* marker ``m{i}``, and deletes marker ``m{i - MARKERS_KEPT}``;
* offsets ``("t", 0) -> i + 1`` and ``("t", 1) -> 2 * (i + 1)``.

So a store holding offset ``n`` on ``("t", 0)`` must hold exactly batch ``n - 1``'s writes.
Usage: ``python crash_writer.py DB_PATH [no-wal]``; prints ``ready`` after the first commit.
With ``no-wal`` the store skips the write-ahead log and flushes its memtable every 50 ms
(and once after the first commit, so that one is on disk when ``ready`` is printed).
"""

from __future__ import annotations

import sys

from streamfeat.state import RocksDBStateStore
from streamfeat.state import keys as layout

FINGERPRINT = "c0ffee00c0ffee00"
PREFIX = layout.view_prefix(FINGERPRINT)
ENTITIES = 200
PADDING = b"x" * 1000
MARKERS_KEPT = 5


def entity(j: int) -> bytes:
    return layout.state_key(PREFIX, f"e{j}")


def marker(i: int) -> bytes:
    return layout.state_key(PREFIX, f"m{i}")


def main(path: str, wal: bool = True) -> None:
    store = RocksDBStateStore(path, wal=wal, flush_interval_s=0.05)
    i = 0
    while True:
        puts = {entity(j): i.to_bytes(8, "big") + PADDING for j in range(ENTITIES)}
        puts[marker(i)] = b"m"
        deletes = [marker(i - MARKERS_KEPT)] if i >= MARKERS_KEPT else []
        store.commit(puts, deletes, {("t", 0): i + 1, ("t", 1): 2 * (i + 1)})
        if i == 0:
            if not wal:
                store.flush()
            print("ready", flush=True)
        i += 1


if __name__ == "__main__":
    main(sys.argv[1], wal=sys.argv[2:] != ["no-wal"])
