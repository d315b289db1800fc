"""The processing path: same values as the operators, exactly once across restarts."""

from __future__ import annotations

import math
import threading

import orjson
import pytest

from streamfeat import (
    ApproxDistinct,
    Count,
    Entity,
    FeatureView,
    LastN,
    Lifetime,
    ManualClock,
    Max,
    Sliding,
    Source,
    Sum,
    build_view,
)
from streamfeat.errors import DefinitionError, OnlineStoreError, PublishFailedError, RejectSinkError
from streamfeat.ingest import Reason
from streamfeat.online import BackgroundWriter, EmbeddedStore, FeatureReader, open_embedded_store
from streamfeat.pipeline import SEEDED_VIEW, FeaturePipeline, PipelineError
from streamfeat.state import RocksDBStateStore
from streamfeat.workload import WorkloadSpec, generate

SOURCE = Source(
    "transactions", timestamp="ts", schema={"user_id": str, "merchant_id": str, "amount": float, "ts": int},
    max_ahead="1h",
)
VIEWS = [
    FeatureView("user_txn", entity=Entity("user", key="user_id"), source=SOURCE, allowed_lateness="5m", features=[
        Count(window=Lifetime()),
        Count(window=Sliding("30d", tile="1d"), refresh="1d", publish_lag="2h"),
        Sum("amount", window=Sliding("7d")),
        Max("amount", window=Sliding("3d")),
        LastN("merchant_id", n=3),
    ]),
    FeatureView("merchant_txn", entity=Entity("merchant", key="merchant_id"), source=SOURCE, features=[
        Count(window=Sliding("1d")),
        Sum("amount", window=Lifetime()),
    ]),
]
SPEC = WorkloadSpec(users=300, events=20_000, days=20, merchants=40, seed=3, out_of_order=0.05)


def stream():
    batch = generate(SPEC)
    records = list(batch.records())
    payloads = [orjson.dumps({k: v for k, v in r.items() if k != "arrival"}) for r in records]
    return payloads, [r["arrival"] for r in records]


def expected_values(payloads, arrivals, t):
    """Every view applied in memory, straight through the operators."""
    out = {}
    for view in VIEWS:
        op = build_view(view)
        states = {}
        rows = [orjson.loads(p) for p in payloads]
        op.apply_batch(states, [r[view.entity.key] for r in rows], [r["ts"] for r in rows], arrivals,
                       op.columns_for({k: [r[k] for r in rows] for k in SOURCE.schema}))
        out[view.name] = {key: op.read(state, t) for key, state in states.items()}
    return out


#: The embedded store's two files: SQLite, and LMDB — whose native writer takes packed rows
#: (streamfeat.online.packed), so the pipeline then publishes through that path.
STORE_FILES = pytest.mark.parametrize("store_file", ["online.db", "online.lmdb"], ids=["sqlite", "lmdb-packed"])


def run(tmp_path, payloads, arrivals, *, batch=1_000, stop_after=None, name="run", clock=None, store_file="online.db"):
    """Process the stream in batches; with ``clock`` (a ManualClock), the clock reads each
    batch's newest arrival when it is published, as a live pipeline's would."""
    with (RocksDBStateStore(tmp_path / name / "state") as state,
          open_embedded_store(tmp_path / name / store_file) as online):
        pipeline = FeaturePipeline(VIEWS, state_store=state, online_store=online, clock=clock)
        assert pipeline._packs_rows == store_file.endswith(".lmdb")  # LMDB's native writer takes packed rows
        start = pipeline.next_offset("transactions", 0) or 0
        for offset in range(start, len(payloads), batch):
            if stop_after is not None and offset >= stop_after:
                break
            stop = min(offset + batch, len(payloads))
            if clock is not None:
                clock.set(max(arrivals[offset:stop]))
            pipeline.process("transactions", 0, list(range(offset, stop)), payloads[offset:stop], arrivals[offset:stop])


