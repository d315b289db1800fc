"""Point-in-time training sets against the brute-force oracle, and the backfill API.

The property test replays random multi-entity histories — out-of-order, late,
future-dated and too-far-ahead events, arrivals stamped out of order, refresh cadences
with publish lags — from JSON Lines and from Parquet, with a tiny entity cache so state
spills to RocksDB, and batches that split entities' events; every spine row must equal
the oracle's value (``tests/oracle.py``, written from ``docs/semantics.md`` alone) for
that entity at that time.
"""

from __future__ import annotations

import gc
import tempfile
from pathlib import Path

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamfeat import (
    Count,
    CountDistinct,
    DefinitionError,
    Entity,
    FeatureView,
    First,
    Hopping,
    LastN,
    Lifetime,
    Max,
    Mean,
    Sliding,
    Source,
    Sum,
    Tumbling,
)
from streamfeat.backfill import (
    PointInTimeRequest,
    Spine,
    get_training_set,
    point_in_time,
    to_utc_ms,
    write_training_set,
)
from streamfeat.errors import HistoryError
from streamfeat.history import JsonlHistory, ParquetHistory, open_history
from tests import oracle

ENTITY = Entity("thing", key="k")


def make_view(allowed_lateness: int, max_ahead: int) -> FeatureView:
    source = Source("events", timestamp="ts", schema={"k": str, "ts": int, "x": float}, max_ahead=max_ahead)
    return FeatureView(
        "v",
        entity=ENTITY,
        source=source,
        allowed_lateness=allowed_lateness,
        features=[
            Count(window=Lifetime()),
            Count(window=Sliding(40, tile=10), refresh=20, publish_lag=5),
            Sum("x", window=Sliding(40), strategy="subtract"),
            Max("x", window=Sliding(40), strategy="two_stacks"),
            LastN("x", n=3),
            Mean("x", window=Hopping(40, hop=10)),
            CountDistinct("x", window=Sliding(40), refresh=40, publish_lag=25),
            First("x", window=Tumbling(20)),
        ],
    )


KEYS = ["a", "b", "c"]


@st.composite
def scenarios(draw):
    n = draw(st.integers(0, 45))
    events = []
    for _ in range(n):
        et = draw(st.integers(0, 200))
        events.append((draw(st.sampled_from(KEYS)), et, et + draw(st.integers(-12, 60)), draw(st.integers(-40, 40)) / 4))
    # Spine times: anywhere, and right at / around arrivals and refresh boundaries, where an
    # off-by-one in "arrived at or before t" would show.
    near = [a + d for _, _, a, _ in events for d in (-1, 0, 1)] + [b + d for b in range(0, 300, 20) for d in (4, 5, 6)]
    times = st.one_of(st.integers(-50, 320), st.sampled_from(near)) if near else st.integers(-50, 320)
    spine = draw(st.lists(st.tuples(st.sampled_from(KEYS + ["never"]), times), min_size=1, max_size=30))
    return events, spine


def write_jsonl(path: Path, events) -> None:
    path.write_bytes(b"".join(orjson.dumps({"k": k, "ts": ts, "x": x, "arrival": a}) + b"\n" for k, ts, a, x in events))


def write_parquet(path: Path, events) -> None:
    table = pa.table(
        {
            "k": pa.array([e[0] for e in events], pa.string()),
            "ts": pa.array([e[1] for e in events], pa.int64()),
            "x": pa.array([e[3] for e in events], pa.float64()),
            "arrival": pa.array([e[2] for e in events], pa.int64()),
        }
    )
    pq.write_table(table, path)


def records(frame: pd.DataFrame, names: list[str] | None = None) -> list[dict]:
    """Rows as dicts, with pandas' NaN for a missing float turned back into None."""
    rows = (frame if names is None else frame[names]).to_dict("records")
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()} for row in rows]


