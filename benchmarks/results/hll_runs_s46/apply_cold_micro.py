"""The native core's `apply_batch` on cache-cold states: the example view (streamfeat/examples/transactions.py) over
ENTITIES entities, WARM events each applied first (states of a few KB: far more than the caches hold), then batches of
1,500 events on entities drawn uniformly — each batch's entities scattered over memory, as a live flow's are. Prints
the main thread's CPU per timed event. Usage: python3 apply_cold_micro.py [ENTITIES] [WARM] [BATCHES] [ROUNDS]"""
import random
import sys
import time

from streamfeat import build_view
from streamfeat.examples.transactions import user_txn

entities, warm, batches, rounds = (int(a) for a in (sys.argv[1:] + ["50000", "40", "300", "3"][len(sys.argv) - 1:]))
op = build_view(user_txn, native=True)
rng = random.Random(46)  # seeded
users = [f"u{n}" for n in range(entities)]
merchants = [f"m{n}" for n in range(5000)]
DAY = 86_400_000
states: dict = {}
t = 1_700_000_000_000


def batch_of(keys: list[str], first_time: int) -> tuple:
    times = [first_time + k * 1000 for k in range(len(keys))]
    columns = op.columns_for({"user_id": keys, "merchant_id": [rng.choice(merchants) for _ in keys],
                              "amount": [rng.randrange(1, 10_000) / 100 for _ in keys], "ts": times})
    return keys, times, columns


for start in range(0, entities * warm, 1500):  # warm-up: every entity WARM events over ~20 days
    keys = [users[(start + k) % entities] for k in range(1500)]
    keys, times, columns = batch_of(keys, t)
    op.apply_batch(states, keys, times, times, columns)
    t += 20 * DAY // (entities * warm // 1500 + 1)
for r in range(rounds):
    prepared = []
    for _ in range(batches):
        prepared.append(batch_of([rng.choice(users) for _ in range(1500)], t))
        t += 1500 * 1000
    began = time.thread_time()
    for keys, times, columns in prepared:
        op.apply_batch(states, keys, times, times, columns)
    spent = time.thread_time() - began
    print(f"round {r}: {spent / (batches * 1500) * 1e6:.3f} us per event over {len(states)} entities", flush=True)
