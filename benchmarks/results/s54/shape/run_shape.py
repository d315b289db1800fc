"""run_kept.py (s53/phases) that also keeps each measured event's send time and latency: RATE WORKDIR OUT.npz [flags].
SECONDS_ (env, default 30) of production, WORKERS_ (default 2), the flow at nice -10."""
import json, os, sys, uuid
from pathlib import Path
import numpy as np
sys.path.insert(0, os.environ.get("ROOT", "/work/main"))
from confluent_kafka.admin import AdminClient
import benchmarks.streaming as bs
rate = float(sys.argv[1]); work = Path(sys.argv[2]); work.mkdir(parents=True, exist_ok=True); out = sys.argv[3]
flags = sys.argv[4:]
kept = {}
inner = bs.match_polls
def match_polls(*a, **k):
    lat, sent = inner(*a, **k)
    kept["lat"], kept["sent"] = lat, sent
    return lat, sent
bs.match_polls = match_polls
admin = AdminClient({"bootstrap.servers": "127.0.0.1:19092"})
topic = f"bench-keep-{uuid.uuid4().hex[:8]}"
bs.create_topic(admin, topic, 4)
try:
    r = bs.measure_freshness("127.0.0.1:19092", topic, work, rate=rate, seconds=float(os.environ.get("SECONDS_", "30")),
                             sample=bs.FRESHNESS_SAMPLE, workers=int(os.environ.get("WORKERS_", "2")), flow_args=flags,
                             trace=bool(os.environ.get("TRACE")), nice=-10)
finally:
    bs.delete_topics(admin, [topic, topic + ".dead-letters", topic + ".late"])
np.savez(out, lat=kept["lat"], sent=kept["sent"])
r.pop("trace", None)
print(json.dumps({k: r[k] for k in ("p50_ms", "p99_ms", "p99_ms_per_5s", "start_late_ms")}))
print("flow us/event", r["cpu"]["flow_us_per_event"], r["cpu"]["percent_of_one_core"])
print("flow % per 5s", r["cpu"]["percent_per_interval"].get("flow"))