def oracle_rows(view: FeatureView, events, spine) -> list[dict]:
    per_key: dict[str, list[oracle.RawEvent]] = {}
    for k, ts, a, x in events:
        per_key.setdefault(k, []).append(oracle.RawEvent(ts, a, x))
    accepted = {
        k: oracle.accept(raw, allowed_lateness=view.allowed_lateness, max_ahead=view.source.max_ahead)[0]
        for k, raw in per_key.items()
    }
    rows = []
    for k, t in spine:
        rows.append(
            {f.output_name: oracle.expected(f, oracle.in_window(f, accepted.get(k, []), t)) for f in view.features}
        )
    return rows


@given(
    scenario=scenarios(),
    allowed_lateness=st.sampled_from([0, 7, 10_000]),
    max_ahead=st.sampled_from([15, 10_000]),
    batch_size=st.sampled_from([1, 4, 1000]),
)
def test_training_set_matches_oracle(scenario, allowed_lateness, max_ahead, batch_size):
    events, spine = scenario
    view = make_view(allowed_lateness, max_ahead)
    want = oracle_rows(view, events, spine)
    frame = pd.DataFrame({"k": [k for k, _ in spine], "ts": [t for _, t in spine]})
    with tempfile.TemporaryDirectory() as tmp:
        jsonl, parquet = Path(tmp) / "h.jsonl", Path(tmp) / "h.parquet"
        write_jsonl(jsonl, events)
        write_parquet(parquet, events)
        got = {}
        for kind, history in (
            ("jsonl", JsonlHistory([jsonl], topic="events")),
            ("parquet", ParquetHistory([parquet], topic="events")),
        ):
            got[kind] = get_training_set(frame, view, history, batch_size=batch_size, cache_entities=1, work_dir=tmp)
    names = [f.output_name for f in view.features]
    assert records(got["jsonl"], names) == records(got["parquet"], names)
    result = got["jsonl"]
    assert result["k"].tolist() == frame["k"].tolist() and result["ts"].tolist() == frame["ts"].tolist()
    for i, (row, expected) in enumerate(zip(records(result), want)):
        for feature in view.features:
            name = feature.output_name
            value = row[name]
            assert oracle.agrees(feature, value, expected[name]), (i, spine[i], name, value, expected[name])


def _events(n: int = 400, keys: int = 20) -> list[tuple[str, int, int, float]]:
    import random

    rng = random.Random(5)
    out = []
    for i in range(n):
        et = i * 1_000 + rng.randint(-5_000, 0)
        out.append((f"u{rng.randrange(keys)}", et, et + rng.randint(0, 3_000), float(rng.randint(1, 100))))
    return out


def test_spine_rows_keep_order_and_extra_columns(tmp_path):
    view = make_view(0, 10_000)
    events = _events()
    write_jsonl(tmp_path / "h.jsonl", events)
    spine = pd.DataFrame({"k": ["u3", "u1", "u3", "nobody"], "ts": [300_000, -100_000, 300_000, 5], "label": [1, 0, 1, 0]})
    frame = get_training_set(spine, view, open_history([tmp_path / "h.jsonl"], topic="events"))
    assert frame.columns.tolist()[:3] == ["k", "ts", "label"]
    assert frame["label"].tolist() == [1, 0, 1, 0]
    assert records(frame)[0] == records(frame)[2]  # a repeated row gets the same values
    assert frame.loc[3, "count_lifetime"] == 0 and frame.loc[3, "x_last3_lifetime"] == []
    assert frame.loc[1, "count_lifetime"] == 0  # before the entity's first event: the empty value


