import os, sys, time, uuid
import orjson
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
sys.path.insert(0, "/work/main")
from benchmarks.streaming import PRODUCER_CONFIG, _compact, local_broker_pids
from streamfeat.workload import W1, generate
RATE = 292000; SECS = 10; N = RATE * SECS
b = generate(W1, limit=N)
values = [_compact(orjson.dumps({**r, "arrival": 1700000000000})) for r in b.records()]
keys = [u.encode() for u in b.user_ids()]
admin = AdminClient({"bootstrap.servers": "127.0.0.1:19092"})
def cpu_of(pids):
    t = 0
    for pid in pids:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        t += int(f[11]) + int(f[12])
    return t / os.sysconf("SC_CLK_TCK")
broker = local_broker_pids()
for name, cfg in [("linger5", {"linger.ms": 5}), ("linger5-dr-errors-only", {"linger.ms": 5, "delivery.report.only.error": True})] * int(os.environ.get("REPS", "3")):
    t = "paced-" + uuid.uuid4().hex[:8]
    admin.create_topics([NewTopic(t, 4, 1)])[t].result()
    p = Producer({"bootstrap.servers": "127.0.0.1:19092", **PRODUCER_CONFIG, **cfg})
    produce = p.produce
    chunk = int(RATE * 0.01)
    c0 = os.times(); b0 = cpu_of(broker); started = time.monotonic()
    for number, at in enumerate(range(0, N, chunk)):
        delay = started + at / RATE - time.monotonic()
        if delay > 0: time.sleep(delay)
        for i in range(at, min(at + chunk, N)):
            produce(t, values[i], keys[i], -1, None, None, 1700000000000)
        p.poll(0)
    p.flush(60)
    wall = time.monotonic() - started
    c1 = os.times(); b1 = cpu_of(broker)
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    print(f"{name}: producer {100*cpu/wall:.1f}% of a core ({cpu/N*1e6:.2f} us/event), broker {100*(b1-b0)/wall:.1f}%, wall {wall:.1f}s")
    admin.delete_topics([t])
