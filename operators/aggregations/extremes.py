"""Minimum and maximum (not invertible: use tiles or two-stacks for windows)."""

from __future__ import annotations

from typing import Any

from operators.codec import Reader, Writer

_VERSION = 1


class _Extreme:
    invertible = False
    name = "extreme"

    def init(self) -> Any:
        return None

    def value(self, acc: Any) -> Any:
        return acc

    def retract(self, acc, value, event_time: int, seq: int):
        raise NotImplementedError(f"{self.name} cannot retract; use a non-subtracting strategy")

    def to_bytes(self, acc: Any) -> bytes:
        w = Writer()
        w.u8(_VERSION)
        w.value(acc)
        return w.getvalue()

    def from_bytes(self, data: bytes) -> Any:
        r = Reader(data)
        r.version(_VERSION, self.name)
        acc = r.value()
        r.done()
        return acc


class Min(_Extreme):
    """Smallest value. Empty value: ``None``."""

    name = "min"

    def add(self, acc, value, event_time: int, seq: int):
        return value if acc is None or value < acc else acc

    def merge(self, a, b):
        if a is None:
            return b
        if b is None:
            return a
        return b if b < a else a


class Max(_Extreme):
    """Largest value. Empty value: ``None``."""

    name = "max"

    def add(self, acc, value, event_time: int, seq: int):
        return value if acc is None or value > acc else acc

    def merge(self, a, b):
        if a is None:
            return b
        if b is None:
            return a
        return b if b > a else a
