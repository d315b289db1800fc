"""``streamfeat run -p N``: the processes' command lines, the supervisor, and a real run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import orjson
import pytest

from streamfeat.cli import main
from streamfeat.local_cluster import free_local_addresses, member_argv, supervise
from tests.services.fixtures import kafka_bootstrap  # noqa: F401  (fixture)
from tests.streamfeat.test_crash_recovery import FIRST_ARRIVALS, FIRST_PAYLOADS, committed, start, stream_topic, values

ADDRESSES = ["127.0.0.1:7001", "127.0.0.1:7002"]


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "f.py", "--bootstrap-servers", "k:9092", "-p", "2", "-w", "1"],
        ["run", "f.py", "--bootstrap-servers", "k:9092", "--processes", "2", "-w", "1"],
        ["run", "f.py", "--bootstrap-servers", "k:9092", "--processes=2", "-w", "1"],
        ["run", "f.py", "--bootstrap-servers", "k:9092", "-p2", "-w", "1"],
    ],
)
def test_a_member_gets_the_command_line_without_processes_and_with_its_place(argv):
    assert member_argv(argv, 1, ADDRESSES) == [
        "run", "f.py", "--bootstrap-servers", "k:9092", "-w", "1", "-i", "1", "-a", ";".join(ADDRESSES),
    ]  # fmt: skip


@pytest.mark.parametrize("form", [["--metrics-port", "9100"], ["--metrics-port=9100"]])
def test_each_member_serves_metrics_on_its_own_port(form):
    argv = ["run", "f.py", "-p", "2", *form]
    assert [member_argv(argv, i, ADDRESSES)[-2:] for i in range(2)] == [["--metrics-port", "9100"],
                                                                        ["--metrics-port", "9101"]]


def test_free_local_addresses_are_distinct():
    addresses = free_local_addresses(3)
    assert len(set(addresses)) == 3 and all(a.startswith("127.0.0.1:") for a in addresses)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_supervise_returns_0_when_every_process_ends_well():
    assert supervise([python("pass"), python("import time; time.sleep(0.3)")], poll_s=0.02) == 0


def test_a_failing_process_stops_the_others_and_gives_its_status():
    started = time.monotonic()
    code = supervise([python("import time; time.sleep(60)"), python("import sys; sys.exit(3)")], poll_s=0.02)
    assert code == 3
    assert time.monotonic() - started < 30  # the sleeper was stopped, not waited for


def test_a_process_that_ignores_the_stop_is_killed_after_the_grace_period():
    ignores = python("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)")
    started = time.monotonic()
    assert supervise([ignores, python("import sys; sys.exit(5)")], stop_grace_s=0.5, poll_s=0.02) == 5
    assert time.monotonic() - started < 30


def test_a_process_ended_by_a_signal_gives_128_plus_its_number():
    assert supervise([python("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")], poll_s=0.02) == 128 + 9


SUPERVISOR = """
import sys
from streamfeat.local_cluster import supervise
member = "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); " \\
         "open(sys.argv[1], 'w').close(); time.sleep(60)"
sys.exit(supervise([[sys.executable, "-c", member, p] for p in sys.argv[1:]], poll_s=0.02))
"""


def test_sigterm_reaches_every_process_once_and_all_end_cleanly(tmp_path):
    ready = [tmp_path / "a", tmp_path / "b"]
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR, *map(str, ready)])
    deadline = time.monotonic() + 30
    while not all(path.exists() for path in ready):
        assert time.monotonic() < deadline, "the processes did not start"
        time.sleep(0.02)
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=30) == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--input", "events.jsonl"], "is for a Kafka run"),
        (["--bootstrap-servers", "127.0.0.1:1", "-i", "0", "-a", "127.0.0.1:7001"], "starts the cluster's processes"),
    ],
)
def test_processes_are_refused_where_they_do_not_apply(flags, message, tmp_path, capsys):
    features = os.path.join(os.path.dirname(__file__), "..", "..", "streamfeat", "examples", "transactions.py")
    assert main(["run", features, "--state-dir", str(tmp_path), "-p", "2", *flags]) == 1
    assert message in capsys.readouterr().err


def test_two_local_processes_equal_one_worker(kafka_bootstrap, tmp_path):  # noqa: F811
    """``run -p 2 -w 1`` over 4 partitions gives the values of one process with one worker."""
    topic, features = stream_topic(kafka_bootstrap, tmp_path, "local-cluster", 4, FIRST_PAYLOADS, FIRST_ARRIVALS)
    single = start(features, kafka_bootstrap, tmp_path / "single", workers=1)
    assert single.wait(timeout=300) == 0, single.stderr.read().decode()[-2000:]
    cluster = start(features, kafka_bootstrap, tmp_path / "cluster", workers=1, extra_flags=["-p", "2"])
    assert cluster.wait(timeout=300) == 0, cluster.stderr.read().decode()[-2000:]
    assert "2 processes" in cluster.stderr.read().decode()
    assert committed(tmp_path / "cluster", topic) == committed(tmp_path / "single", topic) == len(FIRST_PAYLOADS)
    keys = sorted({orjson.loads(p)["user_id"] for p in FIRST_PAYLOADS})
    t = max(FIRST_ARRIVALS) + 3_600_000
    assert values(tmp_path / "cluster", features, keys, t) == values(tmp_path / "single", features, keys, t)
