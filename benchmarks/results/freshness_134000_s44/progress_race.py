# The lost update of stop 44: two threads adding progress items into one dict without a lock.
import sys, threading
sys.setswitchinterval(1e-6)
totals = {"records": 0, "accepted": 0}
class Item:
    records = 40; accepted = 40
def on_progress(item):
    for name in totals:
        totals[name] += getattr(item, name)
def work():
    it = Item()
    for _ in range(200_000):
        on_progress(it)
ts = [threading.Thread(target=work) for _ in range(2)]
[t.start() for t in ts]; [t.join() for t in ts]
print(totals, 2*200_000*40)
