"""Smoke test: the operators batch benchmark runs end to end on a tiny prefix of W1."""

from __future__ import annotations

import json

from benchmarks.operators_batch import CASES, main


def test_tiny_run_writes_one_entry_per_case(tmp_path) -> None:
    report = main(["--events", "20000", "--repeats", "1", "--out", str(tmp_path)])
    written = json.loads((tmp_path / "operators_batch.json").read_text())
    assert written == report
    assert written["workload"]["is_w1"] and written["workload"]["prefix_events"] == 20_000
    assert {"cpu", "cores", "python", "platform"} <= written["machine"].keys()
    assert [r["name"] for r in written["results"]] == [c.name for c in CASES]
    for r in written["results"]:
        assert r["events"] == 20_000
        assert r["accepted"] + r["late"] + r["too_far_ahead"] == 20_000
        assert r["events_per_s_best"] > 0 and r["state_bytes"]["entities"] > 0
        assert r["state_bytes"]["mean"] > 0
        assert r["target"] in (None, "met", "below")
    table = (tmp_path / "operators_batch.md").read_text()
    assert all(f"| {c.name} |" in table for c in CASES)


def test_a_case_over_its_time_limit_is_reported_not_fatal(tmp_path) -> None:
    report = main(
        ["--events", "20000", "--only", "readme_example_7", "--case-timeout", "0.001", "--out", str(tmp_path)]
    )
    (result,) = report["results"]
    assert result["status"] == "timeout" and result["completed_events"] < 20_000
    assert "stopped after" in (tmp_path / "operators_batch.md").read_text()
