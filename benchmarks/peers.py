"""streamfeat beside its peers on the same Kafka topic, in one run.

Run ``python -m benchmarks.peers [--events N] [--repeats R] [--max-seconds S] [--quick] [--out DIR]``.

1. Produces a prefix of :data:`~streamfeat.workload.W1` (default 5M events; JSON values
   keyed by ``user_id``, Kafka timestamp = arrival; 4 partitions) to a fresh topic, once,
   with the batched producer of :mod:`benchmarks.streaming`; and a small "agreement"
   topic: a W1-like stream of 500 users over the full 400 days, which every system
   drains completely so their values can be compared.
2. Runs four systems, each in its own process (so peak RSS is per system) with its own
   consumer group, round-robin for ``--repeats`` rounds (:mod:`benchmarks.peers_systems`):
   (a) streamfeat's real runtime (bytewax dataflow, RocksDB state, embedded online
   store, dead-letter and late topics); (b) bytewax's built-in windowing
   (``fold_window`` with a ``SlidingWindower``, ``stateful_map``); (c) Quix Streams
   (``hopping_window``, ``sliding_window``, a stateful ``apply``), from its own venv
   under ``~/.cache/streamfeat/`` because it pins an older confluent-kafka; (d) plain
   Python: ``consume(num_messages=10000)`` + ``orjson`` + dict updates — the ceiling.
3. Jobs: ``count365`` — a per-user count over 365 days with a 1-day hop (the target
   comparison) — and ``all3`` — that plus the 7-day sum of ``amount`` and the lifetime
   count. streamfeat and the plain ceiling drain the whole topic; the slow systems
   (bytewax windows, Quix: 365 window updates per event) stop after ``--max-seconds`` of
   processing (``--quick``: every system), and any run stops when its resident memory
   passes ``--rss-cap-mb``; the rate is measured over what it processed (between its first
   and last reported record) and the report says how far each run got.
4. Writes ``benchmarks/results/peers.{json,md}`` (written by the run, never by hand)
   and deletes the topics it created.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka.admin import AdminClient

from benchmarks._common import REPO, RESULTS_DIR, machine, write_results
from benchmarks.streaming import create_topic, delete_topics, produce
from streamfeat.workload import DAY_MS, W1, generate

DEFAULT_EVENTS = 5_000_000
QUICK_EVENTS = 5_000
AGREEMENT_SPEC = dataclasses.replace(W1, users=500, events=10_000)  # Quix drains it at a few hundred events/s
QUICK_AGREEMENT_SPEC = dataclasses.replace(W1, users=50, events=1_500)
AGREEMENT_SAMPLE = 200
PARTITIONS = 4
MAX_SECONDS = 60.0  # for the slow systems (bytewax windows, Quix): 365 window updates per event
QUICK_MAX_SECONDS = 5.0
DRAIN_MAX_SECONDS = 1_800.0  # streamfeat and the plain ceiling drain the topic; this only guards a hang
SLOW = ("bytewax", "quix")
RSS_CAP_MB = 4_000
START_ALLOWANCE_S = 120.0  # start-up time a run may take on top of --max-seconds before it is killed
SYSTEMS = ("streamfeat", "bytewax", "quix", "plain")
JOBS = ("count365", "all3")
QUIX_VERSION = "3.28.1"
QUIX_VENV = Path.home() / ".cache" / "streamfeat" / f"quixstreams-{QUIX_VERSION}"
TARGETS = {"quix": 5.0, "bytewax": 20.0, "plain": 1 / 3}
FLOAT_TOLERANCE = 1e-6  # relative, for sums


# -- Quix Streams in its own venv ----------------------------------------------------------------


def quix_python() -> Path:
    """The venv's Python with quixstreams installed (created on first use, then reused)."""
    python = QUIX_VENV / "bin" / "python"
    probe = [str(python), "-c", f"import quixstreams, orjson; assert quixstreams.__version__ == {QUIX_VERSION!r}"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    print(f"creating {QUIX_VENV} with quixstreams=={QUIX_VERSION} ...", flush=True)
    QUIX_VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(QUIX_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"quixstreams=={QUIX_VERSION}", "orjson"], check=True, timeout=900
    )
    subprocess.run(probe, check=True)
    return python


