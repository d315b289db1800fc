"""The flow's per-partition pipeline without Kafka in the freshness benchmark's regime: 4M W1 events
(recent event times) arriving at their planned send times at 134,000 events/s, the pipelines' clock at the
planned arrival of the last record handed over, 4 partitions taking turns BATCH records at a time, RocksDB
state, the embedded online store behind one BackgroundWriter. Prints CPU seconds (all threads) per quarter
of the run and the peak RSS of the process (which holds the generated events too); since stop 34 also the
CPU of the main thread (the pipelines' own, without the online writer's and RocksDB's threads).
Usage (repository root): PYTHONPATH=. python3 pipe_sim_fresh.py EVENTS BATCH
(Since stop 38 it also prints the embedded store's in-place/moved/new row counts;
with `prof` as a third argument it profiles the main thread, from the start of quarter PROFQ+1 with PROFQ=1..3.)
Env: CAP (cache per partition, default 25,000 = streamfeat run's 100,000 over 4 partitions), CI_MS,
LSB (--large-state-bytes), LATE_SLEEP (pid to /tmp/late_go at 3/4 of the run, then sleep: attach perf),
NOBLOOM=1: the state stores without their bloom filters (stop 33), WB=MiB: RocksDB's write buffer size,
COMP=snappy|lz4|none: the table files' compression,
FREEZE=1: freeze the objects of the set-up out of the cyclic collector's way before the run,
REGIME=backlog: the records carry W1's own arrival times instead (moved, with the event times, a day or two
before now) and values are published as of the wall clock, as a flow catching up on a backlog does.
Since stop 39 (../pipeline_s39_growth/): QUARTERS=1 prints at each quarter's end the state bytes encoded so far
for the online rows (rows, rows values-only, bytes, rows and bytes of states >= 2 KiB) and each thread's CPU
seconds so far; PROFQ_ONLY=1 with `prof` profiles quarter PROFQ+1 only; GOAT=F writes the pid to /tmp/q_go at
F of the events and sleeps 0.5 s (attach `perf record -t PID`).
Since stop 44: APPLY_T=1 prints the main thread's CPU inside the native apply+publish.
Since stop 45: FEATBYTES=1 (with QUARTERS=1) adds the encoded bytes so far per feature of the view (../freshness_134000_s45/).
Since stop 51: RATE=events/s of the planned arrivals and of the simulated clock (default 134000).
Since stop 40: VIEW=FEATURES.py runs that file's first view instead; COMMITS=1 prints the commits' wall times; WAL=0 commits without RocksDB's write-ahead log (flushing every 10 s, as `--state-wal off`)."""
import sys, time, json, cProfile, pstats, shutil, itertools, os
from pathlib import Path
import orjson
from benchmarks.streaming import recent, _compact
from streamfeat.workload import W1, generate
from streamfeat.examples.transactions import user_txn
if os.environ.get("VIEW"):  # another features file's first view in place of the example view
    from streamfeat.loader import load_views
    user_txn = load_views(Path(os.environ["VIEW"]))[0]
from streamfeat.pipeline import FeaturePipeline
from streamfeat.state import RocksDBStateStore
import rocksdict
if os.environ.get("NOBLOOM") or os.environ.get("WB") or os.environ.get("COMP"):
    _Options, _Rdict = rocksdict.Options, rocksdict.Rdict
    _FILTERS = ("set_memtable_prefix_bloom_ratio", "set_memtable_whole_key_filtering", "set_block_based_table_factory")
    class _Proxy:  # the store's options, minus what NOBLOOM drops
        def __init__(self, *args, **kwargs):
            self.options = _Options(*args, **kwargs)
            if os.environ.get("WB"):
                self.options.set_write_buffer_size(int(os.environ["WB"]) << 20)
            if os.environ.get("COMP"):
                self.options.set_compression_type(getattr(rocksdict.DBCompressionType, os.environ["COMP"])())
        def __getattr__(self, name):
            if os.environ.get("NOBLOOM") and name in _FILTERS:
                return lambda *args: None
            return getattr(self.options, name)
    rocksdict.Options = _Proxy
    rocksdict.Rdict = lambda path, options=None, *a, **k: _Rdict(path, getattr(options, "options", options), *a, **k)
