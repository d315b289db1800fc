"""Sample every thread's CPU of the `streamfeat run` process each second: OUT=file, waits for the process.
Prints per thread name (comm) the CPU ms per second over 0-10, 10-20, 20-25 and 25-30 s after the first sample
in which the workers are busy (the flow starts before production)."""
import os, sys, time, json
from collections import defaultdict
out = sys.argv[1]
tick = os.sysconf("SC_CLK_TCK")
def find():
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"run" in cmd and any(c.startswith(b"streamfeat") or c.endswith(b"/streamfeat") for c in cmd[:4]) \
                and b"nice" not in cmd[0]:
            return int(pid)
    return None
pid = None
while pid is None:
    pid = find(); time.sleep(0.2)
samples = []
while os.path.exists(f"/proc/{pid}"):
    row = {}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                s = open(f"/proc/{pid}/task/{tid}/stat").read()
            except OSError:
                continue
            name = s[s.index("(") + 1:s.rindex(")")]
            f = s[s.rindex(")") + 2:].split()
            row[f"{name}/{tid}"] = (int(f[11]) + int(f[12])) * 1000 // tick
    except OSError:
        break
    try:
        st = open(f"/proc/{pid}/stat").read(); f = st[st.rindex(")") + 2:].split()
        row["_minflt"] = int(f[7]); row["_rss_mb"] = int(f[21]) * 4096 // 2**20
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith(("AnonHugePages", "Anonymous", "Shmem")):
                k, v = line.split(":"); row["_" + k] = int(v.split()[0]) // 1024
    except OSError:
        pass
    samples.append((time.time(), row))
    time.sleep(1.0)
json.dump(samples, open(out, "w"))
