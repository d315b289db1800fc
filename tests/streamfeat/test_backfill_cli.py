"""`streamfeat backfill` and `streamfeat parity` end to end on embedded defaults (files)."""

from __future__ import annotations

import random

import orjson
import pandas as pd

from streamfeat.cli import main
from streamfeat.clock import ManualClock
from streamfeat.loader import EXAMPLE_FEATURES, load_views
from streamfeat.online import FeatureReader, JsonlServedLog, LmdbStore
from streamfeat.workload import WorkloadSpec, write_jsonl

SPEC = WorkloadSpec(users=200, events=6_000, days=10, merchants=30, seed=9, out_of_order=0.05)


def _history(tmp_path):
    path = tmp_path / "events.jsonl"
    write_jsonl(SPEC, path)
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    return path, rows


def test_training_set_from_the_command_line(tmp_path, capsys):
    history, rows = _history(tmp_path)
    rng = random.Random(3)
    users = sorted({r["user_id"] for r in rows})
    spine = pd.DataFrame(
        {"user_id": [rng.choice(users) for _ in range(300)], "ts": [rng.randint(rows[0]["arrival"], rows[-1]["arrival"]) for _ in range(300)], "label": 1}
    )
    spine.to_csv(tmp_path / "spine.csv", index=False)
    out = tmp_path / "train.parquet"
    argv = ["backfill", str(EXAMPLE_FEATURES), "--input", str(history), "--spine", str(tmp_path / "spine.csv"),
            "--out", str(out), "--no-progress", "--rejects-dir", str(tmp_path / "rejects")]
    assert main(argv) == 0
    assert "300 rows x 7 features" in capsys.readouterr().out
    frame = pd.read_parquet(out)
    assert frame["user_id"].tolist() == spine["user_id"].tolist() and frame["label"].tolist() == [1] * 300
    assert (frame["count_lifetime"] > 0).any()
    assert (tmp_path / "rejects" / "late.jsonl").stat().st_size > 0  # 5 % out of order: some are late


def test_backfill_explains_missing_arguments(tmp_path, capsys):
    assert main(["backfill", str(EXAMPLE_FEATURES), "--spine", "s.csv", "--out", "o.parquet"]) == 1
    assert "--input FILE ... or --bootstrap-servers" in capsys.readouterr().err
    assert main(["backfill", str(EXAMPLE_FEATURES), "--input", "x.jsonl"]) == 1
    assert "--spine ROWS --out FILE" in capsys.readouterr().err
    assert main(["backfill", str(EXAMPLE_FEATURES), "--input", "x.jsonl", "--state-dir", str(tmp_path)]) == 1
    assert "replays the views' Kafka topic" in capsys.readouterr().err


def test_parity_of_an_embedded_run(tmp_path, capsys):
    """Serve from what `streamfeat run --input` wrote, log it, and check parity against the file."""
    history, rows = _history(tmp_path)
    state = tmp_path / "state"
    assert main(["run", str(EXAMPLE_FEATURES), "--input", str(history), "--state-dir", str(state)]) == 0
    (view,) = load_views(EXAMPLE_FEATURES)
    clock = ManualClock(rows[-1]["arrival"])
    log = JsonlServedLog(tmp_path / "served.jsonl")
    rng = random.Random(8)
    users = sorted({r["user_id"] for r in rows})
    with LmdbStore(state / "online.lmdb", readonly=True) as online:
        reader = FeatureReader(online, [view], clock=clock, served_log=log)
        for _ in range(150):
            clock.set(rows[-1]["arrival"] + rng.randint(0, 20 * 86_400_000))
            reader.get(view.name, rng.choice(users))
    log.close()
    capsys.readouterr()
    argv = ["parity", str(EXAMPLE_FEATURES), "--input", str(history), "--served-log", str(tmp_path / "served.jsonl"),
            "--no-progress"]
    assert main(argv) == 0, capsys.readouterr().out
    assert "OK: zero mismatches" in capsys.readouterr().out
    (tmp_path / "empty.jsonl").write_text("")
    argv[-2] = str(tmp_path / "empty.jsonl")
    assert main(argv) == 1  # an empty log proves nothing
