"""Smoke test: the serving benchmark runs end to end on a tiny W1 prefix against both stores."""

from __future__ import annotations

import json

import redis

from benchmarks.serving import main
from tests.services.fixtures import redis_url  # noqa: F401


def test_tiny_run_writes_the_report_and_cleans_up(tmp_path, redis_url: str) -> None:  # noqa: F811
    args = ["--events", "3000", "--seconds", "0.3", "--reads", "300", "--rate", "300", "--batch-rate", "20"]
    report = main([*args, "--redis", redis_url, "--out", str(tmp_path)])
    written = json.loads((tmp_path / "serving.json").read_text())
    assert written == report
    assert {"cpu", "cores", "python", "load_average_at_start", "git_commit"} <= written["machine"].keys()
    assert written["data"]["events"] == 3_000 and written["data"]["entities"] > 0
    for store in ("embedded", "redis"):
        assert 0 < written["in_process"][store]["p50_us"] <= written["in_process"][store]["p99_us"]
        runs = written["http"][store]
        assert set(runs) == {"single_open", "single_closed", "batch100_open", "batch100_closed"}
        for run in runs.values():
            assert set(run["statuses"]) == {"200"} and run["requests"] > 0 and run["achieved_rate"] > 0
            assert 0 < run["p50_ms"] <= run["p99_ms"] <= run["max_ms"]
    assert runs["single_open"]["requests"] == 90
    table = (tmp_path / "serving.md").read_text()
    assert "In-process reads" in table and "streamfeat serve" in table
    client = redis.Redis.from_url(redis_url)
    try:
        assert not list(client.scan_iter(match="bench-serving-*", count=1000)), "benchmark keys were left behind"
    finally:
        client.close()
