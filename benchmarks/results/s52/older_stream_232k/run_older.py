"""Is the step in the 5 s from 25 s of a 30 s run the stream reaching the 30-day windows as of now? One 30 s freshness
run (232,342 events/s, nice -10, online store on tmpfs) with the W1 prefix ending a day or two before now ("recent",
as the benchmark runs it) or, with OLDER_DAYS=N, N days earlier (no event inside the 7- and 30-day windows as of
now). Usage: [OLDER_DAYS=N] python3 run_older.py OUT.json"""
import json, os, sys, tempfile, time, uuid
from pathlib import Path
sys.path.insert(0, "/work/main")
from confluent_kafka.admin import AdminClient
import benchmarks.streaming as bs
older = int(os.environ.get("OLDER_DAYS", "0"))
plain = bs.recent
bs.recent = lambda spec, events, now_ms=None: plain(spec, events, now_ms=int(time.time() * 1000) - older * bs.DAY_MS)
admin = AdminClient({"bootstrap.servers": "127.0.0.1:19092"})
topic = f"bench-older-{uuid.uuid4().hex[:8]}"
bs.create_topic(admin, topic, 4)
try:
    with tempfile.TemporaryDirectory(prefix="streamfeat-older-") as tmp:
        r = bs.measure_freshness("127.0.0.1:19092", topic, Path(tmp), rate=232342, seconds=30, sample=bs.FRESHNESS_SAMPLE,
                                 workers=2, nice=-10, flow_args=["--online-store", "/dev/shm/streamfeat-{run}.lmdb"])
finally:
    bs.delete_topics(admin, [topic, topic + ".dead-letters", topic + ".late"])
r.pop("trace", None)
Path(sys.argv[1]).write_text(json.dumps(r, indent=1))
c = r["cpu"]
print(f"older {older} d: p50 {r['p50_ms']} p99 {r['p99_ms']} per5s {r['p99_ms_per_5s']} flow us/ev {c['flow_us_per_event']} "
      f"flow % per 5s {c['percent_per_interval'].get('flow')}")
