"""Per-thread CPU of the `streamfeat.cli run` process, per second: one JSON line per sample.

Usage: [PATTERN=run_kept.py] python3 threads_timeline.py OUT.jsonl   (waits for the flow, or the process
whose command line holds PATTERN; ends when it exits)
Then: python3 threads_timeline.py --report OUT.jsonl [BUCKET_S]  (CPU % of a core by thread group per bucket)
"""
import collections
import json
import os
import re
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
# which process: the flow (default), or with PATTERN=text the first whose command line holds it
_PATTERN = os.environ.get("PATTERN", "").encode()
MATCH = (lambda cmd: any(_PATTERN in part for part in cmd)) if _PATTERN else (
    lambda cmd: b"streamfeat.cli" in cmd and b"run" in cmd)


def find():
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if MATCH(cmd) and int(pid) != os.getpid():
            return int(pid)
    return None


def snap(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
            fields = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
            out[tid] = (comm, (int(fields[11]) + int(fields[12])) / TICK)
        except OSError:
            pass
    return out


def record(path):
    pid = None
    while pid is None:
        pid = find()
        time.sleep(0.1)
    t0 = time.monotonic()
    with open(path, "w") as out:
        while True:
            try:
                sample = snap(pid)
            except OSError:
                break
            if not sample:
                break
            out.write(json.dumps({"t": round(time.monotonic() - t0, 3), "threads": sample}) + "\n")
            out.flush()
            time.sleep(1.0)


def group(comm, tid, writer_tids):
    if tid in writer_tids:
        return "online-writer"
    if comm.startswith("rdk:"):
        return "librdkafka"
    return re.sub(r"\d+$", "", comm)


def report(path, bucket):
    rows = [json.loads(line) for line in open(path)]
    # the online writer inherits a worker's name; it is the third-oldest timely thread (highest tid)
    timely = sorted({tid for r in rows for tid, (c, _) in r["threads"].items() if c.startswith("timely:work")}, key=int)
    writer_tids = set(timely[2:])
    prev = rows[0]
    acc = collections.defaultdict(lambda: collections.Counter())
    for r in rows[1:]:
        b = int(r["t"] // bucket) * bucket
        for tid, (comm, cpu) in r["threads"].items():
            before = prev["threads"].get(tid, (comm, 0.0))[1]
            acc[b][group(comm, tid, writer_tids)] += cpu - before
        prev = r
    names = sorted({n for c in acc.values() for n in c}, key=lambda n: -sum(c[n] for c in acc.values()))
    print("t(s)  " + "  ".join(f"{n[:14]:>14s}" for n in names) + "   total")
    for b in sorted(acc):
        c = acc[b]
        print(f"{b:4d}  " + "  ".join(f"{100 * c[n] / bucket:14.1f}" for n in names) + f"  {100 * sum(c.values()) / bucket:6.1f}")


if __name__ == "__main__":
    if sys.argv[1] == "--report":
        report(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 5)
    else:
        record(sys.argv[1])
