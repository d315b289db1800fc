"""Smoke test: the online-store write benchmark runs both modes on a tiny store and reports them."""

from __future__ import annotations

import json

from benchmarks.online_write import main


def test_tiny_run_writes_the_report(tmp_path) -> None:
    args = ["--entities", "3000", "--batch", "200", "--batches", "3", "--rounds", "2"]
    report = main([*args, "--workdir", str(tmp_path / "work"), "--out", str(tmp_path)])
    written = json.loads((tmp_path / "online_write.json").read_text())
    assert written == report
    assert {"cpu", "cores", "python", "load_average_at_start", "git_commit"} <= written["machine"].keys()
    for mode in ("writemap", "pwrite"):
        assert all(500 < r["rows"] <= 600 for r in written["rounds"][mode])  # distinct entities of 3 x 200 draws
        assert written["summary"][mode]["wall_us_per_row"] > 0
    # The shared map's file is its map, allocated at once (32 MiB at first); pwrite's grows as written.
    assert all(r["allocated_bytes"] >= r["file_bytes"] >= 32 << 20 for r in written["rounds"]["writemap"])
    assert all(r["file_bytes"] < 32 << 20 for r in written["rounds"]["pwrite"])
    assert written["pwrite_over_writemap_wall"] > 0
    assert all(r["fill_cpu_us_per_row"] > 0 and r["fill_wall_us_per_row"] > 0 for runs in written["rounds"].values() for r in runs)
    assert "shared map vs pwrite" in (tmp_path / "online_write.md").read_text()
    assert list((tmp_path / "work").iterdir()) == []  # the store files are removed
