"""The positional produce() of the benchmark gives the records the keyword form gives: same partition (by key) and
timestamp. Usage: python3 positional_check.py (a broker on 127.0.0.1:19092; creates topic pos41b)."""
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BOOT = "127.0.0.1:19092"
AdminClient({"bootstrap.servers": BOOT}).create_topics([NewTopic("pos41b", 4, 1)])["pos41b"].result()
p = Producer({"bootstrap.servers": BOOT})
for i in range(40):
    p.produce("pos41b", b"v%d" % i, b"key%d" % (i % 5), -1, None, None, 1700000000000 + i)
    p.produce("pos41b", b"w%d" % i, b"key%d" % (i % 5), timestamp=1700000000000 + i)
p.flush(10)
c = Consumer({"bootstrap.servers": BOOT, "group.id": "g41c"})
c.assign([TopicPartition("pos41b", q, 0) for q in range(4)])
got = []
for _ in range(5):
    got += c.consume(100, 1)
by_value = {m.value(): (m.partition(), m.timestamp()) for m in got}
print(len(got), "records; positional == keyword:", all(by_value[b"v%d" % i] == by_value[b"w%d" % i] for i in range(40)))