def read_all(tmp_path, t, name="run", store_file="online.db"):
    with open_embedded_store(tmp_path / name / store_file, readonly=True) as online:
        reader = FeatureReader(online, VIEWS)
        out = {}
        for view in VIEWS:
            keys = sorted({orjson.loads(p)[view.entity.key] for p in PAYLOADS})
            out[view.name] = {v.entity: v.values for v in reader.get_many(view.name, keys, at=t)}
        return out


PAYLOADS, ARRIVALS = stream()
END = max(ARRIVALS)


@STORE_FILES
def test_pipeline_values_equal_the_operators(tmp_path, store_file):
    run(tmp_path, PAYLOADS, ARRIVALS, store_file=store_file)
    want = expected_values(PAYLOADS, ARRIVALS, END + 3_600_000)
    got = read_all(tmp_path, END + 3_600_000, store_file=store_file)
    for view in want:
        assert {k: v for k, v in got[view].items() if k in want[view]} == want[view]


@STORE_FILES
def test_published_values_answer_exactly_as_the_state(tmp_path, store_file):
    """Published at the batch's arrival time, the values serve reads inside their span;
    every read still equals the operators' (the other reads decode the state)."""
    run(tmp_path, PAYLOADS, ARRIVALS, clock=ManualClock(), store_file=store_file)
    with open_embedded_store(tmp_path / "run" / store_file, readonly=True) as online:
        keys = sorted({orjson.loads(p)["user_id"] for p in PAYLOADS})
        rows = online.get_raw(VIEWS[0].name, VIEWS[0].fingerprint(), keys, at=END)
    assert all(row is not None and row.cached is not None for row in rows)
    assert sum(row.cached.covers(END) for row in rows) > len(rows) // 2  # most reads at END use them
    for t in (END, END + 60_000, END + 3_600_000, END + 86_400_000):
        want = expected_values(PAYLOADS, ARRIVALS, t)
        got = read_all(tmp_path, t, store_file=store_file)
        for view in want:
            assert {k: v for k, v in got[view].items() if k in want[view]} == want[view], (view, t)


@STORE_FILES
def test_a_field_only_distinct_counts_read_is_decoded_as_hashes_with_the_same_values(tmp_path, store_file):
    """Where the native core applies and publishes each batch (the LMDB store), a field only
    native distinct counts read comes from the decoder as hashes (stop 57): the values
    still equal the operators'."""
    views = [FeatureView("user_merchants", entity=Entity("user", key="user_id"), source=SOURCE, features=[
        ApproxDistinct("merchant_id", window=Sliding("7d")),
        Count(window=Sliding("7d")),
    ])]  # fmt: skip
    packs = store_file.endswith(".lmdb")
    with (RocksDBStateStore(tmp_path / "state") as state, open_embedded_store(tmp_path / store_file) as online):
        pipeline = FeaturePipeline(views, state_store=state, online_store=online)
        assert pipeline._hashed == {"transactions": frozenset({"merchant_id"}) if packs else frozenset()}
        for offset in range(0, len(PAYLOADS), 1_000):
            stop = min(offset + 1_000, len(PAYLOADS))
            pipeline.process("transactions", 0, list(range(offset, stop)), PAYLOADS[offset:stop], ARRIVALS[offset:stop])
    op = build_view(views[0])
    states: dict = {}
    rows = [orjson.loads(p) for p in PAYLOADS]
    op.apply_batch(states, [r["user_id"] for r in rows], [r["ts"] for r in rows], ARRIVALS,
                   op.columns_for({k: [r[k] for r in rows] for k in SOURCE.schema}))  # fmt: skip
    with open_embedded_store(tmp_path / store_file, readonly=True) as online:
        reader = FeatureReader(online, views)
        for t in (END, END + 86_400_000):
            got = {v.entity: v.values for v in reader.get_many("user_merchants", sorted(states), at=t)}
            assert got == {key: op.read(state, t) for key, state in states.items()}


def test_values_are_not_published_when_turned_off(tmp_path):
    with RocksDBStateStore(tmp_path / "s") as state, EmbeddedStore(tmp_path / "o.db") as online:
        pipeline = FeaturePipeline(VIEWS, state_store=state, online_store=online, publish_values=False)
        pipeline.process("transactions", 0, list(range(100)), PAYLOADS[:100], ARRIVALS[:100])
        key = orjson.loads(PAYLOADS[0])["user_id"]
        (row,) = online.get_raw(VIEWS[0].name, VIEWS[0].fingerprint(), [key], at=ARRIVALS[99])
        assert row is not None and row.cached is None and row.state


