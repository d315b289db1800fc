"""State layouts of earlier versions, written independently of the code under test, so
that tests can check stores written before a layout change are still read."""

from __future__ import annotations

import struct

from operators.base import NEG_INF
from operators.codec import encode_blob, encode_events
from operators.view import EntityState, ViewOperator
from operators.windows.lifetime import LifetimeStrategy, Running


def lifetime_v1(strategy: LifetimeStrategy, state: Running) -> bytes:
    """A lifetime aggregate in layout 1 (before stop 39): an int64 event count, a u32 length."""
    acc = strategy.aggregator.to_bytes(state.acc)
    return struct.pack(">BqI", 1, state.events, len(acc)) + acc


def entity_state_v2(op: ViewOperator, state: EntityState) -> bytes:
    """``state`` as stops 35-38 wrote it: the entity in layout 2 (int64 ``now``/``frontier``/
    ``seq``, u32 counts and lengths), every feature's tail written out (its pending events,
    its int64 ``sealed_at``, its snapshot's blob) even when empty, lifetime aggregates in
    layout 1; other strategies as now."""
    parts = [struct.pack(">BqqqI", 2, state.now, state.frontier, state.seq, len(op.features))]
    for feature, feature_state in zip(op.features, state.features, strict=True):
        strategy = feature.strategy
        if isinstance(strategy, LifetimeStrategy):
            main = lifetime_v1(strategy, feature_state.main)
        else:
            main = strategy.to_bytes(feature_state.main)
        blob = struct.pack(">BI", 2, len(main)) + main + encode_events(feature_state.pending or ())
        blob += struct.pack(">q", feature_state.sealed_at)
        if feature_state.sealed_at != NEG_INF:
            blob += encode_blob(feature.aggregator.to_bytes(feature_state.sealed))
        parts.append(struct.pack(">I", len(blob)) + blob)
    return b"".join(parts)
