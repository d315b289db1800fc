"""The end-to-end run (benchmarks.streaming.run_flow, 5M W1 events on one topic) alternated between two checkouts:
python3 e2e_ab.py OLD_ROOT NEW_ROOT PAIRS. Each flow runs with PYTHONPATH=ROOT (the native modules copied into
the old checkout from the installed build; the old code does not use what the new build adds)."""
import json, os, sys, tempfile, uuid
from pathlib import Path
sys.path.insert(0, "/work/main")
from confluent_kafka.admin import AdminClient
from benchmarks.streaming import W1, create_topic, delete_topics, produce, recent, run_flow
old, new, pairs = sys.argv[1], sys.argv[2], int(sys.argv[3])
admin = AdminClient({"bootstrap.servers": "127.0.0.1:19092"})
topic = f"bench-e2e-ab-{uuid.uuid4().hex[:8]}"
create_topic(admin, topic, 4)
try:
    produce("127.0.0.1:19092", topic, recent(W1, 5_000_000), 5_000_000)
    for pair in range(pairs):
        order = [("old", old), ("new", new)] if pair % 2 == 0 else [("new", new), ("old", old)]
        for name, root in order:
            os.environ["PYTHONPATH"] = root
            with tempfile.TemporaryDirectory(prefix="streamfeat-e2e-") as tmp:
                r = run_flow("127.0.0.1:19092", topic, Path(tmp), workers=2, online=None, label=f"{name}{pair}")
            print(json.dumps({"pair": pair, "code": name, "events_per_s": r["events_per_s"],
                              "flow_cpu_us_per_event": r["flow_cpu_us_per_event"]}), flush=True)
finally:
    delete_topics(admin, [topic, topic + ".dead-letters", topic + ".late"])