@STORE_FILES
def test_restart_midway_gives_the_same_values(tmp_path, store_file):
    run(tmp_path, PAYLOADS, ARRIVALS, name="straight", store_file=store_file)
    run(tmp_path, PAYLOADS, ARRIVALS, name="restarted", stop_after=7_000, store_file=store_file)
    run(tmp_path, PAYLOADS, ARRIVALS, name="restarted", batch=777, store_file=store_file)  # other batch sizes
    for t in (END, END + 86_400_000):
        assert read_all(tmp_path, t, "straight", store_file) == read_all(tmp_path, t, "restarted", store_file)


def test_redelivered_records_are_skipped(tmp_path):
    with RocksDBStateStore(tmp_path / "s") as state, EmbeddedStore(tmp_path / "o.db") as online:
        pipeline = FeaturePipeline(VIEWS, state_store=state, online_store=online)
        first = pipeline.process("transactions", 0, list(range(100)), PAYLOADS[:100], ARRIVALS[:100])
        again = pipeline.process("transactions", 0, list(range(50, 150)), PAYLOADS[50:150], ARRIVALS[50:150])
        assert first.next_offset == 100 and again.skipped == 50 and again.next_offset == 150
        assert sum(again.accepted.values()) <= 2 * 50


def test_a_batch_after_a_commit_reads_no_offsets_from_the_store(tmp_path):
    """Each batch checks its offsets against the last commit; after one, the pipeline knows
    what it committed and does not read the state store's offsets again (a RocksDB scan)."""
    with RocksDBStateStore(tmp_path / "s") as state, EmbeddedStore(tmp_path / "o.db") as online:
        pipeline = FeaturePipeline(VIEWS, state_store=state, online_store=online)
        reads = []
        scan = state.scan
        state.scan = lambda prefix: reads.append(prefix) or scan(prefix)
        for start in range(0, 500, 100):  # a commit after every batch (no interval)
            report = pipeline.process("transactions", 0, list(range(start, start + 100)),
                                      PAYLOADS[start:start + 100], ARRIVALS[start:start + 100])
            assert report.next_offset == start + 100 and report.skipped == 0
        again = pipeline.process("transactions", 0, list(range(450, 550)), PAYLOADS[450:550], ARRIVALS[450:550])
        assert again.skipped == 50 and again.next_offset == 550
        assert len(reads) <= 1  # at most the first batch's, before anything was committed
        assert state.offsets() == {("transactions", 0): 550}


def test_dead_letters_and_late_records(tmp_path):
    payloads = [
        orjson.dumps({"user_id": "u1", "merchant_id": "m1", "amount": 1.0, "ts": 10_000_000}),
        b"garbage",
        orjson.dumps({"user_id": "u1", "merchant_id": "m1", "amount": 1.0, "ts": 1_000}),  # late by far
        orjson.dumps({"user_id": "u1", "merchant_id": "m1", "amount": 1.0, "ts": 99_000_000}),  # too far ahead
    ]
    with RocksDBStateStore(tmp_path / "s") as state:
        pipeline = FeaturePipeline(VIEWS, state_store=state)
        report = pipeline.process("transactions", 0, [0, 1, 2, 3], payloads, [10_000_000] * 4)
    reasons = sorted((d.reason, d.offset) for d in report.dead_letters)
    assert reasons == [(Reason.MALFORMED_JSON, 1), (Reason.TOO_FAR_AHEAD, 3)]
    # Lateness is judged per view: the record is late for both (same user, same merchant).
    assert sorted((late.view, late.offset) for late in report.late) == [("merchant_txn", 2), ("user_txn", 2)]
    assert report.accepted == {"user_txn": 1, "merchant_txn": 1}


