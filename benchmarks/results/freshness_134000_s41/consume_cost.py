"""CPU per record of consuming one partition with the flow's fetch settings: consume() alone, or with the native
column extraction (streamfeat._store_native.message_columns) after it; "produce" fills TOPIC first.
Usage (repository root): PYTHONPATH=. python3 consume_cost.py RECORDS TOPIC produce|consume|columns [librdkafka k=v ...]"""
import os, sys, time, resource
import orjson
from confluent_kafka import Consumer, Producer, TopicPartition
from benchmarks.streaming import recent, _compact, PRODUCER_CONFIG
from streamfeat.workload import W1, generate
from streamfeat.kafka_io import FETCH_CONFIG, ensure_topics
try:
    from streamfeat._store_native import message_columns
except ImportError:
    message_columns = None
BOOT = "127.0.0.1:19092"
N = int(sys.argv[1]); TOPIC = sys.argv[2]; MODE = sys.argv[3]  # produce | consume | columns
if MODE == "produce":
    ensure_topics(BOOT, {TOPIC: 1})
    b = generate(recent(W1, N), limit=N)
    keys = [k.encode() for k in b.user_ids()]
    p = Producer({"bootstrap.servers": BOOT, **PRODUCER_CONFIG})
    for k, r, a in zip(keys, b.records(), b.arrival.tolist()):
        while True:
            try:
                p.produce(TOPIC, _compact(orjson.dumps({**r, "arrival": a})), k, timestamp=a); break
            except BufferError:
                p.poll(0.1)
    p.flush(60); print("produced", N); sys.exit()
c = Consumer({"bootstrap.servers": BOOT, "group.id": "x", "enable.auto.commit": False, "fetch.min.bytes": 1,
              "isolation.level": "read_committed", **FETCH_CONFIG, **dict(kv.split("=") for kv in sys.argv[4:])})
c.assign([TopicPartition(TOPIC, 0, 0)])
got = 0; t0 = time.perf_counter(); c0 = time.process_time()
while got < N:
    ms = c.consume(num_messages=10000, timeout=1.0)
    if MODE == "columns":
        message_columns(ms)
    got += len(ms)
wall = time.perf_counter() - t0; cpu = time.process_time() - c0
print(f"{MODE} {' '.join(sys.argv[4:])}: {got} records, wall {wall:.2f} s ({got/wall:,.0f}/s), process cpu {cpu:.2f} s = {cpu/got*1e6:.2f} us/record")
c.close()
