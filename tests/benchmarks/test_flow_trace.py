"""benchmarks.flow_trace: the hook activates in `streamfeat run` only, and the timeline splits
each batch's oldest record's time into its stages."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from benchmarks.flow_trace import HOOK_DIR, load_trace, render, summarize


def _env(path) -> dict[str, str]:
    return dict(os.environ, STREAMFEAT_TRACE=str(path), PYTHONPATH=os.pathsep.join([str(HOOK_DIR), os.getcwd()]))


def test_the_hook_writes_a_trace_from_streamfeat_run_only(tmp_path):
    traced, untraced = tmp_path / "run.jsonl", tmp_path / "validate.jsonl"
    for command, path in (("run", traced), ("validate", untraced)):
        done = subprocess.run(
            [sys.executable, "-m", "streamfeat.cli", command, "--help"], env=_env(path), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    assert traced.exists()  # installed: nothing read, at most garbage collections
    assert {record[0] for record in load_trace(traced)} <= {"gc"}
    assert not untraced.exists()


def test_each_stage_is_measured_from_the_records_of_its_batch(tmp_path):
    t = 1_000.0  # seconds; Kafka timestamps in ms
    records = [
        ["read", t + 0.100, 1, 10, 1_000_000 - 50, 1_000_000 + 90],  # oldest record sent 150 ms before the read
        ["proc", t + 0.100, t + 0.120, 1, 10],
        ["hand", t + 0.120, t + 0.125, 1, 4],  # read -> handed: 25 ms
        ["wround", t + 0.110, t + 0.130, 1],  # started before the hand-off: not the round that wrote it
        ["wround", t + 0.131, t + 0.165, 1],  # handed -> written: 40 ms
        ["commit", t + 0.170, t + 0.200, 1],
        ["gc", t + 0.210, t + 0.260, 2],  # a collection: 50 ms
    ]
    path = tmp_path / "trace.jsonl"
    path.write_text("".join(f"{r}\n".replace("'", '"') for r in records))
    summary = summarize(load_trace(path))
    stages = summary["stages_ms"]
    assert summary["batches"] == 1 and summary["commits"] == 1
    assert stages["kafka_to_read"]["p50"] == pytest.approx(150.0, abs=0.1)
    assert stages["read_to_handed"]["p50"] == pytest.approx(25.0, abs=0.1)
    assert stages["handed_to_written"]["p50"] == pytest.approx(40.0, abs=0.1)
    assert stages["total"]["p50"] == pytest.approx(215.0, abs=0.1)
    assert summary["commit_ms"]["p50"] == pytest.approx(30.0, abs=0.1)
    assert summary["collections"] == 1 and summary["gc_ms"]["p50"] == pytest.approx(50.0, abs=0.1)
    assert "kafka to read" in render(summary) and "garbage collection ms (1)" in render(summary)


def test_a_late_producer_start_is_taken_off_kafka_to_read():
    t = 1_000.0
    records = [
        ["read", t + 0.100, 1, 10, 1_000_000 - 50, 1_000_000],  # timestamped 150 ms before the read
        ["hand", t + 0.120, t + 0.125, 1, 4],
        ["wround", t + 0.131, t + 0.165, 1],
    ]
    # the producer started 140 ms after the planned start: the record was sent 10 ms before the read
    stages = summarize(records, late_start_ms=140)["stages_ms"]
    assert stages["kafka_to_read"]["p50"] == pytest.approx(10.0, abs=0.1)
    assert stages["total"]["p50"] == pytest.approx(75.0, abs=0.1)


def test_an_empty_trace_says_so():
    assert summarize([])["batches"] == 0
    assert render({"batches": 0}).startswith("no batch")


def _run(t: float, seconds: float) -> list[list]:
    """A batch read at ``t`` (handed over and written) and a last read ``seconds`` later: a run
    of that length from its first read to its last."""
    return [
        ["read", t, 1, 10, 1_000_000, 1_000_000],
        ["hand", t + 0.01, t + 0.02, 1, 4],
        ["wround", t + 0.03, t + 0.04, 1],
        ["read", t + seconds, 1, 10, 1_000_000 + int(seconds * 1000), 1_000_000 + int(seconds * 1000)],
    ]


def test_commit_phases_and_the_share_of_time_committing_are_reported():
    t = 1_000.0
    records = _run(t, 1.0) + [
        ["commit", t + 0.2, t + 0.45, 1],
        ["phase", "RocksDB write batch (states and offsets)", t + 0.25, t + 0.40, 1],
        ["phase", "recency order and eviction", t + 0.40, t + 0.45, 1],
    ]
    summary = summarize(records)
    assert summary["commit_share"] == pytest.approx(0.25)
    assert summary["commit_phases_ms"]["RocksDB write batch (states and offsets)"]["p50"] == pytest.approx(150.0)
    assert summary["commit_phases_ms"]["recency order and eviction"]["p50"] == pytest.approx(50.0)
    text = render(summary)
    assert "| commit: RocksDB write batch (states and offsets) ms | 150.0 |" in text
    assert "committing 25% of the run's time" in text


def test_each_part_of_a_workers_work_gets_its_cpu_wall_and_waiting_per_second():
    t = 1_000.0
    records = _run(t, 2.0) + [
        ["step", "batch", t + 0.1, t + 0.5, 1, 0.3],  # 400 ms wall, 300 ms CPU: waited 100 ms
        ["step", "batch", t + 1.0, t + 1.2, 2, 0.1],  # another worker: 200 ms wall, 100 ms CPU
        ["step", "batch: decode and validate", t + 0.1, t + 0.2, 1, 0.1],  # never waited
    ]
    steps = summarize(records)["worker_steps"]
    assert steps["batch"] == {"cpu_ms_per_s": 200.0, "wall_ms_per_s": 300.0, "waiting_share": pytest.approx(1 / 3, abs=1e-3),
                              "calls_per_s": 1.0}  # fmt: skip
    assert steps["batch: decode and validate"]["waiting_share"] == 0.0
    assert list(steps) == ["batch", "batch: decode and validate"]  # in the order first seen
    text = render(summarize(records))
    assert "| batch | 200.0 | 300.0 | 33% | 1.0 |" in text


def test_a_trace_from_before_the_steps_has_no_worker_table():
    summary = summarize(_run(1_000.0, 1.0))
    assert summary["worker_steps"] == {}
    assert "waiting = wall" not in render(summary)
