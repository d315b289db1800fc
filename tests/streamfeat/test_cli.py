"""The command line: --help everywhere, validate, demo and generate end to end."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streamfeat.cli import build_parser, main
from streamfeat.demo import run_demo
from streamfeat.loader import EXAMPLE_FEATURES, load_views


def subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


@pytest.mark.parametrize("command", [None, *subcommands()])
def test_every_command_has_help(command, capsys):
    argv = ["--help"] if command is None else [command, "--help"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "usage: streamfeat" in text
    assert len(text) > 200, "help should explain, not just list flags"


def test_console_script_is_installed():
    done = subprocess.run([sys.executable, "-m", "streamfeat.cli", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("streamfeat ")


def test_validate_example(capsys):
    assert main(["validate", str(EXAMPLE_FEATURES)]) == 0
    out = capsys.readouterr().out
    assert "count_365d_tile1d_every1d" in out and "strategy tiles" in out and "ok:" in out


def test_validate_reports_invalid_definitions(tmp_path, capsys):
    bad = tmp_path / "features.py"
    bad.write_text(
        "from streamfeat import *\n"
        "s = Source('s', timestamp='ts', schema={'k': str, 'ts': int})\n"
        "v = FeatureView('v', entity=Entity('e', key='k'), source=s, features=[Sum('amount')])\n"
    )
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "field 'amount' is not in source 's'" in err


def test_validate_missing_file(capsys):
    assert main(["validate", "/nonexistent/features.py"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_loader_finds_views_in_order():
    views = load_views(EXAMPLE_FEATURES)
    assert [v.name for v in views] == ["user_txn"]


def test_demo_runs_the_pipeline_and_prints_a_table(tmp_path):
    out = io.StringIO()
    result = run_demo(users=300, events=20_000, days=20, seed=3, show=2, workdir=tmp_path, out=out)
    text = out.getvalue()
    assert result.events == 20_000
    assert result.accepted + result.late + result.dead_letters == 20_000
    assert (tmp_path / "online.lmdb").is_file() and (tmp_path / "state").is_dir()
    assert "count_lifetime" in text and "amount_sum_7d" in text
    for values in result.table.values():
        assert values["count_lifetime"] >= values["count_1h"]
        assert values["count_lifetime"] >= values["count_365d_tile1d_every1d"]


def test_generate_writes_jsonl(tmp_path, capsys):
    out = tmp_path / "events.jsonl"
    assert main(["generate", "--users", "50", "--events", "1000", "--days", "2", "--out", str(out)]) == 0
    lines = out.read_bytes().splitlines()
    assert len(lines) == 1000
    first = orjson.loads(lines[0])
    assert set(first) == {"user_id", "merchant_id", "amount", "ts", "arrival"}


def test_run_replays_a_file_into_the_stores(tmp_path, capsys):
    events = tmp_path / "events.jsonl"
    assert main(["generate", "--users", "50", "--events", "2000", "--days", "3", "--out", str(events)]) == 0
    with events.open("ab") as handle:
        handle.write(b"this line is not json\n")
    state_dir = tmp_path / "state"
    argv = ["run", str(EXAMPLE_FEATURES), "--input", str(events), "--state-dir", str(state_dir)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2,001 records" in out and "1 dead letter" in out
    dead = (state_dir / "dead_letters.jsonl").read_bytes().splitlines()
    assert any(orjson.loads(line)["reason"] == "malformed_json" for line in dead)
    # Running again resumes after the committed offset: nothing is applied twice.
    assert main(argv) == 0
    assert "0 records" in capsys.readouterr().out
    # Values come back from the online store, as of a given time.
    records = [orjson.loads(line) for line in events.read_bytes().splitlines()[:-1]]
    end = max(r["arrival"] for r in records)
    assert main(["get", str(EXAMPLE_FEATURES), "user_txn", records[0]["user_id"], "nobody", "--state-dir",
                 str(state_dir), "--at", str(end + 1)]) == 0
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["values"]["count_lifetime"] >= 1 and lines[0]["event_time"] is not None
    assert lines[1]["values"]["count_lifetime"] == 0 and lines[1]["event_time"] is None


def generated_stream(tmp_path, users: int, events: int) -> tuple[Path, list[str], str]:
    """``streamfeat generate`` into ``tmp_path``: the file, its users, and a time after its last arrival."""
    path = tmp_path / "events.jsonl"
    assert main(["generate", "--users", str(users), "--events", str(events), "--days", "3", "--out", str(path)]) == 0
    records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    return path, sorted({r["user_id"] for r in records}), str(max(r["arrival"] for r in records) + 1)


def test_run_with_a_tiny_entity_cache_gives_the_same_values(tmp_path, capsys):
    """--cache-entities bounds the states in memory; the rest go through the state store
    and come back with the same values."""
    events, users, at = generated_stream(tmp_path, 300, 3000)
    answers = []
    for name, cache in (("small", "10"), ("default", "100000")):
        state_dir = tmp_path / name
        assert main(["run", str(EXAMPLE_FEATURES), "--input", str(events), "--state-dir", str(state_dir),
                     "--cache-entities", cache, "--batch-size", "200"]) == 0
        capsys.readouterr()
        assert main(["get", str(EXAMPLE_FEATURES), "user_txn", *users, "--state-dir", str(state_dir), "--at", at]) == 0
        answers.append(capsys.readouterr().out)
    assert answers[0] == answers[1] and answers[0].count("\n") == len(users)
    assert main(["run", str(EXAMPLE_FEATURES), "--input", str(events), "--cache-entities", "0"]) != 0
    assert "--cache-entities must be at least 1, got 0" in capsys.readouterr().err


def test_run_without_the_write_ahead_log_gives_the_same_values(tmp_path, capsys):
    """--state-wal off: commits skip RocksDB's log; a clean stop flushes them, so the values,
    the committed offsets and a resumed run are as with the log."""
    events, users, at = generated_stream(tmp_path, 200, 2000)
    answers = []
    for wal in ("on", "off"):
        state_dir = tmp_path / wal
        argv = ["run", str(EXAMPLE_FEATURES), "--input", str(events), "--state-dir", str(state_dir),
                "--state-wal", wal, "--state-flush-interval", "1h", "--batch-size", "300"]
        assert main(argv) == 0
        capsys.readouterr()
        assert main(argv) == 0  # resumes after the committed offset, which the stop flushed
        assert "0 records" in capsys.readouterr().out
        assert main(["get", str(EXAMPLE_FEATURES), "user_txn", *users, "--state-dir", str(state_dir), "--at", at]) == 0
        answers.append(capsys.readouterr().out)
    assert answers[0] == answers[1] and answers[0].count("\n") == len(users)


@pytest.mark.parametrize("flag", ["--poll-interval", "--commit-interval", "--state-flush-interval"])
def test_kafka_run_rejects_a_bad_interval_before_connecting(flag, tmp_path, capsys):
    """Intervals are checked before any connection is made: the message names the flag."""
    value = "soon" if flag == "--commit-interval" else "0s"
    code = main(["run", str(EXAMPLE_FEATURES), "--bootstrap-servers", "127.0.0.1:1", "--state-dir",
                 str(tmp_path / "state"), flag, value])
    assert code != 0
    assert flag in capsys.readouterr().err


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("isolation.level=read_uncommitted", "consumer setting 'isolation.level' is fixed by streamfeat"),
        ("fetch.wait.max.ms=soon", 'invalid consumer setting: Invalid value for configuration property "fetch.wait.max.ms"'),
    ],
)
def test_kafka_run_checks_consumer_settings_before_connecting(setting, message, tmp_path, capsys):
    """--consumer-config settings are checked before any connection (the address is unusable)."""
    code = main(["run", str(EXAMPLE_FEATURES), "--bootstrap-servers", "127.0.0.1:1", "--state-dir",
                 str(tmp_path / "state"), "--consumer-config", "fetch.min.bytes=65536", "--consumer-config", setting])
    assert code != 0
    assert message in capsys.readouterr().err


def test_consumer_config_takes_key_value_pairs(tmp_path, capsys):
    """A setting without '=' is a usage error naming the flag."""
    with pytest.raises(SystemExit) as stopped:
        main(["run", str(EXAMPLE_FEATURES), "--bootstrap-servers", "127.0.0.1:1", "--consumer-config", "fetch.min.bytes"])
    assert stopped.value.code == 2
    assert "--consumer-config: expected KEY=VALUE, got 'fetch.min.bytes'" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--workers", "--batch-size", "--large-state-bytes"])
def test_run_rejects_a_count_below_one_before_starting(flag, tmp_path, capsys):
    """A count or size below 1 is a usage error naming the flag (not a dataflow traceback,
    nor, for -w 0, a run that reads nothing)."""
    with pytest.raises(SystemExit) as stopped:
        main(["run", str(EXAMPLE_FEATURES), "--bootstrap-servers", "127.0.0.1:1", "--state-dir",
              str(tmp_path / "state"), flag, "0"])  # fmt: skip
    assert stopped.value.code == 2
    assert f"{flag}: must be at least 1, got '0'" in capsys.readouterr().err
