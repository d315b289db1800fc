"""Run the pipeline simulation (../../pipeline_late_regime_s32/pipe_sim_fresh.py, from the repository root) with RocksDBStateStore._write
instrumented: per quarter of the commits, puts and MB per commit, the share of states of 2 KiB or more, the WriteBatch build and db.write ms.
Usage: APPLY_T=1 WAL=0 PYTHONPATH=. python3 benchmarks/results/s49/commit_sizes/commit_bytes.py 4000000 1500"""
import runpy, sys, time, os, atexit
import rocksdict
from streamfeat.state import store as st
rec = []
def _write(self, puts, deletes, ordered=None):
    t0 = time.perf_counter()
    batch = rocksdict.WriteBatch(raw_mode=True)
    for key in deletes: batch.delete(key)
    nbytes = 0
    for key in (sorted(puts) if ordered is None else ordered):
        v = puts[key]; nbytes += len(v); batch.put(key, v)
    t1 = time.perf_counter()
    self.db.write(batch, self._write_options)
    t2 = time.perf_counter()
    big = sum(len(v) for v in puts.values() if len(v) >= 2048)
    rec.append((len(puts), nbytes, big, (t1-t0)*1e3, (t2-t1)*1e3))
    if not self.wal and self._monotonic() - self._last_flush >= self.flush_interval_s:
        self.flush(wait=False)
st.RocksDBStateStore._write = _write
def report():
    import statistics as S
    n = len(rec)
    for q in range(4):
        part = rec[q*n//4:(q+1)*n//4]
        if not part: continue
        print(f"quarter {q+1}: commits {len(part)} puts/commit {S.mean(p[0] for p in part):.0f} MB/commit {S.mean(p[1] for p in part)/1e6:.2f} big-share {sum(p[2] for p in part)/max(1,sum(p[1] for p in part)):.2f} build ms p50 {S.median(p[3] for p in part):.1f} write ms p50 {S.median(p[4] for p in part):.1f} max {max(p[4] for p in part):.1f}", file=sys.stderr)
atexit.register(report)
sys.argv = ["pipe_sim_fresh.py"] + sys.argv[1:]
runpy.run_path("benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py", run_name="__main__")
