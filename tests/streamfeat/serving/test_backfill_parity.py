"""Server answers equal backfill answers at the same times (the training/serving contract).

A generated card-transaction stream (out-of-order and late events included) goes
through `streamfeat run --input` into the embedded store; `streamfeat serve` (in
process, with a hand-moved clock and a served log) answers at several times after the
stream's end — as the clock moves, and with explicit `at` — while windows expire on
quiet entities; `get_training_set` replays the same file at the same (entity, time)
points. Every value must be equal, floats included: one operator code path.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from streamfeat import ManualClock
from streamfeat.backfill import get_training_set
from streamfeat.cli import main as cli_main
from streamfeat.clock import DAY_MS, HOUR_MS, MINUTE_MS
from streamfeat.history import JsonlHistory
from streamfeat.loader import EXAMPLE_FEATURES, load_views
from streamfeat.online import JsonlServedLog, LmdbStore
from streamfeat.serving.client import Client
from streamfeat.serving.server import FeatureServer
from streamfeat.serving.service import FeatureService
from streamfeat.workload import WorkloadSpec, write_jsonl

OFFSETS = (0, MINUTE_MS, HOUR_MS + 1, DAY_MS, 3 * DAY_MS + 7, 8 * DAY_MS, 31 * DAY_MS, 400 * DAY_MS)


def plain(value: Any) -> Any:
    """A value as JSON holds it (the backfill's frame has NaN for None and arrays for lists)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def test_served_values_equal_backfill_values(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write_jsonl(WorkloadSpec(users=40, events=4_000, days=20, merchants=30, out_of_order=0.05, seed=3), events)
    assert cli_main(["run", str(EXAMPLE_FEATURES), "--input", str(events), "--state-dir", str(tmp_path / "state"),
                     "--batch-size", "700"]) == 0
    view = load_views(EXAMPLE_FEATURES)[0]
    last_arrival = max(orjson.loads(line)["arrival"] for line in events.read_bytes().splitlines())
    entities = [f"u{i}" for i in range(40)] + ["never-seen"]

    clock = ManualClock(last_arrival)
    served_log = JsonlServedLog(tmp_path / "served.jsonl")
    with LmdbStore(tmp_path / "state" / "online.lmdb", readonly=True) as store:
        service = FeatureService(store, [view], clock=clock, served_log=served_log)
        with FeatureServer(service, port=0).start_in_thread() as server, Client(server.url) as client:
            answers = []
            for offset in OFFSETS:
                clock.set(last_arrival + offset)  # as of the request time: no `at`
                answers += [client.get(view.name, e) for e in entities[:20]]
                answers += client.get_many(view.name, entities[20:])
                answers += client.get_many(view.name, entities[:5], at=last_arrival + offset + 5 * HOUR_MS)
    served_log.close()
    assert len(answers) == len(OFFSETS) * (len(entities) + 5)

    spine = pd.DataFrame({"user_id": [a.entity for a in answers], "ts": [a.as_of for a in answers]})
    frame = get_training_set(spine, view, JsonlHistory([events], topic=view.source.topic))
    differences = []
    for answer, (_, row) in zip(answers, frame.iterrows()):
        for name, value in answer.values.items():
            if plain(row[name]) != value:
                differences.append((answer.entity, answer.as_of, name, value, plain(row[name])))
    assert not differences, differences[:5]
    # quiet entities really changed between the times asked: windows closed at read time
    by_time = {a.as_of: a.values["amount_sum_7d"] for a in answers if a.entity == "u0"}
    assert len(set(by_time.values())) > 1

    logged = [orjson.loads(line) for line in (tmp_path / "served.jsonl").read_bytes().splitlines()]
    assert [(r["entity"], r["as_of"], r["values"]) for r in logged] == [(a.entity, a.as_of, a.values) for a in answers]
