"""Publishing late states alone: the native core's publish_packed over the states a late stretch of the
freshness stream touches, timed by thread CPU (the rest of the pipeline left out, so that an encoding change
shows above the noise of the whole simulation).

The first EVENTS events of W1 with recent event times (as `benchmarks.freshness` produces them) are applied
in batches of 6,000 (four partitions' turns of 1,500) with the clock at their planned arrival at 134,000
events/s; the distinct entities of each of the last BATCHES batches are then published REPEAT times as of
that clock, as the pipeline does after each batch.
Usage (repository root): PYTHONPATH=. python3 publish_micro.py [EVENTS] [BATCHES] [REPEAT]
Prints the CPU seconds of the publishing, its bytes, and the operators module it ran."""
import sys
import time

import numpy as np

import operators._native as native_module
from benchmarks.streaming import recent
from streamfeat.build import build_view
from streamfeat.examples.transactions import user_txn
from streamfeat.workload import W1, generate

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000_000
BATCHES = int(sys.argv[2]) if len(sys.argv) > 2 else 100
REPEAT = int(sys.argv[3]) if len(sys.argv) > 3 else 5
BATCH = 6_000

op = build_view(user_txn)
batch = generate(recent(W1, EVENTS), limit=EVENTS)
keys = batch.user_ids()
columns = {"user_id": keys, "merchant_id": batch.merchant_ids(), "amount": batch.amount.tolist()}
times = batch.event_time.tolist()
now0 = int(time.time() * 1000)
planned = (now0 + np.arange(EVENTS) * (1000.0 / 134000)).astype(np.int64).tolist()
states: dict = {}
late: list[tuple[list[str], int]] = []
first_late = EVENTS - BATCHES * BATCH
for start in range(0, EVENTS, BATCH):
    end = min(EVENTS, start + BATCH)
    cols = op.columns_for({name: values[start:end] for name, values in columns.items()})
    op.apply_batch(states, keys[start:end], times[start:end], planned[start:end], cols)
    if start >= first_late:
        late.append((list(dict.fromkeys(keys[start:end])), planned[end - 1]))
# The states as they stand at the end: later than when each batch published them, so larger on average.
# States of 16 KiB or more go out values-only where their values hold (`--large-state-bytes`), as in the flow.
large = {k for entities, _ in late for k in entities if len(op.to_bytes(states[k])) >= 16384}
total_bytes = 0
cpu = 0.0
for _ in range(REPEAT):
    for entities, at in late:
        picked = [states[k] for k in entities]
        started = time.thread_time()
        packed, data, values_only, large_at = op.publish_packed(picked, entities, at, at + 2000, [k in large for k in entities], 16384)
        cpu += time.thread_time() - started
        total_bytes += len(packed)
rows = sum(len(e) for e, _ in late) * REPEAT
print(f"{native_module.__file__}: {len(large)} large states; publish_packed {cpu:.3f} s CPU for {rows:,} rows ({total_bytes / rows:.0f} packed bytes per row), "
      f"{cpu / rows * 1e6:.3f} us per row")