class _DeferredSink:
    """A reject sink whose writes are durable only once flushed; the first flush fails."""

    def __init__(self, events):
        self.events, self.pending, self.durable, self.failures = events, [], [], 1

    def write(self, dead_letters, late):
        self.pending.extend([*(d.offset for d in dead_letters), *(r.offset for r in late)])
        self.events.append("write")

    def flush(self):
        if self.failures:
            self.failures -= 1
            raise RejectSinkError("broker briefly unavailable")
        self.durable.extend(self.pending)
        self.pending.clear()
        self.events.append("flush")


class _RecordingState(RocksDBStateStore):
    events: list

    def commit(self, puts, deletes, offsets):
        self.events.append("commit")
        super().commit(puts, deletes, offsets)


def test_a_sink_that_defers_its_writes_is_flushed_before_every_commit(tmp_path):
    payloads = [b"garbage", orjson.dumps({"user_id": "u1", "merchant_id": "m1", "amount": 1.0, "ts": 10_000_000})]
    events = []
    sink = _DeferredSink(events)
    with _RecordingState(tmp_path / "s") as state:
        state.events = events
        pipeline = FeaturePipeline(VIEWS, state_store=state, rejects=sink, commit_interval_ms=60_000, sleep=lambda _: None)
        pipeline.process("transactions", 0, [0], payloads[:1], [10_000_000])
        pipeline.process("transactions", 0, [1], payloads[1:], [10_000_000])
        assert events == ["write"]  # not flushed per batch
        pipeline.commit()
    # The first flush failed and was retried; the rejects were durable before the state moved past them.
    assert events == ["write", "flush", "commit"]
    assert sink.durable == [0]


class FlakyStore:
    """The real embedded store behind a switch that fails the next ``failures`` writes."""

    def __init__(self, inner, failures):
        self.inner, self.failures = inner, failures

    def write(self, view, fingerprint, rows):
        if self.failures:
            self.failures -= 1
            raise OnlineStoreError("store briefly unavailable")
        return self.inner.write(view, fingerprint, rows)

    def get_raw(self, *args, **kwargs):
        return self.inner.get_raw(*args, **kwargs)

    def close(self):
        self.inner.close()


def test_online_outage_is_retried_and_nothing_is_lost(tmp_path):
    sleeps = []
    with RocksDBStateStore(tmp_path / "s") as state, EmbeddedStore(tmp_path / "o.db") as online:
        flaky = FlakyStore(online, failures=3)
        pipeline = FeaturePipeline(VIEWS, state_store=state, online_store=flaky, sleep=sleeps.append)
        report = pipeline.process("transactions", 0, list(range(500)), PAYLOADS[:500], ARRIVALS[:500])
        assert len(sleeps) == 3 and sleeps == sorted(sleeps) and report.published > 0
        flaky.failures = 10**9
        pipeline.retry_for_s = 0.0
        with pytest.raises(PipelineError, match="could not publish"):
            pipeline.process("transactions", 0, list(range(500, 600)), PAYLOADS[500:600], ARRIVALS[500:600])
        assert pipeline.next_offset("transactions", 0) == 500, "a failed batch is not committed"


def committed_rows(state, online):
    """Per view, the committed state's version of every entity, and the online row's."""
    from streamfeat.state.cache import read_state
    from streamfeat.state.keys import decode_state_key, view_prefix

    out = {}
    for view in VIEWS:
        op, prefix = build_view(view), view_prefix(view.fingerprint())
        entities = [decode_state_key(prefix, key) for key, _ in state.scan(prefix)]
        rows = online.get_raw(view.name, view.fingerprint(), entities)
        out[view.name] = {
            entity: (read_state(state, op, view.fingerprint(), entity).seq, None if row is None else row.version)
            for entity, row in zip(entities, rows, strict=True)
        }
    return out


def unconfirmed_keys(state):
    """Every view's entities listed as unconfirmed, as (view, entity)."""
    from streamfeat.state.keys import decode_unconfirmed, unconfirmed_key

    listed = state.get_many([unconfirmed_key(view.fingerprint()) for view in VIEWS])
    return sorted(
        (view.name, entity) for view, data in zip(VIEWS, listed) if data for entity in decode_unconfirmed(data)
    )