# -- running one system -------------------------------------------------------------------------


def _vm(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def run_system(system: str, cfg: dict[str, Any], work: Path, *, rss_cap: int) -> dict[str, Any]:
    """One run of one system in a subprocess; its last progress/final figures and peak RSS."""
    label = f"{system}-{cfg['job']}-{uuid.uuid4().hex[:6]}"
    cfg = {**cfg, "group": f"bench-peers-{label}", "state_dir": str(work / f"state-{label}")}
    config_path = work / f"{label}.json"
    config_path.write_text(json.dumps(cfg))
    python = quix_python() if system == "quix" else Path(sys.executable)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    stderr_path = work / f"{label}.stderr"
    lines: list[dict[str, Any]] = []
    with open(stderr_path, "w") as stderr:
        child = subprocess.Popen(
            [str(python), "-m", "benchmarks.peers_systems", system, str(config_path)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=REPO,
            env=env,
            text=True,
        )

        def read() -> None:
            assert child.stdout is not None
            for line in child.stdout:
                if line.startswith("{"):
                    lines.append(json.loads(line))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        started = time.monotonic()
        peak = 0
        stopped = None
        while child.poll() is None:
            peak = max(peak, _vm(child.pid, "VmHWM:"))
            if _vm(child.pid, "VmRSS:") > rss_cap:
                stopped = "rss_cap"
            elif time.monotonic() - started > cfg["max_seconds"] + START_ALLOWANCE_S:
                stopped = "wall_limit"
            if stopped:
                child.kill()
                child.wait()
                break
            time.sleep(0.1)
        reader.join(10)
    finals = [x["final"] for x in lines if "final" in x]
    progress = [x["progress"] for x in lines if "progress" in x]
    if finals:
        result = finals[-1]
    elif progress:
        result = {**progress[-1], "status": stopped or "died", "values": False}
    else:
        raise SystemExit(
            f"{system} ({cfg['job']}) exited {child.returncode} with no progress:\n{stderr_path.read_text()[-3000:]}"
        )
    if child.returncode not in (0, None) and not stopped and not finals:
        raise SystemExit(f"{system} ({cfg['job']}) failed:\n{stderr_path.read_text()[-3000:]}")
    result["peak_rss_bytes"] = max(peak, result.get("max_rss_bytes") or 0)
    result["wall_seconds"] = round(time.monotonic() - started, 2)
    shutil.rmtree(cfg["state_dir"], ignore_errors=True)
    return result


# -- agreement ----------------------------------------------------------------------------------

#: Which streamfeat output each system's values are compared with.
COMPARED = {
    "bytewax": {
        "count_365d_hop1d": "count_365d_hop1d",
        "amount_sum_7d_hop1d": "amount_sum_7d_hop1d",
        "count_lifetime": "count_lifetime",
    },
    "quix": {
        "count_365d_hop1d": "count_365d_hop1d",
        "amount_sum_7d": "amount_sum_7d",
        "count_lifetime": "count_lifetime",
    },
    "plain": {
        "count_365d_hop1d": "count_365d_hop1d",
        "amount_sum_7d": "amount_sum_7d",
        "count_lifetime": "count_lifetime",
    },
}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) <= FLOAT_TOLERANCE * max(1.0, abs(float(b)))
    return a == b


def agreement(reference: dict[str, Any], values: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """Per feature: sampled users whose value equals streamfeat's (a value the system never
    emitted — no window output — counts as 0 and is reported as ``missing``)."""
    out: dict[str, Any] = {}
    for theirs, ours in mapping.items():
        equal = differ = missing = 0
        examples = []
        for user, row in values.items():
            ref = (reference.get(user) or {}).get(ours, 0)
            got = (row or {}).get(theirs)
            if got is None:
                missing += 1
                got = 0
            if _same(got, ref):
                equal += 1
            else:
                differ += 1
                if len(examples) < 3:
                    examples.append({"user": user, "streamfeat": ref, "system": got})
        out[theirs] = {"streamfeat_feature": ours, "compared": equal + differ, "equal": equal, "differ": differ,
                       "missing_counted_as_0": missing, "examples": examples}  # fmt: skip
    return out


# -- the run ------------------------------------------------------------------------------------


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["events_per_s"] for r in runs if r.get("events_per_s")]
    return {
        "runs": len(runs),
        "events_per_s_median": round(statistics.median(rates)) if rates else None,
        "events_per_s_runs": rates,
        "events_processed": [r["events"] for r in runs],
        "statuses": [r["status"] for r in runs],
        "peak_rss_mb_median": round(statistics.median(r["peak_rss_bytes"] for r in runs) / 1e6) if runs else None,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from benchmarks import peers_report

    args = parse_args(argv)
    info = machine()
    print(
        f"machine: {info['cpu']} ({info['cores']} cores), {info['platform']}, {info['python']}; "
        f"load average {info['load_average_at_start']}; git {info['git_commit']}",
        flush=True,
    )
    bootstrap = args.bootstrap or os.environ.get("STREAMFEAT_KAFKA_BOOTSTRAP")
    if not bootstrap:
        raise SystemExit("give --bootstrap or set STREAMFEAT_KAFKA_BOOTSTRAP (a running Kafka broker)")
    quix_python()  # install before anything is timed
    admin = AdminClient({"bootstrap.servers": bootstrap})
    run_id = uuid.uuid4().hex[:8]
    topic, agree_topic = f"bench-peers-{run_id}", f"bench-peers-agree-{run_id}"
    created = [topic, agree_topic] + [f"{t}.{s}" for t in (topic, agree_topic) for s in ("dead-letters", "late")]
    agree_spec = QUICK_AGREEMENT_SPEC if args.quick else AGREEMENT_SPEC
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="streamfeat-peers-"))
    try:
        create_topic(admin, topic, PARTITIONS)
        create_topic(admin, agree_topic, PARTITIONS)
        produced = produce(bootstrap, topic, W1, args.events)
        print(f"produced {produced['events']:,} events to {topic} ({produced['produce_events_per_s']:,}/s)", flush=True)
        agree_produced = produce(bootstrap, agree_topic, agree_spec, agree_spec.events)
        batch = generate(agree_spec)
        read_at = int(batch.arrival.max())
        users = np.unique(batch.user)
        rng = np.random.Generator(np.random.PCG64(W1.seed))
        picked = rng.choice(users.size, min(args.sample, users.size), replace=False)
        sample = sorted(f"u{u}" for u in users[np.sort(picked)].tolist())
        base = {"bootstrap": bootstrap, "partitions": PARTITIONS, "align_ms": W1.start_ms}
        # Agreement: every system drains the small topic completely, all three features.
        agree_cfg = {
            **base,
            "topic": agree_topic,
            "job": "all3",
            "total": agree_spec.events,
            "max_seconds": 1e9,
            "sample": sample,
            "read_at_ms": read_at,
            "read_end_ms": (read_at // DAY_MS) * DAY_MS,
        }
        values: dict[str, Any] = {}
        agree_runs: dict[str, Any] = {}
        for system in SYSTEMS:
            path = work / f"values-{system}.json"
            result = run_system(system, {**agree_cfg, "values_out": str(path)}, work, rss_cap=args.rss_cap_mb * 10**6)
            agree_runs[system] = result
            values[system] = json.loads(path.read_text()) if result.get("values") else {}
            print(f"agreement run {system}: {result['status']}, {result['events']:,} events", flush=True)
        reference = values["streamfeat"]
        late = reference.pop("__late__", None)
        agree = {s: agreement(reference, values[s], COMPARED[s]) for s in COMPARED if values[s]}
        # Throughput on the big topic, round-robin so the machine's load spreads over every system.
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {job: {s: [] for s in SYSTEMS} for job in JOBS}
        plan = [(job, r) for job in JOBS for r in range(args.repeats if job == "count365" else args.all3_repeats)]
        for job, r in plan:
            for system in SYSTEMS:
                limit = args.max_seconds if system in SLOW or args.quick else DRAIN_MAX_SECONDS
                cfg = {**base, "topic": topic, "job": job, "total": produced["events"], "max_seconds": limit}
                result = run_system(system, cfg, work, rss_cap=args.rss_cap_mb * 10**6)
                runs[job][system].append(result)
                print(
                    f"{job} round {r + 1} {system:<10} {result['status']:<10} {result['events']:>10,} events "
                    f"{result.get('events_per_s') or 0:>10,}/s  peak RSS {result['peak_rss_bytes'] / 1e6:,.0f} MB",
                    flush=True,
                )
        summary = {job: {s: _summary(runs[job][s]) for s in SYSTEMS} for job in JOBS}
        ratios: dict[str, Any] = {}
        for job in JOBS:
            ours = summary[job]["streamfeat"]["events_per_s_median"]
            ratios[job] = {}
            for other in ("quix", "bytewax", "plain"):
                theirs = summary[job][other]["events_per_s_median"]
                ratio = ours / theirs if ours and theirs else None
                ratios[job][other] = {
                    "ratio": None if ratio is None else round(ratio, 3),
                    "target": TARGETS[other],
                    "met": None if ratio is None else ratio >= TARGETS[other],
                }
    finally:
        delete_topics(admin, created)
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "benchmark": "peers",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.peers", *(argv if argv is not None else sys.argv[1:])]),
        "machine": info,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "seconds": round(time.perf_counter() - started, 1),
        "parameters": {
            "events": args.events,
            "partitions": PARTITIONS,
            "repeats_count365": args.repeats,
            "repeats_all3": args.all3_repeats,
            "max_seconds": args.max_seconds,
            "max_seconds_applies_to": list(SLOW) if not args.quick else list(SYSTEMS),
            "drain_max_seconds": None if args.quick else DRAIN_MAX_SECONDS,
            "rss_cap_mb": args.rss_cap_mb,
            "quixstreams": QUIX_VERSION,
            "quix_venv": str(QUIX_VENV),
        },
        "versions": versions(),
        "workload": {"spec": dataclasses.asdict(W1), "produce": produced},
        "agreement_workload": {
            "spec": dataclasses.asdict(agree_spec),
            "produce": agree_produced,
            "sampled_users": len(sample),
            "read_at_ms": read_at,
            "read_end_ms": agree_cfg["read_end_ms"],
            "streamfeat_late_events": late,
        },
        "agreement_runs": agree_runs,
        "agreement": agree,
        "runs": runs,
        "summary": summary,
        "ratios": ratios,
    }
    write_results("peers", report, peers_report.markdown, args.out)
    print(f"wrote {args.out / 'peers.json'} and {args.out / 'peers.md'} in {report['seconds']} s", flush=True)
    return report


def versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {name: version(name) for name in ("bytewax", "confluent-kafka", "orjson", "rocksdict")}
    probe = "import quixstreams, confluent_kafka; print(quixstreams.__version__, confluent_kafka.__version__)"
    done = subprocess.run([str(quix_python()), "-c", probe], capture_output=True, text=True, check=True)
    quix, kafka = done.stdout.split()
    out["quixstreams"] = quix
    out["confluent-kafka (quix venv)"] = kafka
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=None, help=f"W1 prefix on the topic (default {DEFAULT_EVENTS:,})")
    parser.add_argument("--repeats", type=int, default=None, help="rounds of the count365 job (default 3, quick 1)")
    parser.add_argument("--all3-repeats", type=int, default=1, help="rounds of the three-feature job (default 1)")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help=f"processing time per bytewax/Quix run (default {MAX_SECONDS:.0f})",
    )
    parser.add_argument(
        "--rss-cap-mb", type=int, default=RSS_CAP_MB, help=f"kill a run above this RSS (default {RSS_CAP_MB})"
    )
    parser.add_argument("--sample", type=int, default=AGREEMENT_SAMPLE, help="users compared for agreement")
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run: {QUICK_EVENTS:,} events, one round, short runs"
    )
    parser.add_argument("--bootstrap", default=None, help="Kafka bootstrap (default $STREAMFEAT_KAFKA_BOOTSTRAP)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory (default benchmarks/results)")
    args = parser.parse_args(argv)
    if args.events is None:
        args.events = QUICK_EVENTS if args.quick else DEFAULT_EVENTS
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.max_seconds is None:
        args.max_seconds = QUICK_MAX_SECONDS if args.quick else MAX_SECONDS
    if min(args.events, args.repeats, args.all3_repeats, args.sample) <= 0 or args.max_seconds <= 0:
        parser.error("--events, --repeats, --all3-repeats, --sample and --max-seconds must be positive")
    return args


if __name__ == "__main__":
    main()
