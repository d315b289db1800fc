"""Backfill's native replay (``operators._native.ReplayJoin``: entity states held in the
native core) against the Python operators' replay and the brute-force oracle.

The property test replays random histories of a view the native core covers — out of
order, late, too far ahead, arrivals out of order, several entities, a refreshed tiled
count with a publish lag — from Parquet (Arrow buffers into the core) and from JSON Lines
(Python lists), with caches so small that states spill to the scratch store and are
loaded back, and batches that split entities' events. Every spine row must equal the
Python path's value exactly, and the oracle's within its documented tolerance; the
reports and the late records written must be the same.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operators.native import NativeViewOperator, available
from streamfeat import ApproxDistinct, Count, Entity, FeatureView, LastN, Lifetime, Max, Sliding, Source, Sum
from streamfeat.backfill import PointInTimeRequest, point_in_time
from streamfeat.build import NATIVE_ENV, build_view
from streamfeat.history import JsonlHistory, ParquetHistory
from streamfeat.replay import JsonlRejectSink
from tests import oracle

pytestmark = pytest.mark.skipif(not available(), reason="operators._native is not built (no Rust toolchain)")

KEYS = ["a", "b", "c", "d"]


def make_view(allowed_lateness: int, max_ahead: int) -> FeatureView:
    source = Source(
        "events", timestamp="ts", schema={"k": str, "m": str, "ts": int, "x": float}, max_ahead=max_ahead
    )
    return FeatureView(
        "v",
        entity=Entity("thing", key="k"),
        source=source,
        allowed_lateness=allowed_lateness,
        features=[
            Count(window=Lifetime()),
            Count(window=Sliding(40, tile=10), refresh=20, publish_lag=5),
            Sum("x", window=Sliding(40)),
            Max("x", window=Sliding(30)),
            ApproxDistinct("m", window=Sliding(40)),
            LastN("x", n=3),
            Count(window=Sliding(15)),
        ],
    )


@st.composite
def scenarios(draw):
    n = draw(st.integers(0, 60))
    events = []
    for _ in range(n):
        et = draw(st.integers(0, 200))
        events.append(
            (
                draw(st.sampled_from(KEYS)),
                f"m{draw(st.integers(0, 12))}",
                et,
                et + draw(st.integers(-12, 60)),
                draw(st.integers(-40, 40)) / 4,
            )
        )
    near = [a + d for *_, a, _ in events for d in (-1, 0, 1)] + [b + d for b in range(0, 300, 20) for d in (4, 5, 6)]
    times = st.one_of(st.integers(-50, 320), st.sampled_from(near)) if near else st.integers(-50, 320)
    spine = draw(st.lists(st.tuples(st.sampled_from(KEYS + ["never"]), times), min_size=1, max_size=30))
    return events, spine


def write_histories(directory: Path, events) -> tuple[Path, Path]:
    jsonl, parquet = directory / "h.jsonl", directory / "h.parquet"
    jsonl.write_bytes(
        b"".join(orjson.dumps({"k": k, "m": m, "ts": ts, "x": x, "arrival": a}) + b"\n" for k, m, ts, a, x in events)
    )
    pq.write_table(
        pa.table(
            {
                "k": pa.array([e[0] for e in events], pa.string()),
                "m": pa.array([e[1] for e in events], pa.string()),
                "ts": pa.array([e[2] for e in events], pa.int64()),
                "x": pa.array([e[4] for e in events], pa.float64()),
                "arrival": pa.array([e[3] for e in events], pa.int64()),
            }
        ),
        parquet,
    )
    return jsonl, parquet


def replay(view, history, spine, *, batch_size, cache_entities, rejects_dir: Path):
    with JsonlRejectSink(rejects_dir / "dead.jsonl", rejects_dir / "late.jsonl") as sink:
        (columns,), report = point_in_time(
            [PointInTimeRequest(view, [k for k, _ in spine], [t for _, t in spine])],
            history,
            batch_size=batch_size,
            cache_entities=cache_entities,
            work_dir=rejects_dir,
            rejects=sink,
        )
    late = [orjson.loads(line) for line in (rejects_dir / "late.jsonl").read_bytes().splitlines()]
    dead = [orjson.loads(line) for line in (rejects_dir / "dead.jsonl").read_bytes().splitlines()]
    return columns, (report.records, report.accepted, report.late, report.dead_letters, report.rows), late, dead


@settings(max_examples=60, deadline=None)
@given(
    scenario=scenarios(),
    allowed_lateness=st.sampled_from([0, 7, 10_000]),
    max_ahead=st.sampled_from([15, 10_000]),
    batch_size=st.sampled_from([1, 3, 1000]),
    cache_entities=st.sampled_from([1, 2, 1000]),
)
def test_native_replay_equals_python_replay_and_oracle(
    scenario, allowed_lateness, max_ahead, batch_size, cache_entities
):
    events, spine = scenario
    view = make_view(allowed_lateness, max_ahead)
    assert isinstance(build_view(view), NativeViewOperator)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        jsonl, parquet = write_histories(directory, events)
        got = {}
        for name, history in (
            ("parquet", ParquetHistory([parquet], topic="events")),
            ("jsonl", JsonlHistory([jsonl], topic="events")),
        ):
            out = directory / name
            out.mkdir()
            got[name] = replay(view, history, spine, batch_size=batch_size, cache_entities=cache_entities,
                               rejects_dir=out)
        out = directory / "python"
        out.mkdir()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(NATIVE_ENV, "0")
            assert not isinstance(build_view(view), NativeViewOperator)
            python = replay(view, ParquetHistory([parquet], topic="events"), spine, batch_size=batch_size,
                            cache_entities=cache_entities, rejects_dir=out)
    columns, report, late, dead = got["parquet"]
    assert (columns, report, late, dead) == python
    assert got["jsonl"][:3] == python[:3]  # JSON Lines dead letters carry the line's bytes
    for feature in view.features:  # the oracle takes one value per event: the feature's field
        per_key: dict[str, list[oracle.RawEvent]] = {}
        for k, m, ts, a, x in events:
            per_key.setdefault(k, []).append(oracle.RawEvent(ts, a, m if feature.input_field == "m" else x))
        accepted = {
            k: oracle.accept(raw, allowed_lateness=allowed_lateness, max_ahead=max_ahead)[0]
            for k, raw in per_key.items()
        }
        for i, (k, t) in enumerate(spine):
            want = oracle.expected(feature, oracle.in_window(feature, accepted.get(k, []), t))
            value = columns[feature.output_name][i]
            assert oracle.agrees(feature, value, want), (i, k, t, feature.output_name, value, want)


def test_spilled_states_come_back_and_rows_of_spilled_entities_are_answered(tmp_path):
    """More entities than the cache holds: states are spilled and loaded back, and rows of
    entities spilled at the end of the history are answered from the scratch store."""
    view = make_view(10_000, 10_000)
    events = [(f"e{i % 50}", f"m{i % 7}", i, i + 1, float(i % 11)) for i in range(2_000)]
    _, parquet = write_histories(tmp_path, events)
    spine = [(f"e{i}", t) for i in range(50) for t in (100, 1_000, 5_000)]
    history = ParquetHistory([parquet], topic="events")
    roomy = tmp_path / "roomy"
    tight = tmp_path / "tight"
    roomy.mkdir()
    tight.mkdir()
    want = replay(view, history, spine, batch_size=64, cache_entities=1_000, rejects_dir=roomy)
    got = replay(view, history, spine, batch_size=64, cache_entities=5, rejects_dir=tight)
    assert got == want
    assert want[0]["count_lifetime"][2::3] == [40] * 50  # each entity: every event by 5,000


def test_the_engine_refuses_a_batch_whose_spilled_states_were_not_loaded():
    view = make_view(0, 10_000)
    op = build_view(view)
    engine = op.replay_join(["a"], [5])
    assert engine.intern(["a", "b"]) == []
    engine.apply([1, 2], [1, 2], [None, None, [1.0, 2.0], [1.0, 2.0], ["m", "n"], [1.0, 2.0], None])
    assert engine.resident_count == 2
    spilled = engine.spill(0)
    assert sorted(key for key, _ in spilled) == ["a", "b"] and engine.resident_count == 0
    assert engine.intern(["b"]) == ["b"]
    with pytest.raises(ValueError, match="load the spilled states"):
        engine.apply([3], [3], [None, None, [1.0], [1.0], ["m"], [1.0], None])
    engine.load(["b"], [dict(spilled)["b"]])
    assert engine.apply([3], [3], [None, None, [1.0], [1.0], ["m"], [1.0], None]) == (1, [], [])
    with pytest.raises(ValueError, match="not spilled"):
        engine.load(["b"], [dict(spilled)["b"]])
    with pytest.raises(ValueError, match="offsets out of order"):
        engine.intern((pa.array([0, 5, 2], pa.int32()).to_numpy(), b"abcdef"))
    with pytest.raises(TypeError, match="expected strings"):
        engine.intern([1, 2])
    engine.answer_pending()
    assert engine.answered == (0, 1) and engine.spilled_with_rows(10) == ["a"]  # its state is in the caller's store
    engine.load(["a"], [dict(spilled)["a"]])
    engine.answer_pending()
    assert engine.answered == (1, 1)
    (counts,) = engine.columns([0])
    assert counts == [1]  # "a" as of 5: its event at 1


def test_clean_parquet_batches_reach_the_core_as_arrow(tmp_path):
    """The native replay reads a clean Parquet batch's buffers: the batch's Python lists
    are never built."""
    view = make_view(0, 10_000)
    _, parquet = write_histories(tmp_path, [("a", "m", 1, 1, 1.0), ("b", "n", 2, 2, 2.0)])
    history = ParquetHistory([parquet], topic="events")
    built = []
    batches = history.batches

    def watched(*args, **kwargs):
        for batch in batches(*args, **kwargs):
            built.append(batch)
            yield batch

    history.batches = watched  # type: ignore[method-assign]
    (columns,), report = point_in_time([PointInTimeRequest(view, ["a", "b"], [5, 5])], history)
    assert columns["count_lifetime"] == [1, 1] and report.accepted == {"v": 2}
    assert built and all(batch.arrow is not None and batch._decoded is None for batch in built)
    assert pd.Series(columns["x_sum_40ms"]).tolist() == [1.0, 2.0]


def test_a_row_at_an_arrival_sees_that_event(tmp_path):
    """`arrived at or before t` in the core: an event arriving exactly at a row's time
    counts, one arriving a millisecond later does not — also when one arrival answers
    several rows."""
    view = make_view(0, 10_000)
    _, parquet = write_histories(tmp_path, [("a", "m", 20, 20, 1.0), ("a", "m", 30, 31, 2.0)])
    keys, times = ["a"] * 5, [5, 20, 19, 30, 31]
    (columns,), _ = point_in_time([PointInTimeRequest(view, keys, times)], ParquetHistory([parquet], topic="events"))
    assert columns["count_lifetime"] == [0, 1, 0, 1, 2]


@settings(max_examples=30, deadline=None)
@given(scenario=scenarios())
def test_array_columns_make_the_frame_the_lists_make(tmp_path_factory, scenario):
    """`arrays=True` (what `get_training_set` asks for): int and float columns come as the
    NumPy arrays pandas infers from the lists, so the DataFrame is the same."""
    import numpy as np
    import pandas as pd

    events, spine = scenario
    _, parquet = write_histories(tmp_path_factory.mktemp("arrays"), events)
    view = make_view(10_000, 10_000)
    keys, times = [k for k, _ in spine], [t for _, t in spine]
    history = ParquetHistory([parquet], topic="events")
    (lists,), _ = point_in_time([PointInTimeRequest(view, keys, times)], history)
    (arrays,), _ = point_in_time([PointInTimeRequest(view, keys, times)], history, arrays=True)
    assert all(isinstance(column, list) for column in lists.values())
    assert isinstance(arrays["count_lifetime"], np.ndarray) and arrays["count_lifetime"].dtype == np.int64
    pd.testing.assert_frame_equal(pd.DataFrame(arrays), pd.DataFrame(lists))


def test_entity_keys_of_every_length_are_told_apart():
    """Keys up to 23 bytes are stored in place in the core's index, longer ones on the
    heap: keys on both sides of that boundary, multi-byte UTF-8 among them, stay distinct."""
    view = make_view(0, 10_000)
    op = build_view(view)
    keys = ["a" * 23, "a" * 24, "a" * 22, "ü" * 11, "ü" * 12, "b", "é" + "a" * 40]
    engine = op.replay_join(keys, [100] * len(keys))
    assert engine.intern(keys + keys[:3]) == []
    columns = [None, None, [1.0] * 10, [1.0] * 10, ["m"] * 10, [1.0] * 10, None]
    assert engine.apply([1] * 10, [1] * 10, columns) == (10, [], [])
    assert engine.entities == len(keys)
    engine.answer_pending()
    assert engine.columns([0]) == [[2, 2, 2, 1, 1, 1, 1]]


@pytest.mark.parametrize("native", ["1", "0"])
def test_bad_requests_are_refused_alike(tmp_path, monkeypatch, native):
    """Both replays check a request the same way before reading anything."""
    from streamfeat.errors import DefinitionError, HistoryError

    monkeypatch.setenv(NATIVE_ENV, native)
    view = make_view(0, 10_000)
    _, parquet = write_histories(tmp_path, [("a", "m", 1, 1, 1.0)])
    history = ParquetHistory([parquet], topic="events")
    with pytest.raises(HistoryError, match="row 1: time '5' is not integer UTC ms"):
        point_in_time([PointInTimeRequest(view, ["a", "a"], [5, "5"])], history)
    with pytest.raises(HistoryError, match="2 keys but 1 times"):
        point_in_time([PointInTimeRequest(view, ["a", "b"], [5])], history)
    with pytest.raises(DefinitionError, match=r"has no feature\(s\) \['nope'\]"):
        point_in_time([PointInTimeRequest(view, ["a"], [5], features=["nope"])], history)