class BlockedStore(FlakyStore):
    """The real embedded store behind writes that wait until ``open`` is set."""

    def __init__(self, inner):
        super().__init__(inner, 0)
        self.open = threading.Event()

    def write(self, view, fingerprint, rows):
        self.open.wait()
        return super().write(view, fingerprint, rows)


def test_rows_a_writer_never_wrote_are_published_at_restart(tmp_path):
    """A commit does not wait for the background writer: it records the entities whose
    rows the writer had not written. After a crash that lost them, a pipeline opened on
    the store publishes their committed state before anything else."""
    with RocksDBStateStore(tmp_path / "s") as state, EmbeddedStore(tmp_path / "o.db") as online:
        FeaturePipeline(VIEWS, state_store=state, online_store=online)  # seeds it: no writes at start below
        blocked = BlockedStore(online)
        writer = BackgroundWriter(blocked)
        pipeline = FeaturePipeline(VIEWS, state_store=state, online_store=writer)
        for start in range(0, 2_000, 500):
            pipeline.process("transactions", 0, list(range(start, start + 500)), PAYLOADS[start : start + 500],
                             ARRIVALS[start : start + 500])
        assert pipeline.next_offset("transactions", 0) == 2_000, "committed without waiting for the writer"
        before = committed_rows(state, online)
        assert before["user_txn"] and all(row is None for view in before.values() for _, row in view.values())
        assert len(unconfirmed_keys(state)) == sum(len(view) for view in before.values())
        # The process dies here: the writer's rows are lost (its thread stays blocked).
        restarted = FeaturePipeline(VIEWS, state_store=state, online_store=online)
        after = committed_rows(state, online)
        assert all(version == row for view in after.values() for version, row in view.values())
        assert unconfirmed_keys(state) == [] and restarted.next_offset("transactions", 0) == 2_000
        blocked.open.set()
        writer.close()


def test_unconfirmed_entities_are_forgotten_once_written(tmp_path):
    with RocksDBStateStore(tmp_path / "s") as state, EmbeddedStore(tmp_path / "o.db") as online:
        FeaturePipeline(VIEWS, state_store=state, online_store=online)  # seeds it: no writes at start below
        blocked = BlockedStore(online)
        with BackgroundWriter(blocked) as writer:
            pipeline = FeaturePipeline(VIEWS, state_store=state, online_store=writer)
            pipeline.process("transactions", 0, list(range(500)), PAYLOADS[:500], ARRIVALS[:500])
            assert unconfirmed_keys(state)
            blocked.open.set()
            writer.flush()
            pipeline.process("transactions", 0, list(range(500, 600)), PAYLOADS[500:600], ARRIVALS[500:600])
            waiting = len(unconfirmed_keys(state))
            assert waiting <= len({orjson.loads(p)["user_id"] for p in PAYLOADS[500:600]}) + len(
                {orjson.loads(p)["merchant_id"] for p in PAYLOADS[500:600]})
            pipeline.commit(final=True)
            assert unconfirmed_keys(state) == []
            rows = committed_rows(state, online)
        assert all(version == row for view in rows.values() for version, row in view.values())


def test_a_background_writer_that_gave_up_stops_the_pipeline(tmp_path):
    """The writer's thread did the retrying: the pipeline raises at its next write,
    without retrying (and sleeping) again. What it committed before is published by the
    next pipeline on the store."""
    sleeps = []
    with RocksDBStateStore(tmp_path / "s") as state, EmbeddedStore(tmp_path / "o.db") as online:
        FeaturePipeline(VIEWS, state_store=state, online_store=online)  # seeds it: no writes at start below
        writer = BackgroundWriter(FlakyStore(online, failures=10**9), retry_for_s=0.0, sleep=sleeps.append)
        pipeline = FeaturePipeline(VIEWS, state_store=state, online_store=writer, sleep=sleeps.append)
        with pytest.raises(PipelineError, match="background writes .* failed.*store briefly unavailable"):
            for start in range(0, 10_000, 500):
                pipeline.process("transactions", 0, list(range(start, start + 500)), PAYLOADS[start : start + 500],
                                 ARRIVALS[start : start + 500])
                writer_failed = writer._failure is not None
                if writer_failed:
                    break
            pipeline.process("transactions", 0, list(range(start + 500, start + 600)),
                             PAYLOADS[start + 500 : start + 600], ARRIVALS[start + 500 : start + 600])
        assert sleeps == [] and pipeline.next_offset("transactions", 0) in (start, start + 500)
        with pytest.raises(PublishFailedError):
            writer.close()  # closes the store too
        with EmbeddedStore(tmp_path / "o.db") as online:
            FeaturePipeline(VIEWS, state_store=state, online_store=online)
            rows = committed_rows(state, online)
        assert all(version == row for view in rows.values() for version, row in view.values())


