import os, sys, time, uuid, itertools
import orjson
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
sys.path.insert(0, "/work/main")
from benchmarks.streaming import PRODUCER_CONFIG, _compact
from streamfeat.workload import W1, generate
N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
b = generate(W1, limit=N)
values = [_compact(orjson.dumps({**r, "arrival": 1700000000000})) for r in b.records()]
keys = [u.encode() for u in b.user_ids()]
print("avg value bytes", sum(map(len, values)) / N)
admin = AdminClient({"bootstrap.servers": "127.0.0.1:19092"})
def topic():
    t = "prodbench-" + uuid.uuid4().hex[:8]
    admin.create_topics([NewTopic(t, 4, 1)])["%s" % t].result()
    return t
stamp = 1700000000000
def run(name, cfg, fn):
    t = topic()
    p = Producer({"bootstrap.servers": "127.0.0.1:19092", **PRODUCER_CONFIG, "linger.ms": 5, **cfg})
    c0 = os.times(); w0 = time.monotonic()
    fn(p, t)
    p.flush(60)
    c1 = os.times(); w1 = time.monotonic()
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    print(f"{name}: {cpu/N*1e6:.2f} us CPU/event, wall {w1-w0:.2f}s")
    admin.delete_topics([t])
def single(p, t):
    produce = p.produce
    for i in range(0, N, 2920):
        for j in range(i, min(i + 2920, N)):
            produce(t, values[j], keys[j], -1, None, None, stamp)
        p.poll(0)
msgs = [{"value": v, "key": k} for v, k in zip(values, keys)]
def batch(p, t):
    for i in range(0, N, 2920):
        p.produce_batch(t, msgs[i:i + 2920])
        p.poll(0)
for cfg in ({}, {"compression.type": "none"}):
    run(f"single {cfg}", cfg, single)
    run(f"batch {cfg}", cfg, batch)
