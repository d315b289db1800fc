"""The command line: --help everywhere, validate, demo and generate end to end."""

from __future__ import annotations

import io
import subprocess
import sys

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


def test_demo_prints_a_table():
    out = io.StringIO()
    result = run_demo(users=300, events=20_000, days=20, seed=3, show=2, out=out)
    text = out.getvalue()
    assert result.events == 20_000
    assert result.accepted + result.late + result.too_far_ahead == 20_000
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
