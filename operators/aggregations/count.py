"""Count of events."""

from __future__ import annotations

import struct
from typing import Any

from operators.codec import bad_version, check_end

_VERSION = 1
_V = bytes((_VERSION,))
_LAYOUT = struct.Struct(">Bq")  # version, count


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
        return _LAYOUT.pack(_VERSION, acc)

    def from_bytes(self, data: bytes) -> int:
        if data[:1] != _V:
            raise bad_version(data, _VERSION, "count")
        check_end(data, _LAYOUT.size, "count")
        return _LAYOUT.unpack_from(data, 0)[1]
