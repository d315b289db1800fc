"""Timeline tracing of a `streamfeat run` process, for benchmarks only.

Put this directory first on ``PYTHONPATH`` and set ``STREAMFEAT_TRACE=FILE``: a Python process
started with ``run`` among its arguments then records, in memory, every non-empty Kafka read,
every pipeline batch, hand-off to the online writer, writer round and commit, and writes them to
FILE as JSON lines when it exits (a clean stop: SIGINT/SIGTERM or ``--stop-at-end``).
``python -m benchmarks.flow_trace FILE`` says where a record's time went.

It wraps methods of ``streamfeat.kafka_io.PartitionReader``, ``streamfeat.pipeline.FeaturePipeline``
and ``streamfeat.online.background.BackgroundWriter``; each record costs a ``time.time()`` call and
a list append. Records (times in UTC seconds, Kafka timestamps in ms):

- ``["read", at, thread, records, oldest_kafka_ts, newest_kafka_ts]``
- ``["proc", start, end, thread, records]`` — ``FeaturePipeline.process``
- ``["hand", start, end, thread, rows]`` — ``BackgroundWriter.write`` (returns once queued)
- ``["wround", start, end, buffers]`` — one writer round (everything queued at its start)
- ``["commit", start, end, thread]`` — ``FeaturePipeline.commit``
- ``["phase", name, start, end, thread]`` — a part of a commit (since stop 37): the state store's
  write, the cache's recency order, the reject sink's flush, ...
- ``["gc", start, end, generation]`` — a cyclic garbage collection (it stops every thread)
"""

from __future__ import annotations

import os
import sys

_TARGET = os.environ.get("STREAMFEAT_TRACE")


def _install(target: str) -> None:
    import atexit
    import gc
    import json
    import threading
    import time
    from typing import Any

    from streamfeat import kafka_io, pipeline
    from streamfeat.online import background

    records: list[list[Any]] = []
    add = records.append
    clock = time.time
    ident = threading.get_ident

    read = kafka_io.PartitionReader.read

    def traced_read(self: Any, max_records: int, timeout_s: float) -> Any:
        batch = read(self, max_records, timeout_s)
        if batch.payloads:
            stamps = [t for t in batch.timestamps if t is not None]
            add(["read", clock(), ident(), len(batch.payloads), min(stamps, default=None), batch.newest_timestamp])
        return batch

    process = pipeline.FeaturePipeline.process

    def traced_process(self: Any, topic: str, partition: int, offsets: Any, payloads: Any, arrivals: Any) -> Any:
        start = clock()
        report = process(self, topic, partition, offsets, payloads, arrivals)
        add(["proc", start, clock(), ident(), len(payloads)])
        return report

    commit = pipeline.FeaturePipeline.commit

    def traced_commit(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = clock()
        result = commit(self, *args, **kwargs)
        add(["commit", start, clock(), ident()])
        return result

    write = background.BackgroundWriter.write

    def traced_write(self: Any, view: str, fingerprint: str, rows: Any) -> int:
        start = clock()
        count = write(self, view, fingerprint, rows)
        add(["hand", start, clock(), ident(), count])
        return count

    round_ = background.BackgroundWriter._write_with_retries

    def traced_round(self: Any, pending: Any, superseded: Any, packed: Any) -> None:
        start = clock()
        round_(self, pending, superseded, packed)
        add(["wround", start, clock(), len(packed) + len(pending) + len(superseded)])

    def phase(cls: Any, name: str, label: str) -> None:
        """Time each call of ``cls.name`` as a commit phase ``label``."""
        inner = getattr(cls, name)

        def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
            start = clock()
            try:
                return inner(self, *args, **kwargs)
            finally:
                add(["phase", label, start, clock(), ident()])

        setattr(cls, name, traced)

    from streamfeat.state import cache, store

    phase(pipeline.FeaturePipeline, "_encode_dirty", "encode what the batches did not")
    phase(cache.EntityStateCache, "pending_writes", "collect the state writes")
    phase(kafka_io.KafkaRejectSink, "flush", "flush dead letters and late records")
    phase(store.RocksDBStateStore, "commit", "RocksDB write batch (states and offsets)")
    phase(cache.EntityStateCache, "mark_flushed", "recency order and eviction")

    kafka_io.PartitionReader.read = traced_read  # type: ignore[method-assign]
    pipeline.FeaturePipeline.process = traced_process  # type: ignore[method-assign]
    pipeline.FeaturePipeline.commit = traced_commit  # type: ignore[method-assign]
    background.BackgroundWriter.write = traced_write  # type: ignore[method-assign]
    background.BackgroundWriter._write_with_retries = traced_round  # type: ignore[method-assign]

    collecting: list[float] = []

    def traced_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collecting.append(clock())
        elif collecting:
            add(["gc", collecting.pop(), clock(), info["generation"]])

    gc.callbacks.append(traced_gc)

    def dump() -> None:
        with open(target, "w") as out:
            out.writelines(json.dumps(record) + "\n" for record in records)

    atexit.register(dump)


if _TARGET and "run" in sys.argv[1:]:
    _install(_TARGET)
