"""kill -9 at a random moment never separates state from the offsets committed with it."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streamfeat.state import RocksDBStateStore
from tests.streamfeat.state import crash_writer as writer

WRITER = Path(writer.__file__)


@pytest.mark.parametrize("wal", [True, False], ids=["wal", "no-wal"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_mid_stream_leaves_whole_batches(tmp_path, seed, wal):
    """With the write-ahead log every commit before the kill survives; without it (commits
    durable at memtable flushes) an older one may be what survives, but always whole."""
    rng = random.Random(seed)
    path = tmp_path / "db"
    command = [sys.executable, str(WRITER), str(path), *([] if wal else ["no-wal"])]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.3))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    with RocksDBStateStore(path) as store:
        offsets = store.offsets()
        n = offsets[("t", 0)]  # batches 0 .. n-1 committed
        assert n >= 1, offsets
        assert offsets == {("t", 0): n, ("t", 1): 2 * n}
        values = store.get_many([writer.entity(j) for j in range(writer.ENTITIES)])
        assert {v[:8] for v in values if v is not None} == {(n - 1).to_bytes(8, "big")}
        assert all(v is not None for v in values)
        kept = range(max(0, n - writer.MARKERS_KEPT), n)
        markers = [key for key, _ in store.scan(writer.PREFIX) if key.startswith(writer.marker(0)[:-1])]
        assert sorted(markers) == sorted(writer.marker(i) for i in kept)  # batch n absent, old ones deleted
