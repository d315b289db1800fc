# Which worker thread runs which partition, and each (thread, partition)'s records and batch CPU, to PARTHOOK_OUT at exit.
import atexit, os, sys, threading, time, collections
_OUT = os.environ.get("PARTHOOK_OUT")
if _OUT and "run" in sys.argv:
    acc = collections.defaultdict(lambda: [0, 0, 0.0, 0.0])  # (thread name, native id, partition) -> batches, records, cpu, wall
    def _install():
        from streamfeat import pipeline as p
        orig = p.FeaturePipeline.process
        def process(self, topic, partition, offsets, payloads, arrivals):
            w, c = time.perf_counter(), time.thread_time()
            try:
                return orig(self, topic, partition, offsets, payloads, arrivals)
            finally:
                e = acc[(threading.current_thread().name, threading.get_native_id(), partition)]
                e[0] += 1; e[1] += len(payloads); e[2] += time.thread_time() - c; e[3] += time.perf_counter() - w
        p.FeaturePipeline.process = process
        from streamfeat import compile as c, kafka_io
        def wrap(owner, name, label):
            inner = getattr(owner, name)
            def f(*a, **k):
                w, t = time.perf_counter(), time.thread_time()
                try:
                    return inner(*a, **k)
                finally:
                    e = acc[(label, threading.get_native_id(), -1)]
                    e[0] += 1; e[2] += time.thread_time() - t; e[3] += time.perf_counter() - w
            setattr(owner, name, f)
        wrap(c._FeaturePartition, "next_batch", "next_batch")
        T0 = [None]
        rows_orig = p.FeaturePipeline._packed_rows
        def packed_rows(self, runtime, entities, published):
            packed, data, values_only, large_at = published
            now = time.time()
            if T0[0] is None: T0[0] = now
            e = acc[("rows", int(now - T0[0]), -2)]
            full_bytes = sum(len(d) for d in data if d is not None)
            e[0] += len(entities); e[1] += len(values_only); e[2] += len(packed) / 1e6; e[3] += full_bytes / 1e6
            e2 = acc[("large_at", int(now - T0[0]), -2)]
            e2[0] += len(large_at); e2[1] += len(runtime.large)
            return rows_orig(self, runtime, entities, published)
        p.FeaturePipeline._packed_rows = packed_rows
        wrap(kafka_io.PartitionReader, "read", "kafka_read")
        wrap(p.FeaturePipeline, "commit", "commit")
        wrap(p.FeaturePipeline, "commit_if_due", "commit_if_due")
        wrap(c._ProgressSink, "build", "sink_build")
        durations = []
        inner_flush = kafka_io.KafkaRejectSink.flush
        def reject_flush(self):
            w = time.perf_counter()
            try:
                return inner_flush(self)
            finally:
                durations.append(time.perf_counter() - w)
        kafka_io.KafkaRejectSink.flush = reject_flush
        commit_durations = []
        inner_commit = p.FeaturePipeline.commit
        def commit(self, *a, **k):
            w = time.perf_counter()
            try:
                return inner_commit(self, *a, **k)
            finally:
                commit_durations.append(time.perf_counter() - w)
        p.FeaturePipeline.commit = commit
        def _dump_flush():
            import statistics
            for name, d in (("reject flush", durations), ("commit", commit_durations)):
                if d:
                    q = statistics.quantiles([x * 1000 for x in d], n=100)
                    with open(_OUT + ".flush", "a") as f:
                        f.write(f"{name}: n={len(d)} mean={1000*sum(d)/len(d):.1f} p50={q[49]:.1f} p90={q[89]:.1f} p99={q[98]:.1f} max={1000*max(d):.1f} ms\n")
        atexit.register(_dump_flush)
    import importlib.abc, importlib.machinery
    class _Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "streamfeat.pipeline":
                sys.meta_path.remove(self)
                spec = importlib.machinery.PathFinder.find_spec(name, path)
                orig_exec = spec.loader.exec_module
                def exec_module(module):
                    orig_exec(module)
                    _install()
                spec.loader.exec_module = exec_module
                return spec
            return None
    sys.meta_path.insert(0, _Finder())
    def _dump():
        with open(_OUT, "w") as f:
            for k, (b, n, c, w) in sorted(acc.items(), key=lambda x: x[0][1:]):
                f.write(f"{k[0]} tid={k[1]} partition={k[2]} batches={b} records={n} cpu_s={c:.2f} wall_s={w:.2f} "
                        f"us_per_record={1e6 * c / max(n, 1):.2f} records_per_batch={n / max(b, 1):.0f}\n")
    atexit.register(_dump)