def test_spine_columns_keep_their_dtypes_and_index_order(tmp_path):
    """The spine's own columns reach the training set as they are (a category stays a
    category, a string key column its dtype), by position even under a shuffled index; the
    time column is UTC ms as int64 whatever the spine gave."""
    view = make_view(0, 10_000)
    write_jsonl(tmp_path / "h.jsonl", _events())
    spine = pd.DataFrame(
        {
            "k": pd.array(["u3", "u1", "nobody"], dtype="string"),
            "ts": ["1970-01-01T00:05:00Z", "1970-01-01T00:00:00Z", "1970-01-01T00:00:00.005Z"],
            "label": pd.Categorical(["yes", "no", "yes"]),
        },
        index=[7, 3, 5],
    )
    frame = get_training_set(spine, view, open_history([tmp_path / "h.jsonl"], topic="events"))
    assert frame["k"].dtype == spine["k"].dtype and frame["k"].tolist() == ["u3", "u1", "nobody"]
    assert frame["ts"].dtype == "int64" and frame["ts"].tolist() == [300_000, 0, 5]
    assert isinstance(frame["label"].dtype, pd.CategoricalDtype) and frame["label"].tolist() == ["yes", "no", "yes"]
    assert frame.index.tolist() == [0, 1, 2]


def test_feature_selection_and_output_files(tmp_path):
    view = make_view(0, 10_000)
    write_jsonl(tmp_path / "h.jsonl", _events())
    spine = pd.DataFrame({"k": ["u1", "u2"], "ts": ["1970-01-01T00:05:00Z", 300_000]})
    frame = get_training_set(
        spine, view, JsonlHistory([tmp_path / "h.jsonl"], topic="events"), features=["count_lifetime", "v:x_last3_lifetime"]
    )
    assert frame.columns.tolist() == ["k", "ts", "count_lifetime", "x_last3_lifetime"]
    assert frame["ts"].tolist() == [300_000, 300_000]
    with pytest.raises(DefinitionError, match="unknown feature 'nope'"):
        get_training_set(spine, view, JsonlHistory([tmp_path / "h.jsonl"], topic="events"), features=["nope"])
    write_training_set(frame, tmp_path / "out.parquet")
    back = pd.read_parquet(tmp_path / "out.parquet")
    assert back["count_lifetime"].tolist() == frame["count_lifetime"].tolist()
    assert [list(v) for v in back["x_last3_lifetime"]] == frame["x_last3_lifetime"].tolist()
    write_training_set(frame, tmp_path / "out.csv")
    text = (tmp_path / "out.csv").read_text()
    assert text.splitlines()[0] == "k,ts,count_lifetime,x_last3_lifetime"


def test_spilling_changes_nothing(tmp_path):
    view = make_view(5_000, 10_000)
    events = _events(2_000, keys=300)
    write_jsonl(tmp_path / "h.jsonl", events)
    spine = Spine([f"u{i % 300}" for i in range(900)], [(i * 2_222) % 2_100_000 for i in range(900)])
    history = JsonlHistory([tmp_path / "h.jsonl"], topic="events")
    roomy, _ = point_in_time([PointInTimeRequest(view, spine.keys, spine.times)], history, cache_entities=10_000)
    tight, report = point_in_time([PointInTimeRequest(view, spine.keys, spine.times)], history, cache_entities=3, batch_size=97)
    assert roomy == tight
    assert report.records == 2_000 and report.rows == 900
    budgeted, _ = point_in_time([PointInTimeRequest(view, spine.keys, spine.times)], history, cache_entities=3,
                                batch_size=97, memory_limit="1MiB")  # always over: the caches only shrink
    assert budgeted == roomy
    with pytest.raises(DefinitionError, match="memory_limit"):
        point_in_time([PointInTimeRequest(view, spine.keys, spine.times)], history, memory_limit="lots")
    assert gc.isenabled(), "a refused call leaves the automatic collector as it was"


