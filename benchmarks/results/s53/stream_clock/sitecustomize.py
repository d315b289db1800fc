# Benchmark-only: a `streamfeat run` whose pipelines publish values as of the stream's own time (the newest
# event time decoded so far, in any partition of the process) instead of the wall clock — what a live stream,
# whose event times are about now, reads. STREAM_CLOCK=1 turns it on.
import os, sys
if os.environ.get("STREAM_CLOCK") == "1" and "run" in sys.argv:
    import importlib.abc, importlib.machinery, threading
    class StreamClock:
        def __init__(self):
            self.now = None
            self.lock = threading.Lock()
        def advance(self, times):
            if times:
                newest = max(times)
                with self.lock:
                    if self.now is None or newest > self.now:
                        self.now = newest
        def now_ms(self):
            if self.now is None:
                import time
                return int(time.time() * 1000)
            return self.now
    CLOCK = StreamClock()
    def _install(p):
        init = p.FeaturePipeline.__init__
        def __init__(self, *a, **k):
            init(self, *a, **k)
            self._clock = CLOCK
        p.FeaturePipeline.__init__ = __init__
        decode = p.decode_records
        def decode_records(*a, **k):
            decoded, dead = decode(*a, **k)
            CLOCK.advance(decoded.event_times)
            return decoded, dead
        p.decode_records = decode_records
    class _Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "streamfeat.pipeline":
                sys.meta_path.remove(self)
                spec = importlib.machinery.PathFinder.find_spec(name, path)
                orig = spec.loader.exec_module
                def exec_module(module):
                    orig(module)
                    _install(module)
                spec.loader.exec_module = exec_module
                return spec
            return None
    sys.meta_path.insert(0, _Finder())