from streamfeat.online import BackgroundWriter, open_online_store
class _FeatureBytes:  # FEATBYTES=1 (with QUARTERS=1): encoded bytes per feature of the view, per quarter
    def __init__(self): self.total = {}
    def add(self, d):
        def varint(i):
            u, shift = 0, 0
            while True:
                byte = d[i]; i += 1; u |= (byte & 0x7F) << shift; shift += 7
                if byte < 0x80: return (u >> 1) ^ -(u & 1), i
        i = 1
        for _ in range(3): _, i = varint(i)
        count, i = varint(i)
        self.total["header"] = self.total.get("header", 0) + i
        for f in range(count):
            size, j = varint(i)
            self.total[f] = self.total.get(f, 0) + (j - i) + size
            i = j + size
FEAT = _FeatureBytes() if os.environ.get("FEATBYTES") else None
ENC = {"rows": 0, "values_only": 0, "bytes": 0, "rows_2k": 0, "bytes_2k": 0}  # QUARTERS=1
if os.environ.get("QUARTERS"):
    _packed_rows = FeaturePipeline._packed_rows
    def _counted(self, runtime, entities, published):
        _, data, values_only, _ = published
        ENC["rows"] += len(entities); ENC["values_only"] += len(values_only)
        for d in data:
            if d is not None and FEAT is not None:
                FEAT.add(d)
            if d is not None:
                ENC["bytes"] += len(d)
                if len(d) >= 2048: ENC["rows_2k"] += 1; ENC["bytes_2k"] += len(d)
        return _packed_rows(self, runtime, entities, published)
    FeaturePipeline._packed_rows = _counted
COMMIT_MS = []  # COMMITS=1: each commit's wall time
if os.environ.get("COMMITS"):
    _commit = FeaturePipeline.commit
    def _timed_commit(self, **kwargs):
        started = time.perf_counter()
        try:
            return _commit(self, **kwargs)
        finally:
            COMMIT_MS.append((time.perf_counter() - started) * 1000)
    FeaturePipeline.commit = _timed_commit
APPLY_CPU = [0.0, 0]  # APPLY_T=1: the main thread's CPU seconds inside the native apply+publish, and calls
if os.environ.get("APPLY_T"):
    from operators.native import NativeViewOperator
    _apply_publish = NativeViewOperator.apply_publish
    def _timed_apply_publish(self, *args, **kwargs):
        started = time.thread_time()
        try:
            return _apply_publish(self, *args, **kwargs)
        finally:
            APPLY_CPU[0] += time.thread_time() - started; APPLY_CPU[1] += 1
    NativeViewOperator.apply_publish = _timed_apply_publish