def test_bad_records_are_counted_and_written(tmp_path):
    view = make_view(0, 10_000)
    lines = [b'{"k": "a", "ts": 5, "x": 1.0}', b"not json", b'{"k": "a", "ts": "late", "x": 1.0}', b'{"k": "a", "ts": 99999999, "x": 1.0, "arrival": 0}']
    (tmp_path / "h.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    from streamfeat.replay import JsonlRejectSink

    with JsonlRejectSink(tmp_path / "dead.jsonl", tmp_path / "late.jsonl") as sink:
        (columns,), report = point_in_time(
            [PointInTimeRequest(view, ["a"], [10])], JsonlHistory([tmp_path / "h.jsonl"], topic="events"), rejects=sink
        )
    assert columns["count_lifetime"] == [1]
    assert report.dead_letters == {"malformed_json": 1, "wrong_type": 1, "too_far_ahead": 1}
    dead = [orjson.loads(line) for line in (tmp_path / "dead.jsonl").read_bytes().splitlines()]
    assert sorted(d["offset"] for d in dead) == [1, 2, 3]
    assert next(d for d in dead if d["reason"] == "too_far_ahead")["payload"] == lines[3].decode()


def test_parquet_schema_mismatch_is_a_clear_error(tmp_path):
    view = make_view(0, 10_000)
    pq.write_table(pa.table({"k": ["a"], "ts": ["not an int"], "x": [1.0]}), tmp_path / "h.parquet")
    with pytest.raises(HistoryError, match="column 'ts' has type string"):
        point_in_time([PointInTimeRequest(view, ["a"], [1])], ParquetHistory([tmp_path / "h.parquet"], topic="events"))
    pq.write_table(pa.table({"k": ["a"], "x": [1.0]}), tmp_path / "h2.parquet")
    with pytest.raises(HistoryError, match="lacks the source's field"):
        point_in_time([PointInTimeRequest(view, ["a"], [1])], ParquetHistory([tmp_path / "h2.parquet"], topic="events"))


def test_parquet_null_rows_become_dead_letters(tmp_path):
    view = make_view(0, 10_000)
    pq.write_table(pa.table({"k": ["a", None, "a"], "ts": [1, 2, None], "x": [1.0, 2.0, 3.0]}), tmp_path / "h.parquet")
    (columns,), report = point_in_time(
        [PointInTimeRequest(view, ["a"], [10])], ParquetHistory([tmp_path / "h.parquet"], topic="events")
    )
    assert columns["count_lifetime"] == [1]
    assert report.dead_letters == {"missing_field": 2}


def test_parquet_non_finite_numbers_become_dead_letters(tmp_path):
    """JSON cannot carry NaN or infinity, Parquet can: an infinite amount would turn a
    subtract-on-evict sum into NaN for as long as the window holds it."""
    view = make_view(0, 10_000)
    x = [1.0, float("nan"), float("inf"), -float("inf"), 2.0]
    pq.write_table(pa.table({"k": ["a"] * 5, "ts": [1, 2, 3, 4, 5], "x": x}), tmp_path / "h.parquet")
    (columns,), report = point_in_time(
        [PointInTimeRequest(view, ["a"], [10])], ParquetHistory([tmp_path / "h.parquet"], topic="events")
    )
    assert columns["count_lifetime"] == [2]
    assert report.dead_letters == {"wrong_type": 3}


@pytest.mark.parametrize(
    "table",
    [
        {"k": ["a", "b", "a"], "ts": [1, 2, 3], "x": [1.5, -2.0, 3.25], "arrival": [1, 5, 5]},
        {"k": [7, 8, 7], "ts": [1, 2, 3], "x": [1, 2**60 + 1, -3], "arrival": [2, 2, 9]},  # int keys, int amounts
        {"k": ["ü", "a" * 200, "x"], "ts": [1, 2, 3], "x": [0.0, -0.0, 1e300]},  # no arrival column
    ],
)
def test_parquet_clean_batches_equal_the_row_by_row_path(tmp_path, table):
    """A batch without problems is validated column-wise (Arrow compute); it must give
    exactly what the row-by-row path gives."""
    view = make_view(0, 10_000)
    pq.write_table(pa.table(table), tmp_path / "h.parquet")
    fast = ParquetHistory([tmp_path / "h.parquet"], topic="events")
    slow = ParquetHistory([tmp_path / "h.parquet"], topic="events")
    slow._clean_batch = lambda *args, **kwargs: None  # force the row-by-row path
    (a,) = fast.batches(view.source, "k", 10)
    (b,) = slow.batches(view.source, "k", 10)
    for x, y in ((a, b), (a.decoded, b.decoded)):
        for name in ("keys", "event_times", "arrivals", "columns", "positions", "offsets", "next_offset", "records"):
            if hasattr(x, name):
                got, want = getattr(x, name), getattr(y, name)
                if name == "offsets":  # a range on the clean path
                    got, want = list(got), list(want)
                assert got == want, name
    assert [type(v) for v in a.decoded.columns["x"]] == [float] * 3
    assert a.dead_letters == b.dead_letters == []


def test_timestamps_parse_to_utc_ms():
    assert to_utc_ms([5, "7", "1970-01-01T00:00:01Z", "1970-01-01T00:00:01.5+00:00", pd.Timestamp(2_000, unit="ms")]) == [
        5,
        7,
        1_000,
        1_500,
        2_000,
    ]
    import numpy as np

    assert to_utc_ms([np.datetime64(2_500, "ms"), np.datetime64(3, "s"), np.int64(7)]) == [2_500, 3_000, 7]
    with pytest.raises(HistoryError, match="neither UTC milliseconds nor ISO-8601"):
        to_utc_ms(["yesterday"], column="ts")


def test_a_row_at_an_arrival_sees_that_event(tmp_path):
    """`arrived at or before t`: an event arriving exactly at a row's time counts, one
    arriving a millisecond later does not — also when one arrival answers several rows."""
    view = make_view(0, 10_000)
    write_jsonl(tmp_path / "h.jsonl", [("a", 20, 20, 1.0), ("a", 30, 31, 2.0)])
    spine = Spine(["a"] * 5, [5, 20, 19, 30, 31])
    (columns,), _ = point_in_time([PointInTimeRequest(view, spine.keys, spine.times)], JsonlHistory([tmp_path / "h.jsonl"], topic="events"))
    assert columns["count_lifetime"] == [0, 1, 0, 1, 2]


@pytest.mark.parametrize("seed", [1, 2])
def test_native_and_python_training_sets_are_identical(tmp_path, monkeypatch, seed):
    """The example view on the native core (rows answered inside its batch call) and on the
    Python operators (batches cut at the rows) give the same training set, value for value."""
    import random

    from operators.native import NativeViewOperator
    from streamfeat.build import NATIVE_ENV, build_view
    from streamfeat.loader import EXAMPLE_FEATURES, load_views

    (view,) = load_views(EXAMPLE_FEATURES)
    assert isinstance(build_view(view), NativeViewOperator)
    rng = random.Random(seed)
    n, t, rows = 6_000, 1_700_000_000_000, []
    for _ in range(n):
        t += rng.randint(0, 90_000)
        event_time = t - rng.choice([0, 0, 0, rng.randint(0, 900_000), -rng.randint(0, 4_000_000)])
        rows.append((f"u{rng.randint(0, 60)}", f"m{rng.randint(0, 90)}", rng.uniform(-5, 500), event_time, t))
    table = {name: [r[i] for r in rows] for i, name in enumerate(["user_id", "merchant_id", "amount", "ts", "arrival"])}
    pq.write_table(pa.table(table), tmp_path / "h.parquet")
    first, last = rows[0][4], rows[-1][4]
    keys = [f"u{rng.randint(0, 70)}" for _ in range(700)]  # some never seen
    times = [rng.randint(first - 86_400_000, last + 40 * 86_400_000) for _ in keys]
    for row in rng.sample(rows, 300):  # exactly at an arrival: that event is in the answer
        keys.append(row[0])
        times.append(row[4])
    history = ParquetHistory([tmp_path / "h.parquet"], topic="transactions")
    (fast,), fast_report = point_in_time([PointInTimeRequest(view, keys, times)], history, batch_size=500)
    monkeypatch.setenv(NATIVE_ENV, "0")
    (slow,), slow_report = point_in_time([PointInTimeRequest(view, keys, times)], history, batch_size=500)
    assert fast == slow
    assert (fast_report.accepted, fast_report.late, fast_report.dead_letters, fast_report.rows) == (
        slow_report.accepted, slow_report.late, slow_report.dead_letters, slow_report.rows
    )
