"""Where the bytes of the published states go, per feature of the example view: the simulation of the
freshness regime (`../pipeline_late_regime_s32/pipe_sim_fresh.py`) with every 10th batch's published
state bytes split into the state header and each feature's blob (u32 length + bytes), summed over rows
(so weighted by how often an entity is published, as the stores' write volume is). Also per quarter of the run.
Usage (repository root): PYTHONPATH=. python3 feature_bytes.py EVENTS BATCH"""
import collections
import runpy
import struct
import sys

from streamfeat import pipeline as P
from streamfeat.examples.transactions import user_txn

from streamfeat.build import build_view

names = list(build_view(user_txn).names)
per_quarter: list[collections.Counter] = []
calls = [0]
orig = P.FeaturePipeline._packed_rows


def split(data: bytes, into: collections.Counter) -> None:
    at = 1 + 24
    (count,) = struct.unpack_from(">I", data, at)
    at += 4
    into["header"] += at
    for i in range(count):
        (size,) = struct.unpack_from(">I", data, at)
        into[names[i]] += 4 + size
        at += 4 + size
    into["rows"] += 1


def packed_rows(self, runtime, entities, published):  # type: ignore[no-untyped-def]
    calls[0] += 1
    if calls[0] % 10 == 0:
        target = per_quarter[-1] if per_quarter else None
        if target is not None:
            for data in published[1]:
                if data is not None:
                    split(data, target)
    return orig(self, runtime, entities, published)


P.FeaturePipeline._packed_rows = packed_rows
# a new counter per quarter of the run (by the events handed to the pipelines)
per_quarter.append(collections.Counter())
orig_process = P.FeaturePipeline.process
seen = [0]
EVENTS = int(sys.argv[1])


def process(self, topic, partition, offsets, payloads, arrivals):  # type: ignore[no-untyped-def]
    seen[0] += len(offsets)
    if seen[0] > len(per_quarter) * EVENTS // 4 and len(per_quarter) < 4:
        per_quarter.append(collections.Counter())
    return orig_process(self, topic, partition, offsets, payloads, arrivals)


P.FeaturePipeline.process = process
sys.argv = ["x"] + sys.argv[1:]
runpy.run_path("benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py", run_name="__main__")
for q, counter in enumerate(per_quarter, 1):
    rows = counter.pop("rows", 0) or 1
    total = sum(counter.values())
    parts = ", ".join(f"{k} {v / rows:.0f} ({100 * v / total:.0f} %)" for k, v in counter.most_common())
    print(f"quarter {q}: {rows:,} rows sampled, {total / rows:.0f} bytes per row: {parts}")
