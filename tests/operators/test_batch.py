"""The batch entry point gives bit-identical state to per-event application.

A batch applies each entity's accepted events as one run per feature
(``FeatureOperator.add_run``, ``insert_run`` of the lifetime and subtract-on-evict
strategies): the view below has a feature on each of those paths, including exact
sliding counts whose runs drop events already out of the window."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streamfeat import (
    ApproxDistinct,
    Count,
    Entity,
    FeatureView,
    LastN,
    Lifetime,
    Max,
    Mean,
    Sliding,
    Source,
    Sum,
    Tumbling,
    build_view,
)

VIEW = FeatureView(
    "v",
    entity=Entity("user", key="user_id"),
    source=Source("s", timestamp="ts", schema={"user_id": str, "ts": int, "amount": float, "m": str}, max_ahead=20),
    allowed_lateness=15,
    features=[
        Count(window=Lifetime()),
        Count(window=Sliding(100, tile=10), refresh=20, publish_lag=5),
        Sum("amount", window=Sliding(50)),
        Max("amount", window=Sliding(60)),
        ApproxDistinct("m", window=Sliding(60)),
        LastN("amount", n=3),
        Mean("amount", window=Tumbling(30)),
        Count(window=Sliding(40)),
        Count(window=Sliding(25)),
        Sum("amount", window=Lifetime()),
    ],
)

rows = st.lists(
    st.tuples(
        st.sampled_from(["u1", "u2", "u3"]),
        st.integers(0, 300),  # event time
        st.integers(-25, 40),  # arrival delay
        st.integers(0, 100).map(lambda n: n * 0.37),
        st.sampled_from(["a", "b", "c", "d"]),
    ),
    max_size=80,
)


@settings(max_examples=300)
@given(rows=rows, cuts=st.lists(st.integers(0, 80), max_size=5))
def test_batch_equals_per_event(rows, cuts):
    op = build_view(VIEW)
    one_by_one = {}
    fates = []
    for key, et, delay, amount, m in rows:
        state = one_by_one.setdefault(key, op.new_state())
        fates.append(op.apply(state, et, et + delay, [None, None, amount, amount, m, amount, amount, None, None, amount]).name)

    batched = {}
    late, ahead = [], []
    bounds = sorted({0, len(rows), *[c for c in cuts if c <= len(rows)]})
    for start, stop in zip(bounds, bounds[1:]):
        chunk = rows[start:stop]
        data = {
            "amount": [r[3] for r in chunk],
            "m": [r[4] for r in chunk],
        }
        result = op.apply_batch(
            batched,
            [r[0] for r in chunk],
            [r[1] for r in chunk],
            [r[1] + r[2] for r in chunk],
            op.columns_for(data),
        )
        late += [start + i for i in result.late]
        ahead += [start + i for i in result.too_far_ahead]

    assert late == [i for i, fate in enumerate(fates) if fate == "LATE"]
    assert ahead == [i for i, fate in enumerate(fates) if fate == "TOO_FAR_AHEAD"]
    # An entity enters the batch's mapping with its first accepted event only.
    assert set(batched) == {key for key, state in one_by_one.items() if state.seq}
    for key in batched:
        assert op.to_bytes(batched[key]) == op.to_bytes(one_by_one[key])
        t = max(batched[key].now, 0) + 7
        assert op.read(batched[key], t) == op.read(one_by_one[key], t)


def test_batch_rejects_columns_of_different_lengths():
    import pytest

    op = build_view(VIEW)
    with pytest.raises(ValueError, match="batch columns disagree"):
        op.apply_batch({}, ["u1", "u2"], [1], [1, 2], [None] * 10)
    with pytest.raises(ValueError, match="has 1 values for 2 keys"):
        op.apply_batch(
            {}, ["u1", "u2"], [1, 2], [1, 2], [None, None, [1.0], [1.0, 2.0], ["a", "b"], [1.0, 2.0], [1.0, 2.0], None, None, [1.0, 2.0]]
        )


def test_state_restored_from_bytes_evolves_identically():
    """A state saved and restored mid-stream (a crash and restart) ends bit-identical."""
    import random

    rng = random.Random(5)
    op = build_view(VIEW)
    rows = []
    t = 0
    for _ in range(3000):
        t += rng.randint(0, 20)
        et = t - rng.choice([0, 0, 0, 3, 12, 40])
        rows.append((rng.choice(["u1", "u2"]), et, t, rng.randint(0, 100) * 0.25, rng.choice("abcdef")))
    straight, restarted = {}, {}
    for i, (key, et, arrival, amount, m) in enumerate(rows):
        values = [None, None, amount, amount, m, amount, amount, None, None, amount]
        op.apply(straight.setdefault(key, op.new_state()), et, arrival, values)
        if i % 97 == 0:
            restarted = {k: op.from_bytes(op.to_bytes(s)) for k, s in restarted.items()}
        op.apply(restarted.setdefault(key, op.new_state()), et, arrival, values)
    for key in straight:
        assert op.to_bytes(straight[key]) == op.to_bytes(restarted[key])
