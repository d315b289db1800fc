"""The CPU shares a benchmark reports beside its latencies (benchmarks.cpu_share)."""

from __future__ import annotations

import os
import subprocess
import sys

from benchmarks.cpu_share import (
    CpuSampler,
    local_broker_pids,
    machine_cpu_s,
    peak_rss_mb,
    process_cpu_s,
    with_descendants,
)
from tests.services.fixtures import kafka_bootstrap  # noqa: F401


def _spin(seconds: float) -> None:
    import time

    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_a_process_cpu_time_is_read_from_proc_and_a_gone_one_is_none() -> None:
    before = process_cpu_s(os.getpid())
    _spin(0.2)
    after = process_cpu_s(os.getpid())
    assert before is not None and after is not None and after - before >= 0.15
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_cpu_s(child.pid) is None and peak_rss_mb(child.pid) is None
    assert (peak_rss_mb(os.getpid()) or 0) > 10  # this interpreter and pytest


def test_the_sampler_gives_shares_of_one_core_per_role_and_interval() -> None:
    clock = iter([0.0, 1.0, 2.0])
    sampler = CpuSampler({"flow": [os.getpid()], "broker": []}, clock=lambda: next(clock))
    sampler.sample()
    _spin(0.3)
    sampler.sample()
    _spin(0.3)
    sampler.sample()
    summary = sampler.summary(events=1_000)
    assert summary["window_s"] == 2.0
    assert 25 <= summary["percent_of_one_core"]["flow"] <= 100  # 0.6 s of CPU over 2 s, plus what the test itself took
    assert summary["percent_of_one_core"]["broker"] is None  # no process: not measured, never 0
    assert len(summary["percent_per_interval"]["flow"]) == 2 and summary["percent_per_interval"]["broker"] == [
        None,
        None,
    ]
    assert summary["flow_us_per_event"] >= 500  # ~0.6 s over 1,000 events (/proc counts in 10 ms ticks)
    assert summary["peak_rss_mb"]["flow"] > 0 and "broker" not in summary["peak_rss_mb"]
    # the whole machine meanwhile: at least what this process spun, at most every core; none stolen is >= 0
    machine = summary["machine"]
    assert machine["cores"] == os.cpu_count() and len(machine["busy_percent_per_interval"]) == 2
    assert 0 < machine["busy_percent_of_one_core"] <= 100 * os.cpu_count() * 1.05
    assert 0 <= machine["steal_percent_of_one_core"] <= machine["busy_percent_of_one_core"]
    assert CpuSampler({"flow": [os.getpid()]}).summary(10)["flow_us_per_event"] is None  # fewer than two samples


def test_the_machine_busy_time_counts_every_core_but_idle_and_io_wait() -> None:
    before = machine_cpu_s()
    _spin(0.3)
    after = machine_cpu_s()
    assert before is not None and after is not None
    assert after[0] - before[0] >= 0.25  # this process's spinning, at least (10 ms ticks)
    assert 0 <= after[1] - before[1] <= after[0] - before[0]


def test_the_local_broker_is_found_by_its_main_class(kafka_bootstrap: str) -> None:  # noqa: F811
    # the test session's broker (deploy/local/kafka.sh or a given one); when it runs elsewhere there is none here
    pids = local_broker_pids()
    assert all(process_cpu_s(pid) is not None for pid in pids)


def test_a_process_is_found_with_every_process_below_it(tmp_path) -> None:
    import time

    ready = tmp_path / "grandchild"
    code = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
            f"\"open({str(ready)!r}, 'w').close(); import time; time.sleep(30)\"]); time.sleep(30)")
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert time.monotonic() < deadline, "the grandchild did not start"
            time.sleep(0.02)
        found = with_descendants([child.pid])
        assert found[0] == child.pid and len(found) == 2
        assert with_descendants([os.getpid()])[0] == os.getpid() and child.pid in with_descendants([os.getpid()])
    finally:
        for pid in with_descendants([child.pid])[::-1]:
            os.kill(pid, 9)
        child.wait()
