import os, sys
_out = os.environ.get("SF_RUSAGE")
if _out and "run" in sys.argv:
    import atexit, resource, threading, time
    _t0 = time.time()
    def _dump():
        r = resource.getrusage(resource.RUSAGE_SELF)
        with open(_out, "a") as f:
            f.write(f"{os.getpid()} wall={time.time()-_t0:.2f} user={r.ru_utime:.2f} sys={r.ru_stime:.2f} argv={' '.join(sys.argv[:3])}\n")
    atexit.register(_dump)
