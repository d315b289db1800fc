"""The sliding HyperLogLog's inserts alone, in a state as large as a busy entity's 30-day distinct count late in a
run: one entity, `ApproxDistinct(window=Sliding(W))` at precision 12, events one time unit apart over DISTINCT
values (so the window holds ~min(W, DISTINCT) distinct values, most of them a register of their own), applied through
the native core's `apply_batch` in batches of 1,000 after a warm-up that fills the window. Prints the main thread's
CPU per event and the state's registers. Usage: python3 hll_insert_micro.py [WINDOW] [DISTINCT] [EVENTS] [ROUNDS]"""
import random
import sys
import time

from streamfeat import ApproxDistinct, Entity, FeatureView, Sliding, Source, build_view

window, distinct, events, rounds = (int(a) for a in (sys.argv[1:] + ["3000", "20000", "200000", "5"][len(sys.argv) - 1:]))
source = Source("s", timestamp="ts", schema={"user_id": str, "ts": int, "m": str})
view = FeatureView("v", entity=Entity("user", key="user_id"), source=source, allowed_lateness=0,
                   features=[ApproxDistinct("m", window=Sliding(window))])
op = build_view(view, native=True)
rng = random.Random(46)  # seeded
values = [f"m{rng.randrange(distinct)}" for _ in range(window + events)]
batch = 1000
for r in range(rounds):
    states: dict = {}
    t = 0

    def feed(lo: int, hi: int) -> None:
        for start in range(lo, hi, batch):
            part = values[start:min(hi, start + batch)]
            times = list(range(start + 1, start + 1 + len(part)))
            op.apply_batch(states, ["u"] * len(part), times, times, op.columns_for({"m": part}))

    feed(0, window)  # fill the window
    began = time.thread_time()
    feed(window, window + events)
    spent = time.thread_time() - began
    registers = op.read_until(states["u"], window + events)[0]
    print(f"round {r}: {spent / events * 1e6:.3f} us per event, estimate {list(registers.values())[0]}", flush=True)
