"""Probe: every cyclic collection in a `streamfeat run` process — generation, thread, CPU and wall time, objects
collected — summed, written at exit to gc_callbacks.txt (GCCB_OUT, default /tmp/gc_callbacks.txt)."""
import atexit, gc, os, sys, threading, time
if "streamfeat.cli" in " ".join(sys.argv) or (len(sys.argv) > 1 and sys.argv[1] == "run"):
    _start = {}
    _sums = {}
    def _cb(phase, info):
        key = (info["generation"], threading.current_thread().name)
        if phase == "start":
            _start[threading.get_ident()] = (time.perf_counter(), time.thread_time())
        else:
            w0, c0 = _start.pop(threading.get_ident(), (time.perf_counter(), time.thread_time()))
            s = _sums.setdefault(key, [0, 0.0, 0.0, 0, 0.0])
            s[0] += 1; s[1] += time.perf_counter() - w0; s[2] += time.thread_time() - c0; s[3] += info["collected"]
            s[4] = max(s[4], time.perf_counter() - w0)
    gc.callbacks.append(_cb)
    def _dump():
        with open(os.environ.get("GCCB_OUT", "/tmp/gc_callbacks.txt"), "a") as f:
            f.write(f"pid {os.getpid()} argv {' '.join(sys.argv)[:80]}\n")
            for (g, t), (n, w, c, col, mx) in sorted(_sums.items()):
                f.write(f"  gen {g} thread {t}: {n} passes, wall {w:.3f} s, cpu {c:.3f} s, longest {mx*1e3:.1f} ms, collected {col}\n")
    atexit.register(_dump)