def thread_cpu():
    cpu = {}
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        cpu[f"{(task / 'comm').read_text().strip()}-{task.name}"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return {name: round(s, 2) for name, s in cpu.items() if s > 0.1}

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
BATCH = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
PROFILE = len(sys.argv) > 3 and sys.argv[3] == "prof"
PARTS = 4
RATE = int(os.environ.get("RATE", 134000))
CAP = int(os.environ.get("CAP", 25000)); CI = int(os.environ.get("CI_MS", 1000)); LSB = int(os.environ.get("LSB", 16384))
work = Path("/tmp/streamfeat-pipe-sim"); shutil.rmtree(work, ignore_errors=True); work.mkdir(parents=True)
b = generate(recent(W1, EVENTS), limit=EVENTS)
keys = b.user_ids()
import numpy as np
BACKLOG = os.environ.get("REGIME", "fresh") == "backlog"
now0 = int(time.time() * 1000)
planned = (now0 + np.arange(EVENTS) * (1000.0 / RATE)).astype(np.int64).tolist()
if BACKLOG:
    vals = [_compact(orjson.dumps(r)) for r in b.records()]
    stamps = b.arrival.tolist()
else:
    vals = [_compact(orjson.dumps({**r, "arrival": a})) for r, a in zip(b.records(), planned)]
    stamps = planned
class PlannedClock:  # the pipeline's clock: the planned arrival of the last record handed to it
    now = now0
    def now_ms(self): return self.now
clock = None if BACKLOG else PlannedClock()
parts = [[] for _ in range(PARTS)]
for i, k in enumerate(keys):
    parts[hash(k) % PARTS].append(i)
online = open_online_store(None, work)
writer = BackgroundWriter(online)
clock_t = [0.0]
pipes = []
for p in range(PARTS):
    st = RocksDBStateStore(work / f"t-{p}", wal=os.environ.get("WAL", "1") != "0", flush_interval_s=10.0)
    pipes.append(FeaturePipeline([user_txn], state_store=st, online_store=writer, cache_capacity=CAP,
                                 commit_interval_ms=CI, large_state_bytes=LSB, clock=clock, monotonic=lambda: clock_t[0]))
# per partition, batches of BATCH; simulated time advances so that 1 s = 134k events overall
pos = [0]*PARTS
offs = [0]*PARTS
done = 0
import gc
if os.environ.get("FREEZE"):
    gc.collect(); gc.freeze()
t0 = time.perf_counter(); c0 = time.process_time(); m0 = time.thread_time()
prof = cProfile.Profile() if PROFILE else None
if prof and not int(os.environ.get("PROFQ", "0")): prof.enable()
quarter_cpu = []; q_next = EVENTS // 4; qc = time.process_time()
went = False
while done < EVENTS:
    if done >= q_next:
        now_c = time.process_time(); quarter_cpu.append(now_c - qc); qc = now_c; q_next += EVENTS // 4
        if PROFILE and len(quarter_cpu) == int(os.environ.get("PROFQ", "0")):
            prof.enable()
        if PROFILE and os.environ.get("PROFQ_ONLY") and len(quarter_cpu) == int(os.environ.get("PROFQ", "0")) + 1:
            prof.disable()
        if os.environ.get("QUARTERS"):
            print("quarter", len(quarter_cpu), "encoded so far", ENC, "per feature", FEAT and FEAT.total, "thread cpu s so far", thread_cpu(), flush=True)
        if len(quarter_cpu) == 3 and os.environ.get("LATE_SLEEP"):
            open("/tmp/late_go", "w").write(str(os.getpid())); time.sleep(float(os.environ["LATE_SLEEP"]))
    if os.environ.get("GOAT") and not went and done >= EVENTS * float(os.environ["GOAT"]):
        went = True; open("/tmp/q_go", "w").write(str(os.getpid())); time.sleep(0.5)
    for p in range(PARTS):
        idx = parts[p][pos[p]:pos[p]+BATCH]
        if not idx: continue
        pos[p] += len(idx)
        if clock is not None:
            clock.now = max(clock.now, planned[idx[-1]])
        pipes[p].process("transactions", p, range(offs[p], offs[p]+len(idx)), [vals[i] for i in idx], [stamps[i] for i in idx])
        offs[p] += len(idx)
        done += len(idx)
        clock_t[0] = done / RATE
if prof: prof.disable()
for p in pipes: p.commit(final=True)
quarter_cpu.append(time.process_time() - qc)
import resource
print("cpu s per quarter (all threads):", [round(x, 2) for x in quarter_cpu], "peak rss MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
wall = time.perf_counter()-t0; cpu = time.process_time()-c0; main_cpu = time.thread_time()-m0
print(f"LSB {LSB} CAP {CAP} CI {CI} events {done} batch {BATCH}: wall {wall:.2f}s cpu {cpu:.2f}s -> {done/wall:,.0f} ev/s wall, {done/cpu:,.0f} ev/cpu-s; main thread cpu {main_cpu:.2f}s")
if COMMIT_MS:
    ordered = sorted(COMMIT_MS)
    print(f"commits {len(ordered)}: wall ms p50 {ordered[len(ordered)//2]:.1f} p90 {ordered[int(len(ordered)*0.9)]:.1f} max {ordered[-1]:.1f}; summed {sum(ordered)/1000:.2f} s")
print("thread cpu s:", thread_cpu())
if APPLY_CPU[1]:
    print(f"apply_publish: {APPLY_CPU[1]} calls, main-thread cpu {APPLY_CPU[0]:.2f} s, {APPLY_CPU[0] / done * 1e6:.3f} us per event")
if prof:
    s = pstats.Stats(prof); s.sort_stats("tottime").print_stats(25)
print("online rows in place/moved/new:", online.write_counts() if hasattr(online, "write_counts") else "n/a")
writer.close()
