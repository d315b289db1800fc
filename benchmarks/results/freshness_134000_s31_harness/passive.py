import time, sys, json
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient
BOOT = "127.0.0.1:19092"
a = AdminClient({"bootstrap.servers": BOOT})
known = set(a.list_topics(timeout=10).topics)
while True:
    new = [t for t in a.list_topics(timeout=10).topics if t.startswith("bench-fresh") and t not in known and not t.endswith((".late", ".dead-letters"))]
    if new: break
    time.sleep(0.2)
topic = new[0]; print("topic", topic, flush=True)
c = Consumer({"bootstrap.servers": BOOT, "group.id": "passive", "enable.auto.commit": False, "queued.min.messages": 1000000, "queued.max.messages.kbytes": 32768})
c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(4)])
out = []
last_any = None; idle_since = time.time(); n = 0
end = time.time() + float(sys.argv[1])
while time.time() < end:
    ms = c.consume(20000, 0.005)
    now = time.time() * 1000
    good = [m for m in ms if m.error() is None]
    if good:
        stamps = [m.timestamp()[1] for m in good]
        out.append((now, len(good), now - min(stamps), now - max(stamps)))
        n += len(good)
json.dump(out, open("/tmp/passive.json", "w"))
import numpy as np
arr = np.array([o[2] for o in out])
print("reads", len(out), "records", n, "oldest-age p50 %.1f p99 %.1f max %.1f" % (np.percentile(arr,50), np.percentile(arr,99), arr.max()))
t0 = out[0][0]
for a_, b_ in zip(out, out[1:]):
    if b_[0] - a_[0] > 120: print(f"gap {b_[0]-a_[0]:.0f} ms at {(a_[0]-t0)/1000:.3f}s; next read {b_[1]} newest-age {b_[3]:.0f} oldest-age {b_[2]:.0f}")