def test_unknown_topic_and_mismatched_sources():
    with pytest.raises(DefinitionError, match="share one Source"):
        other = Source("other", topic="transactions", timestamp="ts", schema={"user_id": str, "ts": int})
        FeaturePipeline([VIEWS[0], FeatureView("x", entity=Entity("u", key="user_id"), source=other,
                                               features=[Count()])], state_store=None)


class Ticks:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_with_interval(tmp_path, name, *, stop_after=None, batch=500, crashed_at=0, background=False,
                      store_file="online.db"):
    """Process with a 1 s commit interval (0.3 s of ``Ticks`` per batch) and a tiny
    large-state threshold, so many entities are published values-only; returns how many
    stale rows were seen and the checks made on them after each batch. ``background``:
    publish through a BackgroundWriter (the checks then read rows as its thread left them)."""
    keys = {view.name: sorted({orjson.loads(p)[view.entity.key] for p in PAYLOADS}) for view in VIEWS}
    ticks, clock = Ticks(), ManualClock()
    stale_seen = 0
    with (RocksDBStateStore(tmp_path / name / "state") as state,
          open_embedded_store(tmp_path / name / store_file) as online):
        writer = BackgroundWriter(online) if background else None
        pipeline = FeaturePipeline(VIEWS, state_store=state, online_store=writer or online, clock=clock,
                                   commit_interval_ms=1_000, large_state_bytes=120, monotonic=ticks)
        start = pipeline.next_offset("transactions", 0) or 0
        for offset in range(start, len(PAYLOADS), batch):
            if stop_after is not None and offset >= stop_after:
                if writer is not None:  # what the thread was given may still land: as if the crash came later
                    writer.close()
                return stale_seen  # a crash: nothing after the last commit reaches the state store
            stop = min(offset + batch, len(PAYLOADS))
            clock.set(max(ARRIVALS[offset:stop]))
            ticks.now += 0.3
            report = pipeline.process("transactions", 0, list(range(offset, stop)), PAYLOADS[offset:stop],
                                      ARRIVALS[offset:stop])
            committed = state.offsets()[("transactions", 0)] if state.offsets() else 0
            assert report.next_offset == stop and committed <= stop
            assert (committed == stop) == (not pipeline.uncommitted)
            if writer is not None:
                writer.flush()  # the rows as a writer in the pipeline's thread leaves them
            for view in VIEWS:
                for row in online.get_raw(view.name, view.fingerprint(), keys[view.name]):
                    # Rows left stale by a crash wait until the replay passes the crash point.
                    if row is not None and not row.state_is_current and stop > crashed_at:
                        stale_seen += 1
                        # Its values hold past the next commit, whenever the clock reaches it.
                        assert row.cached is not None and row.cached.valid_until > clock.now_ms() + 1_000
                        assert row.state_version is not None and row.state_version < row.version
        pipeline.commit(final=True)  # final: and the writer has written everything
        assert not pipeline.uncommitted and state.offsets()[("transactions", 0)] == len(PAYLOADS)
        for view in VIEWS:
            rows = online.get_raw(view.name, view.fingerprint(), keys[view.name])
            assert all(row is not None and row.state_is_current for row in rows)
        if writer is not None:
            writer.close()
    return stale_seen


