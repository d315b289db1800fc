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
- ``["phase", name, start, end, thread, cpu]`` — a part of a commit (since stop 37; ``cpu``, the
  thread's CPU seconds in it, since stop 53): the state store's write, the cache's recency order,
  the reject sink's flush, ...
- ``["gc", start, end, generation]`` — a cyclic garbage collection (it stops every thread)
- ``["step", name, start, end, thread, cpu]`` — a part of a worker's work with the thread's CPU
  seconds in it (since stop 53): the whole batch, the Kafka read, decoding, state reads, the operators
  and rows, the commit... Wall time minus CPU time is what the worker waited for: the GIL, or a core.
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
    cpu = time.thread_time
    ident = threading.get_ident

    read = kafka_io.PartitionReader.read

    def traced_read(self: Any, max_records: int, timeout_s: float) -> Any:
        start, used = clock(), cpu()
        batch = read(self, max_records, timeout_s)
        if batch.payloads:
            add(["step", "Kafka read", start, clock(), ident(), cpu() - used])
            stamps = [t for t in batch.timestamps if t is not None]
            add(["read", clock(), ident(), len(batch.payloads), min(stamps, default=None), batch.newest_timestamp])
        return batch

    process = pipeline.FeaturePipeline.process

    def traced_process(self: Any, topic: str, partition: int, offsets: Any, payloads: Any, arrivals: Any) -> Any:
        start, used = clock(), cpu()
        report = process(self, topic, partition, offsets, payloads, arrivals)
        end = clock()
        add(["proc", start, end, ident(), len(payloads)])
        add(["step", "batch", start, end, ident(), cpu() - used])
        return report

    commit = pipeline.FeaturePipeline.commit

    def traced_commit(self: Any, *args: Any, **kwargs: Any) -> Any:
        start, used = clock(), cpu()
        result = commit(self, *args, **kwargs)
        end = clock()
        add(["commit", start, end, ident()])
        add(["step", "commit (in a batch or not)", start, end, ident(), cpu() - used])
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

    def timed(kind: str, owner: Any, name: str, label: str) -> None:
        """Record each call of ``owner.name`` (a class's method or a module's function) as
        ``[kind, label, start, end, thread, cpu]``: a commit ``phase`` or a worker ``step``."""
        inner = getattr(owner, name)

        def traced(*args: Any, **kwargs: Any) -> Any:
            start, used = clock(), cpu()
            try:
                return inner(*args, **kwargs)
            finally:
                add([kind, label, start, clock(), ident(), cpu() - used])

        setattr(owner, name, traced)

    from operators import native
    from streamfeat.state import cache, store

    timed("step", pipeline, "decode_records", "batch: decode and validate")
    timed("step", cache.EntityStateCache, "checkout", "batch: state reads (cache, RocksDB, decoding)")
    timed("step", native.NativeViewOperator, "apply_publish", "batch: operators and online rows (native)")
    timed("step", pipeline.FeaturePipeline, "_packed_rows", "batch: rows' bookkeeping")
    timed("step", cache.EntityStateCache, "checkin", "batch: new states into the cache")
    timed("step", pipeline.FeaturePipeline, "_publish_rows", "batch: hand-off to the online writer")

    timed("phase", pipeline.FeaturePipeline, "_encode_dirty", "encode what the batches did not")
    timed("phase", cache.EntityStateCache, "pending_writes", "collect the state writes")
    timed("phase", kafka_io.KafkaRejectSink, "flush", "flush dead letters and late records")
    timed("phase", store.RocksDBStateStore, "commit", "RocksDB write batch (states and offsets)")
    timed("phase", cache.EntityStateCache, "mark_flushed", "recency order and eviction")

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
