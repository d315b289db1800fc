"""Two checkouts of streamfeat against each other over one 5M-event W1 topic (recent event times, 4
partitions, as `python -m benchmarks.streaming` produces it): `streamfeat run --stop-at-end -w 2`,
alternated, each run with a fresh state directory and online store; events/s over the command's wall time
(as ../streaming_5m_s37_processes/throughput_ab.py), CPU and peak RSS of the child (`wait4`), and what the
state directory holds at the end: the RocksDB stores' files (`benchmarks.streaming.disk_usage`) and the pages
the embedded online store uses (LMDB's last page; its file is the whole map, allocated ahead).

    PYTHONPATH=. python3 benchmarks/results/state_format_s39/throughput_code_ab.py BOOTSTRAP OLD_TREE NEW_TREE [EVENTS] [PAIRS]

Each tree needs its native libraries built; the command runs with PYTHONPATH set to the tree."""
import os, re, subprocess, sys, tempfile, time, uuid
from pathlib import Path

import lmdb
from confluent_kafka.admin import AdminClient

from benchmarks.streaming import W1, create_topic, delete_topics, disk_usage, features_file, produce, recent, settle_disk

SUMMARY = re.compile(r"([\d,]+) records from (\S+) in ([\d.]+) s;")
bootstrap, trees = sys.argv[1], {"old": sys.argv[2], "new": sys.argv[3]}
events = int(sys.argv[4]) if len(sys.argv) > 4 else 5_000_000
pairs = int(sys.argv[5]) if len(sys.argv) > 5 else 2
admin = AdminClient({"bootstrap.servers": bootstrap})
topic = f"tput-{uuid.uuid4().hex[:8]}"
create_topic(admin, topic, 4)
print("produced", produce(bootstrap, topic, recent(W1, events), events)["events"], "events", flush=True)
with tempfile.TemporaryDirectory(prefix="tput-") as tmp:
    work = Path(tmp)
    features = features_file(work, topic)
    for pair in range(pairs):
        for name in (["old", "new"] if pair % 2 == 0 else ["new", "old"]):
            settle_disk()
            state = work / f"state-{name}-{pair}"
            command = [sys.executable, "-m", "streamfeat.cli", "run", str(features), "--bootstrap-servers", bootstrap,
                       "--stop-at-end", "--state-dir", str(state), "-w", "2"]
            started = time.perf_counter()
            with open(work / "out.log", "w+") as out:
                child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=work,
                                         env={**os.environ, "PYTHONPATH": trees[name]})
                _, status, usage = os.wait4(child.pid, 0)
                wall = time.perf_counter() - started
                out.seek(0)
                text = out.read()
            if status != 0:
                raise SystemExit(f"{name} exited with status {status}: {text[-3000:]}")
            found = SUMMARY.findall(text)
            records = sum(int(r.replace(",", "")) for r, _, _ in found)
            cpu = usage.ru_utime + usage.ru_stime
            disk = disk_usage(state)
            env = lmdb.open(str(next(state.glob("online.*[!k]"))), subdir=False, readonly=True, lock=False)
            used = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
            env.close()
            print(f"pair {pair + 1} {name}: {records:,} records, {records / wall:,.0f} events/s over {wall:.2f} s, "
                  f"CPU {cpu * 1e6 / records:.2f} µs/event, peak RSS {usage.ru_maxrss / 1024:,.0f} MB, "
                  f"RocksDB stores {disk['rocksdb_bytes'] / 1e6:,.1f} MB, online store {used / 1e6:,.1f} MB used "
                  f"of its {disk['online_store_bytes'] / 1e6:,.0f} MB file", flush=True)
delete_topics(admin, [topic])
