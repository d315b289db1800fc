"""Throughput of `streamfeat run --stop-at-end` over one 5M-event W1 topic (recent event times,
4 partitions, as `python -m benchmarks.streaming` produces it): one process with two workers
(`-w 2`, the default) against one worker with the overlap prototype (`-w 1`, OVERLAP=1 and this
directory's sitecustomize.py), alternated, each run with a fresh state directory and online store.
(Stop 37's throughput_ab.py with these two variants.)

    python3 benchmarks/results/s54/overlap/throughput_ab.py BOOTSTRAP [EVENTS] [PAIRS]

Events/s: the records all processes read over the command's wall time from start to exit
(start-up and shutdown included, so below `benchmarks.streaming`'s flow-seconds figure);
CPU: all processes (getrusage of the reaped children: the supervisor reaps its members)."""
import os, re, resource, subprocess, sys, tempfile, time, uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from benchmarks.streaming import W1, create_topic, delete_topics, features_file, produce, recent, settle_disk

SUMMARY = re.compile(r"([\d,]+) records from (\S+) in ([\d.]+) s;")
bootstrap = sys.argv[1]
events = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000_000
pairs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
admin = AdminClient({"bootstrap.servers": bootstrap})
topic = f"tput-{uuid.uuid4().hex[:8]}"
create_topic(admin, topic, 4)
print("produced", produce(bootstrap, topic, recent(W1, events), events)["events"], "events", flush=True)
variants = {"w2": ["-w", "2"], "ov": ["-w", "1"]}
HERE = os.path.dirname(os.path.abspath(__file__))
envs = {"w2": dict(os.environ), "ov": {**os.environ, "OVERLAP": "1", "PYTHONPATH": HERE}}
with tempfile.TemporaryDirectory(prefix="tput-") as tmp:
    work = Path(tmp)
    features = features_file(work, topic)
    for pair in range(pairs):
        for name in (list(variants) if pair % 2 == 0 else list(reversed(variants))):
            settle_disk()
            state = work / f"state-{name}-{pair}"
            command = [sys.executable, "-m", "streamfeat.cli", "run", str(features), "--bootstrap-servers", bootstrap,
                       "--stop-at-end", "--state-dir", str(state), *variants[name]]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, cwd=work, check=False, env=envs[name])
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            if done.returncode != 0:
                raise SystemExit(f"{name} exited {done.returncode}: {done.stderr[-3000:]}")
            found = SUMMARY.findall(done.stdout)
            records = sum(int(r.replace(",", "")) for r, _, _ in found)
            flow_s = max(float(s) for _, _, s in found)
            print(f"pair {pair + 1} {name:5s}: {records:,} records, {records / wall:,.0f} events/s over the command's "
                  f"{wall:.2f} s ({records / flow_s:,.0f} over the slowest process's {flow_s:.2f} s), "
                  f"CPU {cpu:.1f} s = {cpu * 1e6 / records:.2f} µs/event", flush=True)
delete_topics(admin, [topic])
