"""CPU per message of the freshness benchmark's paced producer: produce() with timestamp= (single), with the
timestamp positional (pos), or without one (nots); 1M pre-built W1 records in chunks of 1,340, linger.ms 5.
Usage (repository root): PYTHONPATH=. python3 produce_cost.py RECORDS TOPIC MODE..."""
import sys, time, os
import orjson
from confluent_kafka import Producer
from benchmarks.streaming import recent, _compact, PRODUCER_CONFIG
from streamfeat.workload import W1, generate
from streamfeat.kafka_io import ensure_topics
BOOT = "127.0.0.1:19092"; N = int(sys.argv[1]); TOPIC = sys.argv[2]
ensure_topics(BOOT, {TOPIC: 4})
b = generate(recent(W1, N), limit=N)
keys = [k.encode() for k in b.user_ids()]
stamps = b.arrival.tolist()
vals = [_compact(orjson.dumps({**r, "arrival": a})) for r, a in zip(b.records(), stamps)]
msgs = [{"value": v, "key": k} for v, k in zip(vals, keys)]
CH = 1340
for mode in sys.argv[3:]:
    p = Producer({"bootstrap.servers": BOOT, **PRODUCER_CONFIG, "linger.ms": 5})
    t0 = time.perf_counter(); c0 = time.process_time()
    for at in range(0, N, CH):
        if mode == "pos":
            for i in range(at, min(at + CH, N)):
                p.produce(TOPIC, vals[i], keys[i], -1, None, None, stamps[i])
        elif mode == "nots":
            for i in range(at, min(at + CH, N)):
                p.produce(TOPIC, vals[i], keys[i])
        elif mode == "single":
            for i in range(at, min(at + CH, N)):
                p.produce(TOPIC, vals[i], keys[i], timestamp=stamps[i])
        else:
            p.produce_batch(TOPIC, msgs[at:at + CH])
        p.poll(0)
    p.flush(60)
    wall = time.perf_counter() - t0; cpu = time.process_time() - c0
    print(f"{mode}: {N} msgs wall {wall:.2f}s cpu {cpu:.2f}s = {cpu/N*1e6:.2f} us/msg")
