"""Smoke test: the strategies benchmark runs end to end in quick mode and writes well-formed output."""

from __future__ import annotations

import json

from benchmarks.strategies import ROWS, WINDOWS, main


def test_quick_run_writes_json_markdown_and_plots(tmp_path) -> None:
    report = main(["--quick", "--events", "3000", "--out", str(tmp_path)])
    written = json.loads((tmp_path / "strategies.json").read_text())
    assert written == report
    assert {"cpu", "cores", "python", "load_average_at_start", "git_commit"} <= written["machine"].keys()
    assert set(written["workloads"]) == {"uniform", "zipf", "heavy", "w1_ooo"}
    cells = written["cells"]
    assert len(cells) == len(written["workloads"]) * len(WINDOWS) * len(ROWS)
    for cell in cells:
        if cell["status"] == "skipped":
            assert cell["reason"]
            continue
        assert cell["events_per_s"] > 0 and cell["cpu_us_per_event"] > 0
        assert cell["state_serialized_bytes"]["mean"] > 0 and cell["state_memory_bytes"]["mean"] > 0
        assert cell["read_us"]["mean"] > 0
        accuracy = cell["accuracy"]
        assert accuracy["reference"] is not None and accuracy["pairs"] > 0
        assert 0 <= accuracy["abs_mean"] <= accuracy["abs_max"]
        if cell["row"] in ("log", "two_stacks", "subtract", "lifetime", "exact_distinct"):
            assert accuracy["abs_max"] == 0, cell  # exact strategies agree with the event log
    skipped = {(c["row"], c["window"]) for c in cells if c["status"] == "skipped"}
    assert ("tiles_1d", "1h") in skipped and ("log", "lifetime") in skipped and ("lifetime", "7d") in skipped
    headline = written["headline"]
    assert set(headline["features"]) == {"lifetime", "exact_365d", "daily_365d", "tiles_365d"}
    assert headline["differences_at_end"]["lifetime"]["mean_signed"] >= 0  # lifetime never counts less
    assert headline["features"]["daily_365d"]["staleness_bound_ms"] == 26 * 3_600_000
    markdown = (tmp_path / "strategies.md").read_text()
    assert "Lifetime count vs exact 365-day count" in markdown and "Skipped cells" in markdown
    for name in written["plots"]:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(written["plots"]) == 3
