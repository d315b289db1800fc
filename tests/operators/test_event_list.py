"""EventLog's incrementally packed bytes against encoding the whole window each time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from operators.codec import decode_events, encode_events
from operators.windows.event_list import EventLog

FLOATS = st.integers(-1000, 1000).map(lambda n: n / 8)
VALUES = {
    "floats": FLOATS,
    "nones": st.none(),
    # mixed runs must fall back to full encoding (and may become packable again)
    "mixed": st.one_of(FLOATS, st.none(), st.integers(-5, 5), st.sampled_from(["a", "bc"])),
}

steps = st.lists(
    st.tuples(
        st.sampled_from(["push", "push", "push", "late", "expire", "encode"]),
        st.integers(0, 60),
    ),
    max_size=120,
)


class EagerLog(EventLog):
    """Packs from two events on, so that short hypothesis histories exercise the packing."""

    __slots__ = ()
    PACK_FROM = 2


def _run(values, ops, data):
    log = EagerLog()
    newest = 0
    seq = 0
    for op, arg in ops:
        if op in ("push", "late"):
            event_time = newest + arg // 10 if op == "push" else max(0, newest - arg)
            newest = max(newest, event_time)
            log.push((event_time, seq, data.draw(values)))
            seq += 1
        elif op == "expire":
            log.expire(newest - arg)
            log.compact()
        else:
            assert log.encoded() == encode_events(log.live())
    assert log.encoded() == encode_events(log.live())
    events, _ = decode_events(log.encoded(), 0)
    assert [e[:2] for e in events] == [e[:2] for e in log.live()]


@given(ops=steps, data=st.data())
def test_encoded_floats(ops, data):
    _run(VALUES["floats"], ops, data)


@given(ops=steps, data=st.data())
def test_encoded_nones(ops, data):
    _run(VALUES["nones"], ops, data)


@given(ops=steps, data=st.data())
def test_encoded_mixed(ops, data):
    _run(VALUES["mixed"], ops, data)


def test_a_busy_window_packs_only_new_events():
    log = EventLog()
    for seq in range(10_000):
        log.push((seq, seq, float(seq)))
    first = log.encoded()
    log.push((10_000, 10_000, 1.5))
    log.push((9_990, 10_001, 2.5))  # out of order: its packed bytes are spliced in at its place
    log.expire(5_000)
    log.compact()
    assert log.encoded() == encode_events(log.live())
    assert log._stop == len(log.events) and log._start == 0  # packed up to the end, shifted by compaction
    assert len(first) > len(log.encoded())


def test_a_late_event_is_spliced_into_the_packed_columns():
    log = EventLog()
    for seq in range(1_000):
        log.push((seq, seq, float(seq)))
    log.encoded()
    log.push((500, 1_000, 0.25))  # late, a float like the packed values: spliced in
    assert log._stop == len(log.events)  # nothing to pack again
    log.push((400, 1_001, None))  # late, another kind: cut back to its place
    assert log._stop == 401
    assert log.encoded() == encode_events(log.live())
