"""RecordDecoder.decode over W1's first 2M events as JSON, 1,500 records a call (the simulation's batches): CPU
seconds per pass, best of PASSES after one warm-up pass. The decoder interns entity keys across calls (~200,000 users).
Usage: PYTHONPATH=TREE python3 decode_micro.py"""
import os, time
import orjson
from streamfeat.workload import W1, generate
from operators._native import RecordDecoder

b = generate(W1, limit=2_000_000)
payloads = [orjson.dumps(r) for r in b.records()]
decoder = RecordDecoder([("user_id", "str"), ("merchant_id", "str"), ("amount", "float"), ("ts", "int"), ("arrival", "int")],
                        "user_id", "ts", None, 1 << 20, 1024)
batches = [payloads[i:i + 1500] for i in range(0, len(payloads), 1500)]
nones = [None] * 1500
def one_pass():
    t = time.thread_time()
    for part in batches:
        decoder.decode(part, nones[:len(part)])
    return time.thread_time() - t
one_pass()
best = min(one_pass() for _ in range(int(os.environ.get("PASSES", 5))))
print(f"decode: {best:.3f} s CPU per pass of {len(payloads):,} records, {best / len(payloads) * 1e9:.0f} ns per record")