@STORE_FILES
@pytest.mark.parametrize("background", [False, True], ids=["each-batch", "background-writer"])
def test_commit_interval_defers_large_states_and_stays_exact(tmp_path, background, store_file):
    # values-only rows were published and read
    assert run_with_interval(tmp_path, "run", background=background, store_file=store_file) > 100
    for t in (END, END + 3_600_000, END + 86_400_000):
        want = expected_values(PAYLOADS, ARRIVALS, t)
        got = read_all(tmp_path, t, store_file=store_file)
        for view in want:
            assert {k: v for k, v in got[view].items() if k in want[view]} == want[view], (view, t)


@STORE_FILES
@pytest.mark.parametrize("background", [False, True], ids=["each-batch", "background-writer"])
def test_a_crash_between_commits_replays_to_the_same_values(tmp_path, background, store_file):
    """Stopped without a commit (as kill -9 would) twice, then run to the end: the same
    online values and rows as the operators give straight through."""
    kw = {"background": background, "store_file": store_file}
    run_with_interval(tmp_path, "run", stop_after=4_000, **kw)
    run_with_interval(tmp_path, "run", stop_after=11_000, batch=700, crashed_at=4_000, **kw)
    run_with_interval(tmp_path, "run", batch=300, crashed_at=11_000, **kw)
    for t in (END, END + 86_400_000):
        want = expected_values(PAYLOADS, ARRIVALS, t)
        got = read_all(tmp_path, t, store_file=store_file)
        for view in want:
            assert {k: v for k, v in got[view].items() if k in want[view]} == want[view], (view, t)


def test_commit_settings_are_checked(tmp_path):
    with RocksDBStateStore(tmp_path / "s") as state:
        with pytest.raises(DefinitionError, match="commit_interval_ms"):
            FeaturePipeline(VIEWS, state_store=state, commit_interval_ms=-1)
        with pytest.raises(DefinitionError, match="large_state_bytes"):
            FeaturePipeline(VIEWS, state_store=state, large_state_bytes=0)
        for phase in (-0.1, 1, 1.5, True, "0.5"):
            with pytest.raises(DefinitionError, match="commit_phase"):
                FeaturePipeline(VIEWS, state_store=state, commit_interval_ms=1_000, commit_phase=phase)


@pytest.mark.parametrize("phase", [0.0, 0.25, 0.75])
def test_interval_commits_stay_on_their_phase_of_the_interval(tmp_path, phase):
    """Commits fall due at (k + phase) intervals after the start, at least half an interval
    after the last commit, however late a batch ran them: partitions started together
    with different phases keep committing apart."""
    ticks = Ticks()
    ticks.now = 100.0
    with RocksDBStateStore(tmp_path / "s") as state:
        pipeline = FeaturePipeline(VIEWS, state_store=state, commit_interval_ms=1_000, monotonic=ticks,
                                   commit_phase=phase)
        commits = []
        offset = 0
        # batches end at irregular moments (a slow one now and then), 70 ms apart at the least
        steps = [0.07, 0.13, 0.31, 0.07, 0.45, 0.09] * 20
        for step in steps:
            ticks.now += step
            before = state.offsets()
            pipeline.process("transactions", 0, [offset], [PAYLOADS[offset]], [ARRIVALS[offset]])
            offset += 1
            if state.offsets() != before:
                commits.append(ticks.now)
        assert len(commits) >= 10
        first_due = 100.0 + (phase or 1.0)
        assert commits[0] >= first_due and commits[0] - first_due < 0.46
        for previous, current in zip(commits, commits[1:]):
            slot = 100.0 + phase + math.floor(current - 100.0 - phase)  # the grid point it was due at
            assert current - slot < 0.46  # the first batch after its grid point ran it
            assert slot - previous >= 0.5  # and that point was half an interval or more after the last


def test_a_damaged_list_of_unconfirmed_entities_is_a_clear_error(tmp_path):
    from streamfeat.errors import StateError
    from streamfeat.state.keys import unconfirmed_key

    with RocksDBStateStore(tmp_path / "s") as state, EmbeddedStore(tmp_path / "o.db") as online:
        state.commit({unconfirmed_key(VIEWS[0].fingerprint()): b"\xff not json"}, [], {})
        with pytest.raises(StateError, match="unconfirmed entities of view 'user_txn' is not JSON"):
            FeaturePipeline(VIEWS, state_store=state, online_store=online)


