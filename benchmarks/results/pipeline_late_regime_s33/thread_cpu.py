"""Sample CPU per thread of processes matching patterns, every INTERVAL s; print totals per window."""
import os, sys, time, re, collections
HZ = os.sysconf("SC_CLK_TCK")
def procs():
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit(): continue
        try: cmd = open(f"/proc/{pid}/cmdline","rb").read().replace(b"\0",b" ").decode(errors="replace")
        except OSError: continue
        if "streamfeat.cli run" in cmd: out[pid] = "flow"
        elif "benchmarks.freshness" in cmd: out[pid] = "bench"
        elif "kafka.Kafka" in cmd or "kafka_2.13" in cmd and "java" in cmd: out[pid] = "broker"
    return out
def sample():
    res = collections.Counter()
    for pid, role in procs().items():
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                s = open(f"/proc/{pid}/task/{tid}/stat").read()
                name = s[s.index("(")+1:s.rindex(")")]
                f = s[s.rindex(")")+2:].split()
                res[(role, pid, tid, name)] += int(f[11]) + int(f[12])
        except OSError: pass
    return res
dur = float(sys.argv[1]); win = float(sys.argv[2])
prev = sample(); t0 = time.time()
tot = collections.Counter()
while time.time() - t0 < dur:
    time.sleep(win)
    cur = sample()
    d = collections.Counter({k: cur[k]-prev.get(k,0) for k in cur})
    byrole = collections.Counter()
    for k,v in d.items(): byrole[k[0]] += v
    print(f"t={time.time()-t0:5.1f}", {r: round(100*v/HZ/win) for r,v in byrole.items()}, flush=True)
    tot.update(d); prev = cur
print("totals % of one core over", dur, "s by thread name:")
agg = collections.Counter()
for (role,pid,tid,name),v in tot.items(): agg[(role,name)] += v
for (role,name),v in agg.most_common(30): print(f"  {role:6s} {name:25s} {100*v/HZ/dur:6.1f}%")
