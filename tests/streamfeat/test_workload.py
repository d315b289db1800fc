"""The workload generator: deterministic, arrival-ordered, with the skew and lateness asked for."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import orjson
import pytest

from streamfeat import WorkloadError
from streamfeat.workload import DAY_MS, W1, EventBatch, WorkloadSpec, generate, iter_batches, write_jsonl

COLUMNS = ("user", "merchant", "amount", "event_time", "arrival")
SMALL = WorkloadSpec(users=10_000, events=200_000, days=30, merchants=2_000, seed=7)


@pytest.fixture(scope="module")
def small() -> EventBatch:
    return generate(SMALL)


def assert_same(a: EventBatch, b: EventBatch) -> None:
    for column in COLUMNS:
        np.testing.assert_array_equal(getattr(a, column), getattr(b, column), err_msg=column)


def test_same_spec_same_stream(small: EventBatch) -> None:
    assert_same(small, generate(SMALL))


def test_different_seed_different_stream(small: EventBatch) -> None:
    other = generate(dataclasses.replace(SMALL, seed=8))
    for column in COLUMNS:
        assert not np.array_equal(getattr(small, column), getattr(other, column)), column


def test_columns_have_the_documented_types_and_ranges(small: EventBatch) -> None:
    assert len(small) == SMALL.events
    assert small.user.dtype == small.merchant.dtype == small.event_time.dtype == small.arrival.dtype == np.int64
    assert small.amount.dtype == np.float64
    assert small.user.min() >= 0 and small.user.max() < SMALL.users
    assert small.merchant.min() >= 0 and small.merchant.max() < SMALL.merchants
    assert small.amount.min() >= 0.01
    np.testing.assert_array_equal(np.round(small.amount * 100) / 100, small.amount)  # whole cents
    assert 15 < np.median(small.amount) < 25


def test_arrival_non_decreasing_and_never_before_event_time(small: EventBatch) -> None:
    assert (np.diff(small.arrival) >= 0).all()
    assert (small.arrival >= small.event_time).all()


def test_event_times_within_range(small: EventBatch) -> None:
    assert small.event_time.min() >= SMALL.start_ms
    assert small.event_time.max() < SMALL.start_ms + SMALL.days * DAY_MS
    # Uniform over the days: every day gets its share (30 days, ~6.7k events each).
    per_day = np.bincount((small.event_time - SMALL.start_ms) // DAY_MS, minlength=SMALL.days)
    assert per_day.min() > 0.9 * SMALL.events / SMALL.days


def test_out_of_order_fraction_close_to_spec(small: EventBatch) -> None:
    # Normal delays (mean 200 ms) essentially never exceed 10 s; delayed events exceed it
    # with probability exp(-10 s / lateness_mean).
    threshold = 10_000
    expected = SMALL.out_of_order * math.exp(-threshold / SMALL.lateness_mean_ms)
    observed = float(np.mean(small.arrival - small.event_time > threshold))
    sigma = math.sqrt(expected * (1 - expected) / SMALL.events)
    assert abs(observed - expected) < 5 * sigma


def test_no_out_of_order_means_only_normal_delays() -> None:
    batch = generate(dataclasses.replace(SMALL, out_of_order=0.0, events=50_000))
    delays = batch.arrival - batch.event_time
    assert delays.max() < 20 * SMALL.delivery_delay_ms
    assert abs(delays.mean() - SMALL.delivery_delay_ms) < 0.05 * SMALL.delivery_delay_ms


def test_zipf_skew(small: EventBatch) -> None:
    counts = np.sort(np.bincount(small.user, minlength=SMALL.users))[::-1]
    top_share = counts[: SMALL.users // 100].sum() / counts.sum()
    ranks = np.arange(1, SMALL.users + 1, dtype=np.float64) ** -SMALL.zipf_s
    expected = ranks[: SMALL.users // 100].sum() / ranks.sum()  # about 0.65
    assert top_share > 0.5
    assert abs(top_share - expected) < 0.02


def test_heavy_users_are_not_the_low_indices(small: EventBatch) -> None:
    counts = np.bincount(small.user, minlength=SMALL.users)
    assert set(np.argsort(counts)[::-1][:10].tolist()) != set(range(10))


def test_limit_is_a_prefix_of_the_same_stream(small: EventBatch) -> None:
    for limit in (0, 1, 12_345, SMALL.events, SMALL.events + 10):
        assert_same(generate(SMALL, limit=limit), generate_prefix(small, limit))


def generate_prefix(batch: EventBatch, n: int) -> EventBatch:
    return EventBatch(**{c: getattr(batch, c)[:n] for c in COLUMNS})


def test_iter_batches_concatenate_to_the_stream(small: EventBatch) -> None:
    batches = list(iter_batches(SMALL, 30_000, limit=100_001))
    assert [len(b) for b in batches] == [30_000, 30_000, 30_000, 10_001]
    joined = EventBatch(**{c: np.concatenate([getattr(b, c) for b in batches]) for c in COLUMNS})
    assert_same(joined, generate_prefix(small, 100_001))


def test_w1_is_the_standard_workload() -> None:
    assert (W1.users, W1.events, W1.days, W1.out_of_order) == (1_000_000, 20_000_000, 400, 0.01)
    assert W1.start_ms % DAY_MS == 0
    prefix = generate(W1, limit=1_000)
    assert (np.diff(prefix.arrival) >= 0).all() and prefix.event_time.min() >= W1.start_ms


def test_records_and_ids(small: EventBatch) -> None:
    head = generate_prefix(small, 3)
    records = list(head.records())
    assert records[0] == {
        "user_id": f"u{head.user[0]}",
        "merchant_id": f"m{head.merchant[0]}",
        "amount": float(head.amount[0]),
        "ts": int(head.event_time[0]),
        "arrival": int(head.arrival[0]),
    }
    assert head.user_ids() == [r["user_id"] for r in records]
    assert head.merchant_ids() == [r["merchant_id"] for r in records]
    assert all(type(r["ts"]) is int and type(r["amount"]) is float for r in records)


def test_write_jsonl_round_trip(tmp_path, small: EventBatch) -> None:
    path = tmp_path / "events.jsonl"
    assert write_jsonl(SMALL, path, limit=5_000) == 5_000
    lines = path.read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == list(generate_prefix(small, 5_000).records())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"users": 0}, "users must be positive"),
        ({"events": -1}, "events must be positive"),
        ({"days": 0}, "days must be positive"),
        ({"merchants": 0}, "merchants must be positive"),
        ({"zipf_s": 0.0}, "zipf_s"),
        ({"zipf_s": float("nan")}, "zipf_s"),
        ({"out_of_order": 1.5}, "out_of_order"),
        ({"out_of_order": -0.1}, "out_of_order"),
        ({"lateness_mean_ms": -1}, "lateness_mean_ms"),
        ({"seed": -3}, "seed"),
        ({"users": 2.5}, "users must be an int"),
    ],
)
def test_bad_spec_raises_workload_error(changes: dict, message: str) -> None:
    with pytest.raises(WorkloadError, match=message):
        WorkloadSpec(**changes)


def test_bad_arguments_raise_workload_error() -> None:
    with pytest.raises(WorkloadError, match="limit"):
        generate(SMALL, limit=-1)
    with pytest.raises(WorkloadError, match="batch_size"):
        next(iter_batches(SMALL, 0))
    assert issubclass(WorkloadError, ValueError)


def test_write_jsonl_calls_after_batch_with_the_count_so_far_and_stops_when_it_raises(tmp_path) -> None:
    seen: list[int] = []

    def after_batch(count: int) -> None:
        seen.append(count)
        if count >= 200_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_jsonl(SMALL, tmp_path / "w.jsonl", limit=250_000, after_batch=after_batch)
    assert seen == [100_000, 200_000]
    assert write_jsonl(SMALL, tmp_path / "x.jsonl", limit=5_000, after_batch=seen.append) == 5_000
    assert seen[-1] == 5_000


def test_slice_is_the_events_in_that_range(small: EventBatch) -> None:
    part = small.slice(10, 25)
    assert len(part) == 15
    for name in ("user", "merchant", "amount", "event_time", "arrival"):
        assert (getattr(part, name) == getattr(small, name)[10:25]).all()
    assert len(small.slice(len(small) - 3, len(small) + 100)) == 3 and len(small.slice(5, 5)) == 0
