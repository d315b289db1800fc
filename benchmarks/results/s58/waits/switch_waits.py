import re, collections, sys
events=[]; cur=None
for line in open(sys.argv[1]):
    if not line.strip():
        if cur: events.append(cur); cur=None
        continue
    if not line.startswith((" ","\t")):
        m=re.match(r"\s*(\d+)\s+([\d.]+):\s+prev_comm=(.*?) prev_pid=(\d+).*next_comm=(.*?) next_pid=(\d+)", line)
        if m: cur=[float(m.group(2)), int(m.group(4)), int(m.group(6)), [], m.group(3)]
    elif cur is not None:
        parts=line.strip().split(None,1); cur[3].append(parts[1] if len(parts)>1 else "?")
if cur: events.append(cur)
def cat(fr):
    j=" ".join(fr)
    if "take_gil" in j or "PyEval_RestoreThread" in j or "PyGILState_Ensure" in j or "PyEval_AcquireThread" in j: return "GIL"
    if "park" in j: return "park (timely idle)"
    if "rocksdb" in j: return "rocksdb"
    if "mdb_" in j or "lmdb" in j: return "lmdb"
    if "irqentry_exit" in j or "exit_to_user_mode" in j or "sysvec" in j: return "preempted"
    if "Condvar" in j or "condvar" in j or "pthread_cond" in j: return "condvar"
    return "other"
pending={}; dur=collections.defaultdict(float); cnt=collections.Counter(); names={}
span = events[-1][0]-events[0][0] if events else 0
for t,prev,nxt,fr,pcomm in events:
    pending[prev]=(t,cat(fr)); names[prev]=pcomm
    if nxt in pending:
        t0,c=pending.pop(nxt); dur[(nxt,c)]+=t-t0; cnt[(nxt,c)]+=1
print(f"span {span:.2f} s")
for tid in sorted({k[0] for k in dur if names.get(k[0],"").startswith("timely")}):
    tot=sum(v for (t,c),v in dur.items() if t==tid)
    print(tid, names[tid], f"off-cpu {tot*1000:.0f} ms")
    for (t,c),v in sorted(dur.items(), key=lambda x:-x[1]):
        if t==tid: print(f"    {c:20s} {v*1000:8.1f} ms  n={cnt[(t,c)]}")
