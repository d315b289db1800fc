"""CPU per record of reading one partition through streamfeat's PartitionReader (the flow's settings), then
decoding each batch as the pipeline does: confluent-kafka's consume() with the native column extraction
(STREAMFEAT_NATIVE_KAFKA=0), against librdkafka read directly (the default since stop 43). Each measurement
runs in a fresh process; the two alternate. Process CPU includes librdkafka's threads.
Usage (repository root, broker from deploy/local/kafka.sh): python3 reader_cost.py RECORDS ROUNDS"""
import os, subprocess, sys, time

BOOT = "127.0.0.1:19092"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def produce(topic: str, n: int) -> None:
    import orjson
    from confluent_kafka import Producer
    from benchmarks.streaming import PRODUCER_CONFIG, _compact, recent
    from streamfeat.kafka_io import ensure_topics
    from streamfeat.workload import W1, generate

    ensure_topics(BOOT, {topic: 1})
    batch = generate(recent(W1, n), limit=n)
    producer = Producer({"bootstrap.servers": BOOT, **PRODUCER_CONFIG})
    for key, record, at in zip(batch.user_ids(), batch.records(), batch.arrival.tolist()):
        while True:
            try:
                producer.produce(topic, _compact(orjson.dumps({**record, "arrival": at})), key.encode(), timestamp=at)
                break
            except BufferError:
                producer.poll(0.1)
    producer.flush(60)


def read(topic: str, n: int, decode: bool) -> None:
    from streamfeat.examples.transactions import transactions
    from streamfeat.ingest import decode_records
    from streamfeat.kafka_io import PartitionReader

    reader = PartitionReader(BOOT, topic, 0, 0)
    got = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while got < n:
        batch = reader.read(5_000, 1.0)  # about what the flow reads per partition turn at 134,000/s is 1,900
        if decode and batch.offsets:
            decode_records(transactions, "user_id", batch.payloads, batch.timestamps, topic=topic, partition=0,
                           offsets=batch.offsets)
        got += len(batch.offsets)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    reader.close()
    path = "native" if reader.native else "consume"
    print(f"{path} {'read+decode' if decode else 'read'}: {got} records, wall {wall:.2f} s, "
          f"process cpu {cpu:.2f} s = {cpu / got * 1e6:.3f} us/record", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "--child":
        read(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "decode")
        sys.exit()
    n, rounds = int(sys.argv[1]), int(sys.argv[2])
    sys.path.insert(0, ROOT)
    topic = f"reader-cost-{int(time.time())}"
    produce(topic, n)
    print(f"produced {n} W1 records into {topic} (one partition)", flush=True)
    for r in range(rounds):
        order = ("1", "0") if r % 2 == 0 else ("0", "1")
        for decode in ("read", "decode"):
            for native in order:
                env = {**os.environ, "STREAMFEAT_NATIVE_KAFKA": native, "PYTHONPATH": ROOT}
                subprocess.run([sys.executable, __file__, "--child", topic, str(n), decode], env=env, check=True)
