"""Smoke test: the freshness A/B benchmark measures each variant over a real broker."""

from __future__ import annotations

import gc
import json

import pytest
from confluent_kafka.admin import AdminClient

from benchmarks.freshness import main, parse_args
from tests.services.fixtures import kafka_bootstrap  # noqa: F401


def test_tiny_run_measures_every_variant_alternately_and_cleans_up(tmp_path, kafka_bootstrap: str) -> None:  # noqa: F811
    before = set(AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics)
    frozen = gc.get_freeze_count()
    report = main([
        "--rate", "500", "--seconds", "2", "--rounds", "2", "--partitions", "2",
        "--variant", "every-batch=--commit-interval 0s", "--variant", "interval=--commit-interval 1s --large-state-bytes 1024",
        "--variant", "cluster=-w 1 --processes 2 --nice 5",
        "--bootstrap", kafka_bootstrap, "--out", str(tmp_path),
    ])  # fmt: skip
    assert json.loads((tmp_path / "freshness.json").read_text()) == report
    assert list(report["variants"]) == ["every-batch", "interval", "cluster"]
    for variant in report["variants"].values():
        assert len(variant["runs"]) == 2
        for run in variant["runs"]:
            assert run["status"] == "measured" and run["samples"] > 0 and run["unresolved"] == 0
            assert run["event_times"] == "recent"  # the end-to-end run's stream, at a paced rate
            assert run["reader_probe"] == "header"  # the reader reads each watched row's event time only
            assert run["p99_ms_per_5s"] and max(run["p99_ms_per_5s"]) <= run["max_ms"]
            # when each of the example's sliding windows starts keeping events: 1 000 events of a
            # day or two ago, sent live, fall inside the 7-, 30- and 365-day windows at once
            assert run["windows_keep_events_from_s"] == {"1h": None, "7d": 0.0, "30d": 0.0, "365d": 0.0}
            # what the flow, the benchmark and the (local) broker took of the machine meanwhile
            cpu = run["cpu"]
            assert cpu["window_s"] > 0 and cpu["percent_of_one_core"]["flow"] > 0 and cpu["flow_us_per_event"] > 0
            assert cpu["percent_of_one_core"]["benchmark"] > 0 and cpu["peak_rss_mb"]["flow"] > 0
            assert cpu["peak_rss_mb"]["benchmark"] > 0
            assert len(cpu["percent_per_interval"]["flow"]) >= 2  # production, then the drain
            # the whole machine meanwhile: at least the flow's share, whoever else ran
            assert cpu["machine"]["busy_percent_of_one_core"] >= 0.5 * cpu["percent_of_one_core"]["flow"]
        assert 0 < variant["median_p50_ms"] <= variant["median_p99_ms"]
    assert report["variants"]["interval"]["flags"] == ["--commit-interval", "1s", "--large-state-bytes", "1024"]
    # --processes is the benchmark's: two `streamfeat run -w 1` processes as a cluster, sharing the partitions
    assert report["variants"]["cluster"]["flags"] == ["-w", "1"] and report["variants"]["cluster"]["processes"] == 2
    # so is --nice: the flow's processes started at that niceness (here lower priority: no root needed)
    assert report["variants"]["cluster"]["nice"] == 5 and report["variants"]["interval"]["nice"] == 0
    assert all(run["flow_nice"] == 5 for run in report["variants"]["cluster"]["runs"])
    table = (tmp_path / "freshness.md").read_text()
    assert "| interval | `--commit-interval 1s --large-state-bytes 1024` | 1 | 0 |" in table
    assert "| cluster | `-w 1` | 2 | 5 |" in table
    assert "(recent event times)" in table and "the stream the end-to-end rate was measured on" in table
    assert "Windows keep events (the flow drops an event no read as of its arrival or later can include): 1h never, " \
        "7d from 0.0 s, 30d from 0.0 s, 365d from 0.0 s." in table
    assert "| run | flow % | benchmark % | broker % | flow µs per event |" in table and "| cluster run 2 |" in table
    assert "| flow peak RSS MB | benchmark peak RSS MB |" in table
    assert "| machine busy % | steal % | machine busy % per 5 s |" in table
    after = set(AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics)
    assert not {t for t in after - before if t.startswith("bench-")}, "benchmark topics were left behind"
    # the garbage collector, off while the producer is paced, is on again, nothing left frozen
    assert gc.isenabled() and gc.get_freeze_count() <= frozen


def test_variants_must_be_named_and_distinct() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--rate", "10", "--variant", "no-equals-sign"])
    with pytest.raises(SystemExit):
        parse_args(["--rate", "10", "--variant", "a=--x", "--variant", "a=--y"])
    assert [name for name, *_ in parse_args(["--rate", "10"]).variant] == ["commit-0s", "commit-1s"]
    with pytest.raises(SystemExit):
        parse_args(["--rate", "10", "--variant", "a=--processes"])
    with pytest.raises(SystemExit):
        parse_args(["--rate", "10", "--variant", "a=--processes 0"])
    assert parse_args(["--rate", "10", "--processes", "3", "--variant", "a=-w 1", "--variant", "b=--processes 2"]).variant == [
        ("a", ["-w", "1"], 3, 0), ("b", [], 2, 0)]
    # --nice N is the benchmark's too: the flow's processes start at that niceness (the run's --nice by default)
    assert parse_args(["--rate", "10", "--nice", "-5", "--variant", "a=", "--variant", "b=--nice 3 -w 1"]).variant == [
        ("a", [], 1, -5), ("b", ["-w", "1"], 1, 3)]
    for bad in ("a=--nice", "a=--nice x", "a=--nice 20", "a=--nice -21"):
        with pytest.raises(SystemExit):
            parse_args(["--rate", "10", "--variant", bad])


def test_a_traced_run_reports_where_the_time_went(tmp_path, kafka_bootstrap: str) -> None:  # noqa: F811
    report = main([
        "--rate", "500", "--seconds", "2", "--rounds", "1", "--partitions", "2", "--variant", "w2=",
        "--trace", "--probe", "rows", "--bootstrap", kafka_bootstrap, "--out", str(tmp_path),
    ])  # fmt: skip
    (run,) = report["variants"]["w2"]["runs"]
    assert run["reader_probe"] == "rows" and run["samples"] > 0  # whole rows, as a feature server reads
    (summary,) = run["trace"]  # one flow process
    assert summary["batches"] > 0 and summary["commits"] > 0
    stages = summary["stages_ms"]
    for name in ("kafka_to_read", "read_to_handed", "handed_to_written"):
        assert 0 <= stages[name]["p50"] <= stages[name]["p100"]
    table = (tmp_path / "freshness.md").read_text()
    assert "Where the time went, w2 run 1, flow process 0" in table and "(probe: rows;" in table
