"""Minimum and maximum (not invertible: windows use tiles, the monotonic queue or two-stacks)."""

from __future__ import annotations

from typing import Any

from operators.codec import DECODE_ERRORS, bad_version, check_end, corrupt, decode_value, encode_value

_VERSION = 1
_V = bytes((_VERSION,))


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
        return _V + encode_value(acc)

    def from_bytes(self, data: bytes) -> Any:
        if data[:1] != _V:
            raise bad_version(data, _VERSION, self.name)
        try:
            acc, pos = decode_value(data, 1)
        except DECODE_ERRORS as exc:
            raise corrupt(self.name, exc) from exc
        check_end(data, pos, self.name)
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
