"""Hypothesis strategies shared by the window strategies' tests."""

from __future__ import annotations

from hypothesis import strategies as st

from operators.base import NEG_INF


@st.composite
def inserts(draw, values: st.SearchStrategy, *, min_size: int = 0, max_size: int = 60):
    """Strategy inserts ``(event_time, seq, value, bound)``: arrival-ordered seqs, event
    times a little out of order and never at or before the bound, and eviction bounds
    that only rise."""
    ops = []
    bound = NEG_INF
    newest = 0
    for seq in range(draw(st.integers(min_size, max_size))):
        if draw(st.booleans()) and newest:
            bound = max(bound, newest - draw(st.integers(1, 40)))
        event_time = max(bound + 1, newest - draw(st.integers(-10, 30)))
        newest = max(newest, event_time)
        ops.append((event_time, seq, draw(values), bound))
    return ops
