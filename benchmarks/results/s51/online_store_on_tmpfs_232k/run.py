"""One freshness measurement (benchmarks.streaming.measure_freshness, 45 s, the flow at nice -10) with the embedded
online store's file either in the state directory (ext4) or, through a symlink placed there first, on tmpfs.
Usage: python3 run.py RATE MODE(ext4|lmdb-tmpfs) OUTJSON"""
import json, os, shutil, sys, tempfile, uuid
from pathlib import Path
sys.path.insert(0, "/work/main")
from confluent_kafka.admin import AdminClient
from benchmarks.streaming import measure_freshness, create_topic, delete_topics, FRESHNESS_SAMPLE
rate, mode, out = float(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
admin = AdminClient({"bootstrap.servers": "127.0.0.1:19092"})
topic = f"bench-lmdb-{uuid.uuid4().hex[:8]}"
create_topic(admin, topic, 4)
shm = Path(f"/dev/shm/streamfeat-online-{uuid.uuid4().hex[:8]}.lmdb")
try:
    with tempfile.TemporaryDirectory(prefix="streamfeat-fresh-") as tmp:
        work = Path(tmp)
        if mode == "lmdb-tmpfs":
            (work / "state-freshness").mkdir()
            os.symlink(shm, work / "state-freshness" / "online.lmdb")
        r = measure_freshness("127.0.0.1:19092", topic, work, rate=rate, seconds=45, sample=FRESHNESS_SAMPLE,
                              workers=2, nice=-10)
finally:
    delete_topics(admin, [topic, topic + ".dead-letters", topic + ".late"])
    shm.unlink(missing_ok=True)
out.write_text(json.dumps(r, indent=1))
c = r["cpu"]
print(mode, "p99", r["p99_ms"], "per5s", r["p99_ms_per_5s"], "flow us/ev", c["flow_us_per_event"], "busy", c["machine"]["busy_percent_of_one_core"])
