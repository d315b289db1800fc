"""Smoke test: the backfill benchmark runs every job on a tiny W1 prefix and writes its results."""

from __future__ import annotations

import json

from benchmarks.backfill import JOBS, main


def test_tiny_run_writes_every_job(tmp_path) -> None:
    report = main(["--events", "20000", "--spine-rows", "500", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path)])
    written = json.loads((tmp_path / "backfill.json").read_text())
    assert written == report
    assert written["events"] == 20_000 and written["spine_rows"] == 500
    assert [job["job"] for job in written["jobs"]] == list(JOBS)
    for job in written["jobs"]:
        assert job["records"] == 20_000 and job["events_per_s"] > 0 and job["peak_rss_bytes"] > 0
    per_feature = next(job for job in written["jobs"] if job["job"] == "per_feature")
    assert per_feature["replays"] == 14 and len(per_feature["per_feature"]) == 7
    assert all(f["events_per_s"] > 0 for f in per_feature["per_feature"])
    training = written["jobs"][-1]
    assert training["spine_rows"] == 500
    assert set(written["heavy_user"]["read_us"]) == {
        "count_lifetime", "count_365d_tile1d_every1d", "amount_sum_7d", "amount_max_30d",
        "merchant_id_approx_distinct_30d", "amount_last5_lifetime", "count_1h",
    }  # fmt: skip
    text = (tmp_path / "backfill.md").read_text()
    assert "| training |" in text and "Heavy-user reads" in text and "## Cost per feature" in text
