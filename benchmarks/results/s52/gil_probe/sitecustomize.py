"""GIL probe for `streamfeat run` (on PYTHONPATH with GIL_PROBE=1): a thread sleeps 1 ms at a time
and records, per second, how late it got the GIL back: wakeups, summed lateness, the worst, and how
many were over 5 ms (the interpreter's switch interval). Written to $GIL_PROBE_OUT.<pid>."""
import os
import sys
import threading
import time

if os.environ.get("GIL_PROBE") and "streamfeat.cli" in " ".join(getattr(sys, "orig_argv", [])):
    def _probe():
        out = open(f"{os.environ.get('GIL_PROBE_OUT', '/tmp/gil-probe')}.{os.getpid()}", "w")
        second = int(time.time())
        n = late_sum = worst = over5 = 0
        last = time.perf_counter()
        while True:
            time.sleep(0.001)
            now = time.perf_counter()
            late = max(0.0, now - last - 0.001)
            last = now
            n += 1
            late_sum += late
            worst = max(worst, late)
            over5 += late > 0.005
            t = int(time.time())
            if t != second:
                out.write(f"{second} {n} {late_sum * 1000:.1f} {worst * 1000:.1f} {over5}\n")
                out.flush()
                second, n, late_sum, worst, over5 = t, 0, 0.0, 0.0, 0
    threading.Thread(target=_probe, daemon=True, name="gilprobe").start()
