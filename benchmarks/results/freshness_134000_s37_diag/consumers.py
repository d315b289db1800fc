"""Broker + consumer CPU: 4 consumers (one per partition) vs 1 consumer (all 4), at a paced 134k/s."""
import os, sys, time, uuid, subprocess, threading
sys.path.insert(0, "/work/main")
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from benchmarks.streaming import PRODUCER_CONFIG, local_broker_pids
from streamfeat.kafka_io import FETCH_CONFIG
B = "127.0.0.1:19092"; RATE = 134_000; SECONDS = 20
def cpu(pids):
    t = 0
    for p in pids:
        with open(f"/proc/{p}/stat") as f:
            s = f.read().rsplit(")", 1)[1].split(); t += int(s[11]) + int(s[12])
    return t / os.sysconf("SC_CLK_TCK")
def consumer_proc(topic, mode):
    conf = {"bootstrap.servers": B, "group.id": "x", "enable.auto.commit": False, "enable.partition.eof": False,
            "fetch.min.bytes": 1, "isolation.level": "read_committed", **FETCH_CONFIG}
    if mode == "4":
        cs = [Consumer(conf) for _ in range(4)]
        for p, c in enumerate(cs): c.assign([TopicPartition(topic, p, 0)])
    else:
        c = Consumer(conf); c.assign([TopicPartition(topic, p, 0) for p in range(4)]); cs = [c]
    n = 0; end = time.monotonic() + SECONDS + 8
    while time.monotonic() < end:
        for c in cs:
            n += len(c.consume(num_messages=500_000, timeout=0))
        time.sleep(0.02 / (1 if mode == "1" else 1))
    print("consumed", n, file=sys.stderr)
if len(sys.argv) > 1 and sys.argv[1] == "consume":
    consumer_proc(sys.argv[2], sys.argv[3]); sys.exit()
payload = b'{"user_id":"u123456","merchant_id":"m98765","amount":12.34,"ts":1764979200000,"arrival":1764979200000}'
for mode in ["4", "1", "4", "1"]:
    topic = "cons-" + uuid.uuid4().hex[:8]
    a = AdminClient({"bootstrap.servers": B}); a.create_topics([NewTopic(topic, 4, 1)])[topic].result()
    child = subprocess.Popen([sys.executable, __file__, "consume", topic, mode])
    time.sleep(2)
    p = Producer({"bootstrap.servers": B, **PRODUCER_CONFIG, "linger.ms": 5})
    brokers = local_broker_pids(); b0 = cpu(brokers); c0 = cpu([child.pid]); t0 = time.monotonic()
    chunk = RATE // 100
    for i in range(SECONDS * 100):
        d = t0 + i / 100 - time.monotonic()
        if d > 0: time.sleep(d)
        for j in range(chunk):
            p.produce(topic, payload, b"u%d" % ((i * chunk + j) % 50000))
        p.poll(0)
    wall = time.monotonic() - t0
    b1 = cpu(brokers); c1 = cpu([child.pid])
    print(f"consumers {mode}: broker {100*(b1-b0)/wall:.1f} % consumer-proc {100*(c1-c0)/wall:.1f} %", flush=True)
    p.flush(30); child.wait()
