# Per batch of a `streamfeat run`: wall and thread-CPU time of FeaturePipeline.process (and commit), to
# CPUHOOK_OUT at exit, one line each: kind (p/c) thread start wall_s cpu_s records. wall - cpu = time the
# worker waited (for the GIL or a core). `report.py FILE` fits CPU and wall on records per batch.
import atexit, os, sys, threading, time
_OUT = os.environ.get("CPUHOOK_OUT")
if _OUT and "run" in sys.argv:
    rows = []
    def _install():
        from streamfeat import pipeline as p
        orig, origc = p.FeaturePipeline.process, p.FeaturePipeline.commit
        def process(self, topic, partition, offsets, payloads, arrivals):
            w, c = time.perf_counter(), time.thread_time()
            r = orig(self, topic, partition, offsets, payloads, arrivals)
            rows.append(("p", threading.get_ident(), w, time.perf_counter() - w, time.thread_time() - c, len(offsets)))
            return r
        def commit(self, *a, **k):
            w, c = time.perf_counter(), time.thread_time()
            r = origc(self, *a, **k)
            rows.append(("c", threading.get_ident(), w, time.perf_counter() - w, time.thread_time() - c, 0))
            return r
        p.FeaturePipeline.process, p.FeaturePipeline.commit = process, commit
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
            for r in rows:
                f.write(" ".join(map(str, r)) + "\n")
    atexit.register(_dump)
