"""Sample per-thread CPU of the `streamfeat.cli run` process every 5 s; print totals by thread name."""
import os, time, sys, collections
def find():
    for pid in os.listdir('/proc'):
        if not pid.isdigit(): continue
        try: cmd = open(f'/proc/{pid}/cmdline','rb').read().split(b'\0')
        except OSError: continue
        if b'streamfeat.cli' in cmd and b'run' in cmd: return int(pid)
def snap(pid):
    out = {}
    for tid in os.listdir(f'/proc/{pid}/task'):
        try:
            comm = open(f'/proc/{pid}/task/{tid}/comm').read().strip()
            f = open(f'/proc/{pid}/task/{tid}/stat').read().rsplit(')',1)[1].split()
            out[tid] = (comm, (int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK'))
        except OSError: pass
    return out
pid = None
while pid is None: pid = find(); time.sleep(0.2)
first = snap(pid); t0 = time.time(); last = first
while True:
    time.sleep(1)
    try: s = snap(pid)
    except OSError: break
    if not s: break
    last = s; t1 = time.time()
by = collections.Counter()
for tid, (comm, cpu) in last.items():
    by[f"{comm}/{tid}"] += cpu - first.get(tid, (comm, 0.0))[1]
tot = sum(by.values())
print(f"wall {t1-t0:.1f}s total cpu {tot:.1f}s")
for comm, cpu in by.most_common(): print(f"{comm:20s} {cpu:7.2f}s {100*cpu/tot:5.1f}%")
