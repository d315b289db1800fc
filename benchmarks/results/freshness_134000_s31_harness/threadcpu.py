"""Sample per-thread CPU of the streamfeat run process: at t1 and t2, print deltas grouped by thread name."""
import os, sys, time, subprocess, collections
def find():
    for _ in range(600):
        out = subprocess.run(["pgrep", "-f", "streamfeat run|streamfeat.cli run|-m streamfeat run"], capture_output=True, text=True).stdout.split()
        pids = [int(p) for p in out if int(p) != os.getpid()]
        for p in pids:
            try:
                cmd = open(f"/proc/{p}/cmdline","rb").read().replace(b"\0", b" ")
            except OSError: continue
            if b"run" in cmd and b"pgrep" not in cmd and b"benchmarks.freshness" not in cmd:
                return p, cmd
        time.sleep(0.5)
    sys.exit("no flow")
def snap(pid):
    res = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            st = open(f"/proc/{pid}/task/{tid}/stat").read()
            name = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
        except OSError: continue
        f = st.rsplit(")",1)[1].split()
        res[tid] = (name, int(f[11]) + int(f[12]))
    return res
pid, cmd = find(); print("pid", pid, cmd[:200])
if len(sys.argv) > 3:
    pid = [int(p) for p in subprocess.run(["pgrep", "-f", "benchmarks.freshness"], capture_output=True, text=True).stdout.split() if open(f"/proc/{p}/comm").read().startswith("python")][0]; print("watching bench", pid)
time.sleep(float(sys.argv[1]))
a = snap(pid); t = time.time(); sa = open("/proc/stat").readline().split()[1:]; pa = {p: open(f"/proc/{p}/stat").read().rsplit(")",1)[1].split() for p in os.listdir("/proc") if p.isdigit() and os.path.exists(f"/proc/{p}/stat")}
time.sleep(float(sys.argv[2]))
b = snap(pid); dt = time.time() - t; sb = open("/proc/stat").readline().split()[1:]
pb = {}
for p in pa:
    try: pb[p] = open(f"/proc/{p}/stat").read().rsplit(")",1)[1].split()
    except OSError: pass
ds = [int(y)-int(x) for x, y in zip(sa, sb)]
print("machine busy %", round(100*(sum(ds)-ds[3]-ds[4])/sum(ds)*2, 1), "of 200; iowait", ds[4])
tick0 = os.sysconf("SC_CLK_TCK")
rows = []
for p in pb:
    d = (int(pb[p][11])+int(pb[p][12]) - int(pa[p][11]) - int(pa[p][12]))/tick0/dt*100
    if d > 2:
        try: c = open(f"/proc/{p}/cmdline","rb").read().replace(b"\0", b" ")[:90]
        except OSError: c = b"?"
        rows.append((d, p, c))
for d, p, c in sorted(rows, reverse=True): print(f"  proc {p} {d:6.1f} % {c}")
tick = os.sysconf("SC_CLK_TCK")
groups = collections.Counter(); count = collections.Counter()
for tid, (name, cpu) in b.items():
    d = (cpu - a.get(tid, (name, 0))[1]) / tick / dt * 100
    groups[name] += d; count[name] += 1
for tid, (name, cpu) in sorted(b.items(), key=lambda kv: -(kv[1][1]-a.get(kv[0], ("",0))[1])):
    d = (cpu - a.get(tid, (name, 0))[1]) / tick / dt * 100
    if d > 0.5: print(f"  tid {tid} {name:16s} {d:6.1f} %")
print(subprocess.run(["py-spy", "dump", "--pid", str(pid), "--nonblocking"], capture_output=True, text=True).stdout[:3000])
for name, pct in groups.most_common():
    print(f"{name:20s} {count[name]:3d} threads {pct:6.1f} %")
print("total", round(sum(groups.values()),1))
