"""A 2-process bytewax cluster survives SIGKILL of either process: restart, and every value
equals a single-process run.

What bytewax 0.21.1 does when a peer dies (observed here, and documented in
docs/operations.md): the cluster has no membership changes. The surviving process's
timely communication thread panics as soon as the connection to the dead peer drops
("Send thread panic"), so the survivor exits non-zero within a fraction of a second.
Recovery therefore means restarting *every* process with the same ``-i``/``-a``; each
partition resumes from the offset committed atomically with its RocksDB state, so
nothing is lost or applied twice.

Each process keeps its state in its own directory, as each pod of the Kubernetes
StatefulSet keeps it on its own volume (deploy/k8s/dataflow.yaml): the test also shows
that a restarted cluster of the same shape gives every partition back to the process
whose directory holds its store (bytewax deals the partition keys, sorted as strings,
round-robin over the workers: here 0 and 2 to process 0, 1 and 3 to process 1).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson

from benchmarks.streaming import free_ports  # the one the benchmarks use for their clusters
from tests.services.fixtures import kafka_bootstrap  # noqa: F401  (fixture)
from tests.streamfeat.test_crash_recovery import ARRIVALS, PAYLOADS, committed, start, stream_topic, values

PARTITIONS = 4
KILLS = 2  # process 1 first, then process 0
PEER_EXIT_TIMEOUT_S = 60


def start_member(features: Path, bootstrap: str, cluster_dir: Path, process_id: int, addresses: str,
                 metrics_port: int) -> subprocess.Popen:
    """Process ``process_id`` with its own state directory and the cluster's shared online store."""
    return subprocess.Popen(
        [sys.executable, "-m", "streamfeat.cli", "run", str(features), "--bootstrap-servers", bootstrap,
         "--state-dir", str(cluster_dir / f"process-{process_id}"),
         "--online-store", str(cluster_dir / "online.lmdb"),
         "--stop-at-end", "--batch-size", "40", "-w", "1",
         "-i", str(process_id), "-a", addresses, "--metrics-port", str(metrics_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def records_read(metrics_port: int) -> int:
    """``streamfeat_records_total`` summed over the partitions of one process (0 until it answers)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=1) as response:
            text = response.read().decode()
    except OSError:  # the metrics server is not up yet
        return 0
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("streamfeat_records_total{")))


def cluster_committed(cluster_dir: Path, topic: str) -> int:
    return sum(committed(cluster_dir / f"process-{i}", topic) for i in (0, 1))


def stores(cluster_dir: Path, topic: str) -> dict[int, list[str]]:
    return {i: sorted(p.name for p in (cluster_dir / f"process-{i}").glob(f"{topic}-*")) for i in (0, 1)}


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def test_sigkill_one_process_of_a_cluster_then_restart_equals_single_process(kafka_bootstrap, tmp_path):  # noqa: F811
    topic, features = stream_topic(kafka_bootstrap, tmp_path, "cluster-restart", PARTITIONS)

    began = time.monotonic()
    single = start(features, kafka_bootstrap, tmp_path / "single", workers=1)
    assert single.wait(timeout=300) == 0, single.stderr.read().decode()[-2000:]
    single_s = time.monotonic() - began

    rng = random.Random(20261128)
    cluster_dir = tmp_path / "cluster"
    cluster_ports = free_ports(2)
    addresses = ";".join(f"127.0.0.1:{port}" for port in cluster_ports)
    timeline: list[str] = [f"single process, 1 worker: {single_s:.1f} s for {len(PAYLOADS):,} records"]
    progress: list[int] = []
    processes: list[subprocess.Popen] = []
    try:
        for kill_number in range(KILLS):
            victim = 1 - kill_number % 2
            metrics = free_ports(2)
            began = time.monotonic()
            processes = [start_member(features, kafka_bootstrap, cluster_dir, i, addresses, metrics[i]) for i in (0, 1)]
            # Kill once the victim is streaming: its partitions have read records since this start.
            threshold = rng.randint(500, 4_000)
            while records_read(metrics[victim]) < threshold:
                assert all(p.poll() is None for p in processes), (
                    f"a member ended before its kill: {[p.poll() for p in processes]}; "
                    + processes[victim].stderr.read().decode()[-2000:]
                )
                assert time.monotonic() - began < 120, "the cluster read nothing within 120 s"
                time.sleep(0.05)
            processes[victim].send_signal(signal.SIGKILL)
            processes[victim].wait(timeout=30)
            killed_at = time.monotonic()
            survivor = processes[1 - victim]
            # bytewax has no membership change: the survivor's communication thread panics and it exits.
            code = survivor.wait(timeout=PEER_EXIT_TIMEOUT_S)
            survivor_s = time.monotonic() - killed_at
            stderr = survivor.stderr.read().decode()
            assert code != 0, f"the survivor of a killed peer exited {code}:\n{stderr[-2000:]}"
            assert "panic" in stderr.lower(), stderr[-2000:]
            progress.append(cluster_committed(cluster_dir, topic))
            timeline.append(
                f"start {kill_number + 1}: SIGKILL process {victim} after {killed_at - began:.1f} s "
                f"(>= {threshold} records read by it); process {1 - victim} exited {code} "
                f"{survivor_s:.2f} s later; {progress[-1]:,} records committed"
            )

        assert 0 < progress[0] <= progress[-1] < len(PAYLOADS), f"kills must land mid-stream: {progress}"
        began = time.monotonic()
        metrics = free_ports(2)
        processes = [start_member(features, kafka_bootstrap, cluster_dir, i, addresses, metrics[i]) for i in (0, 1)]
        for process in processes:
            assert process.wait(timeout=300) == 0, process.stderr.read().decode()[-2000:]
        timeline.append(f"final restart of both processes: ran to the end in {time.monotonic() - began:.1f} s")
    finally:
        stop(processes)
    print("\n".join(timeline))

    assert cluster_committed(cluster_dir, topic) == committed(tmp_path / "single", topic) == len(PAYLOADS)
    # Every partition stayed with its process over the restarts: no store was opened anew elsewhere.
    assert stores(cluster_dir, topic) == {0: [f"{topic}-0", f"{topic}-2"], 1: [f"{topic}-1", f"{topic}-3"]}
    keys = sorted({orjson.loads(p)["user_id"] for p in PAYLOADS})
    for t in (max(ARRIVALS), max(ARRIVALS) + 86_400_000, max(ARRIVALS) + 40 * 86_400_000):
        want = values(tmp_path / "single", features, keys, t)
        got = values(cluster_dir, features, keys, t)
        assert {k: (want[k], got[k]) for k in keys if want[k] != got[k]} == {}
