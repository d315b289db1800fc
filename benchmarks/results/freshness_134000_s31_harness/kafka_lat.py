"""Kafka path only: a paced producer (separate process) at RATE, readers like the flow's (PartitionReader,
2 threads x 2 partitions, read every 20 ms); latency of each batch's oldest record (read time - Kafka timestamp)."""
import sys, time, threading, subprocess, uuid, os, json
import numpy as np
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
BOOT = "127.0.0.1:19092"
RATE = int(sys.argv[1]); SECONDS = int(sys.argv[2]); MODE = sys.argv[3] if len(sys.argv) > 3 else "consume"
EXTRA = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
if MODE == "produce":
    topic = sys.argv[5]
    from benchmarks.streaming import PRODUCER_CONFIG
    p = Producer({"bootstrap.servers": BOOT, **PRODUCER_CONFIG, "linger.ms": 5})
    n = RATE * SECONDS
    vals = [b'{"user_id":"u%d","merchant_id":"m1","amount":12.5,"ts":1700000000000,"arrival":1700000000000}' % (i % 300000) for i in range(n)]
    keys = [b"u%d" % (i % 300000) for i in range(n)]
    chunk = RATE // 100
    time.sleep(1)
    start = time.monotonic()
    for c, at in enumerate(range(0, n, chunk)):
        d = start + at / RATE - time.monotonic()
        if d > 0: time.sleep(d)
        ts = int(time.time() * 1000)
        for i in range(at, min(at + chunk, n)):
            p.produce(topic, vals[i], keys[i], timestamp=ts)
        p.poll(0)
    p.flush(60)
    sys.exit(0)
from streamfeat.kafka_io import PartitionReader
topic = "lat-" + uuid.uuid4().hex[:8]
a = AdminClient({"bootstrap.servers": BOOT})
a.create_topics([NewTopic(topic, 4, 1)])["%s" % topic].result()
time.sleep(1)
readers = [PartitionReader(BOOT, topic, p, None, extra=EXTRA) for p in range(4)]
lat = []; stop = threading.Event(); gaps = []
def work(rs):
    last = time.monotonic()
    while not stop.is_set():
        for r in rs:
            b = r.read(500000, 0)
            now = time.time() * 1000
            if b.timestamps:
                lat.append((now, now - min(t for t in b.timestamps if t is not None)))
        time.sleep(0.02)
ts = [threading.Thread(target=work, args=(readers[i::2],)) for i in range(2)]
for t in ts: t.start()
prod = subprocess.Popen([sys.executable, __file__, str(RATE), str(SECONDS), "produce", "{}", topic], env={**os.environ})
prod.wait(); time.sleep(2); stop.set()
for t in ts: t.join()
arr = np.array([l for _, l in lat]); t0 = lat[0][0]
print(f"rate {RATE} extra {EXTRA}: batches {len(arr)} oldest-record latency p50 {np.percentile(arr,50):.1f} p90 {np.percentile(arr,90):.1f} p99 {np.percentile(arr,99):.1f} max {arr.max():.1f} ms")
w = np.array([(t - t0)//5000 for t, _ in lat])
print("p99 per 5 s:", [round(float(np.percentile(arr[w==k],99)),1) for k in np.unique(w)])
