"""Count of events."""

from __future__ import annotations

from typing import Any

from operators.codec import Reader, Writer

_VERSION = 1


class Count:
    """Number of events. Intermediate: ``int``. Empty value: ``0``."""

    name = "count"
    invertible = True
    #: Tiles may apply ``add`` inline as ``acc + 1`` (same bits).
    step = "one"

    def init(self) -> int:
        return 0

    def add(self, acc: int, value: Any, event_time: int, seq: int) -> int:
        return acc + 1

    def merge(self, a: int, b: int) -> int:
        return a + b

    def retract(self, acc: int, value: Any, event_time: int, seq: int) -> int:
        return acc - 1

    def value(self, acc: int) -> int:
        return acc

    def to_bytes(self, acc: int) -> bytes:
        w = Writer()
        w.u8(_VERSION)
        w.i64(acc)
        return w.getvalue()

    def from_bytes(self, data: bytes) -> int:
        r = Reader(data)
        r.version(_VERSION, "count")
        acc = r.i64()
        r.done()
        return acc
