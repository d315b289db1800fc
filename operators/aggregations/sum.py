"""Sum of a numeric field."""

from __future__ import annotations

from operators.codec import DECODE_ERRORS, bad_version, check_end, corrupt, decode_value, encode_value

_VERSION = 1
_V = bytes((_VERSION,))


class Sum:
    """Sum of values. Intermediate: ``int`` for integer fields, ``float`` otherwise.

    Empty value: ``0`` / ``0.0``. Float sums follow IEEE-754 rounding in event
    application order, so the same sequence of events always gives the same bits;
    retraction (subtract-on-evict) may differ from a fresh sum by rounding only.
    """

    name = "sum"
    invertible = True
    #: Tiles may apply ``add`` inline as ``acc + value`` (same bits).
    step = "value"

    def __init__(self, *, integer: bool = False) -> None:
        self.integer = integer

    def init(self) -> int | float:
        return 0 if self.integer else 0.0

    def add(self, acc, value, event_time: int, seq: int):
        return acc + value

    def merge(self, a, b):
        return a + b

    def retract(self, acc, value, event_time: int, seq: int):
        return acc - value

    def value(self, acc):
        return acc

    def to_bytes(self, acc) -> bytes:
        return _V + encode_value(acc)

    def from_bytes(self, data: bytes):
        if data[:1] != _V:
            raise bad_version(data, _VERSION, "sum")
        try:
            acc, pos = decode_value(data, 1)
        except DECODE_ERRORS as exc:
            raise corrupt("sum", exc) from exc
        check_end(data, pos, "sum")
        return acc
