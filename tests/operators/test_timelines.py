"""Hand-worked timelines of the semantics (units: ms; D = one "day" of 100 ms).

Each test draws its events on a line and states the expected values, so the rules of
docs/semantics.md can be read off concrete cases.
"""

from __future__ import annotations

from streamfeat import Count, Entity, FeatureView, Hopping, Last, Lifetime, Sliding, Source, Sum, build_view

D = 100
SOURCE = Source("s", timestamp="ts", schema={"k": str, "ts": int, "x": int}, max_ahead=50)


def run(feature, events, allowed_lateness=0):
    """events: (event_time, arrival, value); returns (operator, state, fates)."""
    op = build_view(FeatureView("v", entity=Entity("e", key="k"), source=SOURCE, features=[feature],
                                allowed_lateness=allowed_lateness))
    state = op.new_state()
    fates = [op.apply(state, et, arr, [x]).name for et, arr, x in events]
    return op, state, fates


def value(op, state, t):
    return next(iter(op.read(state, t).values()))


def test_daily_refresh_with_publish_lag():
    # event time   0    50  |100  120 |        200
    # arrival      0    50  | 100 125 |
    #                       b=100     b=200      (boundary b's value lands at b + 20)
    # Reads are for t at or after the newest applied arrival, so each read replays a prefix.
    feature = Count(window=Sliding(3 * D, tile=D), refresh=D, publish_lag=20)
    events = [(0, 0, 1), (50, 50, 1), (100, 100, 1), (120, 125, 1)]
    op, state, _ = run(feature, events[:2])
    assert value(op, state, 60) == 1  # visible boundary floor((60-20)/100)*100 = 0: the event at 0
    op, state, _ = run(feature, events[:3])
    assert value(op, state, 110) == 1  # still boundary 0 until 120
    assert value(op, state, 120) == 3  # boundary 100 published at 120: events 0, 50, 100
    op, state, _ = run(feature, events)
    assert value(op, state, 125) == 3  # the event at 120 is after boundary 100: it waits for 200
    assert value(op, state, 219) == 3
    assert value(op, state, 220) == 4


def test_late_arrival_misses_its_publication():
    # An event for time 90 arriving at 130, after boundary 100 was published at 120,
    # is not in boundary 100's value; it shows from boundary 200 on.
    feature = Count(window=Sliding(3 * D, tile=D), refresh=D, publish_lag=20)
    op, state, fates = run(feature, [(10, 10, 1), (95, 96, 1), (90, 130, 1)], allowed_lateness=50)
    assert fates == ["ACCEPTED", "ACCEPTED", "ACCEPTED"]
    assert value(op, state, 130) == 2
    assert value(op, state, 220) == 3


def test_tiled_window_rounds_its_start_up_to_a_tile():
    # window 300, tiles 100. As of t=250 the exact window is (-50, 250];
    # tiled: (ceil(250/100)*100 - 300, 250] = (0, 250]: the event at 0 is left out.
    exact, tiled = Count(window=Sliding(3 * D)), Count(window=Sliding(3 * D, tile=D))
    events = [(0, 0, 1), (1, 1, 1), (250, 250, 1)]
    op_e, st_e, _ = run(exact, events)
    op_t, st_t, _ = run(tiled, events)
    assert value(op_e, st_e, 250) == 3
    assert value(op_t, st_t, 250) == 2
    assert value(op_e, st_e, 300) == value(op_t, st_t, 300) == 2  # on a tile boundary they agree


def test_hopping_shows_the_last_ended_window():
    # windows of 200 every 100: as of t=250 the last window that has ended is (0, 200].
    feature = Sum("x", window=Hopping(2 * D, hop=D))
    op, state, _ = run(feature, [(0, 0, 1), (50, 50, 10), (150, 150, 100), (210, 210, 1000)])
    assert value(op, state, 250) == 110  # (0, 200]: 50 and 150; 0 is out (open start), 210 not ended
    assert value(op, state, 300) == 1100  # (100, 300]: 150 and 210


def test_lateness_is_judged_against_the_newest_accepted_event():
    # allowed lateness 30: after an event at 100, an event at 69 is late, one at 70 is not.
    feature = Count(window=Lifetime())
    op, state, fates = run(feature, [(100, 100, 1), (69, 101, 1), (70, 102, 1)], allowed_lateness=30)
    assert fates == ["ACCEPTED", "LATE", "ACCEPTED"]
    assert value(op, state, 102) == 2


def test_future_dated_events_count_from_their_event_time():
    # Arrives at 10 with event time 40 (within max_ahead 50): counts from t=40 on.
    # Event time 100 at arrival 10 is beyond max_ahead: rejected, frontier unchanged (40),
    # so with lateness 34 an event at 6 is still accepted.
    feature = Count(window=Sliding(D))
    op, state, fates = run(feature, [(5, 5, 1), (40, 10, 1), (100, 10, 1), (6, 11, 1)], allowed_lateness=34)
    assert fates == ["ACCEPTED", "ACCEPTED", "TOO_FAR_AHEAD", "ACCEPTED"]
    assert value(op, state, 39) == 2
    assert value(op, state, 40) == 3


def test_ties_are_broken_by_arrival():
    feature = Last("x", window=Lifetime())
    op, state, _ = run(feature, [(50, 50, 1), (50, 51, 2), (49, 52, 3)], allowed_lateness=10)
    assert value(op, state, 60) == 2
