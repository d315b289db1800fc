import os, sys, threading, time
if os.environ.get("GIL_PROBE") and "streamfeat.cli" in " ".join(sys.orig_argv if hasattr(sys, "orig_argv") else []):
    def _probe():
        out = open(f"/tmp/streamfeat-gil-gaps.{os.getpid()}", "w")
        last = time.perf_counter()
        while True:
            time.sleep(0.001)
            now = time.perf_counter()
            gap = now - last
            if gap > 0.010:
                out.write(f"{time.time():.3f} {gap*1000:.1f}\n")
                out.flush()
            last = now
    threading.Thread(target=_probe, daemon=True, name="gilprobe").start()
