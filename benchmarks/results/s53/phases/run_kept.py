"""One freshness measurement that keeps its work directory (state, LOGs, trace): RATE WORKDIR [flow flags...].
SECONDS (env, default 60) of production; the flow at nice -10 as in stop 51's runs."""
import json, os, sys, uuid
from pathlib import Path
sys.path.insert(0, os.environ.get("ROOT", "/work/main"))
from confluent_kafka.admin import AdminClient
from benchmarks.streaming import measure_freshness, create_topic, delete_topics, FRESHNESS_SAMPLE
rate = float(sys.argv[1]); work = Path(sys.argv[2]); work.mkdir(parents=True, exist_ok=True)
flags = sys.argv[3:]
admin = AdminClient({"bootstrap.servers": "127.0.0.1:19092"})
topic = f"bench-keep-{uuid.uuid4().hex[:8]}"
create_topic(admin, topic, 4)
try:
    r = measure_freshness("127.0.0.1:19092", topic, work, rate=rate, seconds=float(os.environ.get("SECONDS_", "60")),
                          sample=FRESHNESS_SAMPLE, workers=int(os.environ.get("WORKERS_", "2")), flow_args=flags, trace=bool(os.environ.get("TRACE")), nice=-10)
finally:
    delete_topics(admin, [topic, topic + ".dead-letters", topic + ".late"])
r.pop("trace", None)
print(json.dumps({k: r[k] for k in ("p50_ms", "p99_ms", "p99_ms_per_5s", "start_late_ms")}))
print("flow us/event", r["cpu"]["flow_us_per_event"], r["cpu"]["percent_of_one_core"])
print("flow % per 5s", r["cpu"]["percent_per_interval"].get("flow"))
