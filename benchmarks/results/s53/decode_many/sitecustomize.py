# DECODE_MANY=0: the state cache without from_bytes_many. Per-phase wall and thread-CPU time of a `streamfeat run` worker, summed per second, to CPUHOOK_OUT at exit.
import atexit, os, sys, threading, time, collections
_OUT = os.environ.get("CPUHOOK_OUT")
if _OUT and "run" in sys.argv:
    acc = collections.defaultdict(lambda: [0.0, 0.0, 0])  # (second, phase) -> wall, cpu, calls
    T0 = [None]
    def wrap(owner, name, label):
        orig = getattr(owner, name)
        def f(*a, **k):
            w, c = time.perf_counter(), time.thread_time()
            try:
                return orig(*a, **k)
            finally:
                if T0[0] is None: T0[0] = w
                e = acc[(int(w - T0[0]), label)]
                e[0] += time.perf_counter() - w; e[1] += time.thread_time() - c; e[2] += 1
        setattr(owner, name, f)
    def _install():
        if os.environ.get("DECODE_MANY") == "0":  # A/B: the state cache decodes one state per call, holding the GIL
            from operators import native as _n
            _n.NativeViewOperator.from_bytes_many = None
        from streamfeat import pipeline as p
        from streamfeat.state import cache, store
        from operators import native
        wrap(p.FeaturePipeline, "process", "process")
        wrap(p.FeaturePipeline, "commit", "commit")
        wrap(p, "decode_records", "decode")
        wrap(cache.EntityStateCache, "checkout", "checkout")
        wrap(cache.EntityStateCache, "checkin", "checkin")
        wrap(native.NativeViewOperator, "apply_publish", "apply_publish")
        wrap(p.FeaturePipeline, "_packed_rows", "packed_rows")
        wrap(p.FeaturePipeline, "_publish_rows", "publish_rows")
        wrap(store.RocksDBStateStore, "commit", "rocks_commit")
        wrap(store.RocksDBStateStore, "get_many", "rocks_get")
        wrap(cache.EntityStateCache, "mark_flushed", "mark_flushed")
        wrap(cache.EntityStateCache, "pending_writes", "pending_writes")
        from streamfeat import kafka_io
        wrap(kafka_io.PartitionReader, "read", "kafka_read")
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
            for (s, label), (w, c, n) in sorted(acc.items()):
                f.write(f"{s} {label} {w:.4f} {c:.4f} {n}\n")
    atexit.register(_dump)