def test_an_online_store_without_the_states_gets_them_all_at_start(tmp_path):
    """An online store that never received this state store's states (a new one: an embedded
    file lost with its tmpfs, a Redis flushed) gets every committed state at start, entities
    that no later event touches too, and then a marker: the next start publishes nothing."""
    with RocksDBStateStore(tmp_path / "s") as state:
        with EmbeddedStore(tmp_path / "first.db") as first:
            pipeline = FeaturePipeline(VIEWS, state_store=state, online_store=first)
            assert pipeline.seeded == {view.name: 0 for view in VIEWS}, "a new state: nothing to publish"
            pipeline.process("transactions", 0, list(range(2_000)), PAYLOADS[:2_000], ARRIVALS[:2_000])
            pipeline.commit(final=True)
            assert FeaturePipeline(VIEWS, state_store=state, online_store=first).seeded == {}
            before = {view.name: committed_rows(state, first)[view.name] for view in VIEWS}
            first_rows = {view.name: first.get_raw(view.name, view.fingerprint(), sorted(before[view.name]))
                          for view in VIEWS}  # fmt: skip
        with EmbeddedStore(tmp_path / "second.db") as second:
            pipeline = FeaturePipeline(VIEWS, state_store=state, online_store=second)
            after = committed_rows(state, second)
            assert pipeline.seeded == {name: len(rows) for name, rows in after.items()}
            assert all(after[name] == before[name] for name in after) and all(pipeline.seeded.values())
            for view in VIEWS:
                rows = second.get_raw(view.name, view.fingerprint(), sorted(before[view.name]))
                assert [row.state for row in rows] == [row.state for row in first_rows[view.name]]
            assert FeaturePipeline(VIEWS, state_store=state, online_store=second).seeded == {}
            t = max(ARRIVALS[:2_000]) + 3_600_000
            want = expected_values(PAYLOADS[:2_000], ARRIVALS[:2_000], t)
            reader = FeatureReader(second, VIEWS)
            for view in VIEWS:
                got = {v.entity: v.values for v in reader.get_many(view.name, sorted(want[view.name]), at=t)}
                assert got == want[view.name]


class MarkerlessStore(FlakyStore):
    """The real embedded store, failing every write of a seeding marker: a crash before it."""

    def write(self, view, fingerprint, rows):
        if view == SEEDED_VIEW:
            raise OnlineStoreError("gone before the marker")
        return super().write(view, fingerprint, rows)


def test_a_seeding_cut_short_before_its_marker_is_done_again(tmp_path):
    with RocksDBStateStore(tmp_path / "s") as state:
        with EmbeddedStore(tmp_path / "first.db") as first:
            pipeline = FeaturePipeline(VIEWS, state_store=state, online_store=first)
            pipeline.process("transactions", 0, list(range(500)), PAYLOADS[:500], ARRIVALS[:500])
            pipeline.commit(final=True)
        with EmbeddedStore(tmp_path / "second.db") as second:
            with pytest.raises(PipelineError, match="gone before the marker"):
                FeaturePipeline(VIEWS, state_store=state, online_store=MarkerlessStore(second, 0), retry_for_s=0.0)
            again = FeaturePipeline(VIEWS, state_store=state, online_store=second)
            assert all(again.seeded.values()) and again.seeded.keys() == {view.name for view in VIEWS}
            assert FeaturePipeline(VIEWS, state_store=state, online_store=second).seeded == {}


def test_the_state_stores_identity_is_made_once_and_kept(tmp_path):
    with RocksDBStateStore(tmp_path / "s") as state:
        made = state.identity()
        assert len(made) == 32 and int(made, 16) >= 0 and state.identity() == made
    with RocksDBStateStore(tmp_path / "s") as state:
        assert state.identity() == made
    with RocksDBStateStore(tmp_path / "other") as other:
        assert other.identity() != made
