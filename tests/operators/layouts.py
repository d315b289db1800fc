"""State layouts of earlier versions, written independently of the code under test, so
that tests can check stores written before a layout change are still read."""

from __future__ import annotations

import struct

from operators.base import NEG_INF
from operators.codec import encode_blob, encode_events
from operators.view import EntityState, ViewOperator


def entity_state_v2(op: ViewOperator, state: EntityState) -> bytes:
    """``state`` in the version-2 layout (stops 23-38): int64 ``now``/``frontier``/``seq``,
    u32 counts and lengths, and every feature's tail written out (its pending events, its
    int64 ``sealed_at``, its snapshot's blob), even when empty."""
    parts = [struct.pack(">BqqqI", 2, state.now, state.frontier, state.seq, len(op.features))]
    for feature, feature_state in zip(op.features, state.features, strict=True):
        main = feature.strategy.to_bytes(feature_state.main)
        blob = struct.pack(">BI", 2, len(main)) + main + encode_events(feature_state.pending or ())
        blob += struct.pack(">q", feature_state.sealed_at)
        if feature_state.sealed_at != NEG_INF:
            blob += encode_blob(feature.aggregator.to_bytes(feature_state.sealed))
        parts.append(struct.pack(">I", len(blob)) + blob)
    return b"".join(parts)
