"""Smoke test: the peers benchmark runs end to end in quick mode on the real broker."""

from __future__ import annotations

import json

from confluent_kafka.admin import AdminClient

from benchmarks.peers import JOBS, SYSTEMS, main
from tests.services.fixtures import kafka_bootstrap  # noqa: F401


def test_quick_run_writes_the_report_and_cleans_up(tmp_path, kafka_bootstrap: str) -> None:  # noqa: F811
    before = set(AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics)
    report = main(
        ["--quick", "--events", "3000", "--max-seconds", "4", "--bootstrap", kafka_bootstrap, "--out", str(tmp_path)]
    )
    written = json.loads((tmp_path / "peers.json").read_text())
    assert written == report
    assert {"cpu", "cores", "python", "load_average_at_start", "git_commit"} <= written["machine"].keys()
    assert written["versions"]["bytewax"] == "0.21.1" and written["versions"]["quixstreams"]
    assert written["workload"]["produce"]["events"] == 3_000
    for job in JOBS:
        for system in SYSTEMS:
            (run,) = written["runs"][job][system]
            assert run["status"] in ("drained", "time_limit", "rss_cap")
            assert 0 < run["events"] <= 3_000 and run["peak_rss_bytes"] > 0
            if run["status"] == "drained":
                assert run["events"] == 3_000
        for other in ("quix", "bytewax", "plain"):
            ratio = written["ratios"][job][other]
            assert ratio["ratio"] is None or ratio["ratio"] > 0
            assert ratio["met"] in (True, False, None)
    for system in SYSTEMS:
        assert written["agreement_runs"][system]["status"] == "drained"
    for system, features in written["agreement"].items():
        for name, a in features.items():
            assert a["compared"] == written["agreement_workload"]["sampled_users"] > 0, (system, name)
            assert a["equal"] + a["differ"] == a["compared"]
    markdown = (tmp_path / "peers.md").read_text()
    assert "365-day count, 1-day hop" in markdown and "Do the values agree?" in markdown
    after = set(AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics)
    assert not {t for t in after - before if t.startswith("bench-peers-")}, "benchmark topics were left behind"
