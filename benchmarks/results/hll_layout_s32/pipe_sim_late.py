"""The flow's per-partition pipeline without Kafka (as ../pipeline_batch_cost_s31/pipe_sim.py) over
4M events, CPU seconds (all threads) per quarter of the run: the late quarters are what a live stream
costs. Its records carry W1's arrival times (moved a day or two before now), and it publishes values as
of the wall clock, as a flow catching up on a backlog does. Env: CAP (cache per partition), CI_MS,
LSB (--large-state-bytes), LATE_SLEEP (pid to /tmp/late_go at 3M events, then sleep: attach perf)."""
import sys, time, json, cProfile, pstats, shutil, itertools
from pathlib import Path
import orjson
from benchmarks.streaming import recent, _compact
from streamfeat.workload import W1, generate
from streamfeat.examples.transactions import user_txn
from streamfeat.pipeline import FeaturePipeline
from streamfeat.state import RocksDBStateStore
from streamfeat.online import BackgroundWriter, open_online_store

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
BATCH = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
PROFILE = len(sys.argv) > 3 and sys.argv[3] == "prof"
PARTS = 4
import os
CAP = int(os.environ.get("CAP", 25000)); CI = int(os.environ.get("CI_MS", 1000)); LSB = int(os.environ.get("LSB", 16384))
work = Path("/tmp/streamfeat-pipe-sim"); shutil.rmtree(work, ignore_errors=True); work.mkdir(parents=True)
b = generate(recent(W1, EVENTS), limit=EVENTS)
keys = b.user_ids()
vals = [_compact(orjson.dumps(r)) for r in b.records()]
stamps = b.arrival.tolist()
parts = [[] for _ in range(PARTS)]
for i, k in enumerate(keys):
    parts[hash(k) % PARTS].append(i)
writer = BackgroundWriter(open_online_store(None, work))
clock_t = [0.0]
pipes = []
for p in range(PARTS):
    st = RocksDBStateStore(work / f"t-{p}")
    pipes.append(FeaturePipeline([user_txn], state_store=st, online_store=writer, cache_capacity=CAP,
                                 commit_interval_ms=CI, large_state_bytes=LSB, monotonic=lambda: clock_t[0]))
# per partition, batches of BATCH; simulated time advances so that 1 s = 134k events overall
pos = [0]*PARTS
offs = [0]*PARTS
done = 0
t0 = time.perf_counter(); c0 = time.process_time()
prof = cProfile.Profile() if PROFILE else None
if prof: prof.enable()
quarter_cpu = []; q_next = EVENTS // 4; qc = time.process_time()
while done < EVENTS:
    if done >= q_next:
        now_c = time.process_time(); quarter_cpu.append(now_c - qc); qc = now_c; q_next += EVENTS // 4
        if len(quarter_cpu) == 3 and os.environ.get("LATE_SLEEP"):
            open("/tmp/late_go", "w").write(str(os.getpid())); time.sleep(float(os.environ["LATE_SLEEP"]))
    for p in range(PARTS):
        idx = parts[p][pos[p]:pos[p]+BATCH]
        if not idx: continue
        pos[p] += len(idx)
        pipes[p].process("transactions", p, range(offs[p], offs[p]+len(idx)), [vals[i] for i in idx], [stamps[i] for i in idx])
        offs[p] += len(idx)
        done += len(idx)
        clock_t[0] = done / 134_000
if prof: prof.disable()
for p in pipes: p.commit(final=True)
quarter_cpu.append(time.process_time() - qc)
print("cpu s per quarter (all threads):", [round(x, 2) for x in quarter_cpu])
wall = time.perf_counter()-t0; cpu = time.process_time()-c0
print(f"LSB {LSB} CAP {CAP} CI {CI} events {done} batch {BATCH}: wall {wall:.2f}s cpu {cpu:.2f}s -> {done/wall:,.0f} ev/s wall, {done/cpu:,.0f} ev/cpu-s")
if prof:
    s = pstats.Stats(prof); s.sort_stats("tottime").print_stats(25)
writer.close()
