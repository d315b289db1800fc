"""First, last and last-N values by event time.

Events are ordered by ``(event_time, seq)``: equal event times are broken by the
entity's arrival sequence, so the event that arrived later counts as later.
"""

from __future__ import annotations

import struct
from typing import Any

from operators.codec import DECODE_ERRORS, StateFormatError, bad_version, check_end, corrupt, decode_value, encode_value

_VERSION = 1
_V = bytes((_VERSION,))
_EMPTY_SINGLE = b"\x01\x00"  # version, absent
_SINGLE = struct.Struct(">BBqq")  # version, present, event_time, seq (then the tagged value)
_MANY = struct.Struct(">BI")  # version, count (then per item: event_time, seq, tagged value)
_STAMP = struct.Struct(">qq")
_STAMP_FLOAT = struct.Struct(">qqBd")  # event_time, seq, float value with its tag

Stamped = tuple[int, int, Any]  # (event_time, seq, value)


class _Single:
    name = "single"
    invertible = False

    def init(self) -> Stamped | None:
        return None

    def value(self, acc: Stamped | None) -> Any:
        return None if acc is None else acc[2]

    def retract(self, acc, value, event_time: int, seq: int):
        raise NotImplementedError(f"{self.name} cannot retract; use a non-subtracting strategy")

    def to_bytes(self, acc: Stamped | None) -> bytes:
        if acc is None:
            return _EMPTY_SINGLE
        return _SINGLE.pack(_VERSION, 1, acc[0], acc[1]) + encode_value(acc[2])

    def from_bytes(self, data: bytes) -> Stamped | None:
        if data[:1] != _V:
            raise bad_version(data, _VERSION, self.name)
        try:
            present = data[1]
            if not present:
                pos = 2
                acc = None
            elif present == 1:
                _, _, event_time, seq = _SINGLE.unpack_from(data, 0)
                value, pos = decode_value(data, _SINGLE.size)
                acc = (event_time, seq, value)
            else:
                raise StateFormatError(f"{self.name}: bad presence flag {present}")
        except DECODE_ERRORS as exc:
            raise corrupt(self.name, exc) from exc
        check_end(data, pos, self.name)
        return acc


class First(_Single):
    """Value of the earliest event. Empty value: ``None``."""

    name = "first"

    def add(self, acc, value, event_time: int, seq: int):
        if acc is None or (event_time, seq) < (acc[0], acc[1]):
            return (event_time, seq, value)
        return acc

    def merge(self, a, b):
        if a is None:
            return b
        if b is None:
            return a
        return b if (b[0], b[1]) < (a[0], a[1]) else a


class Last(_Single):
    """Value of the latest event. Empty value: ``None``."""

    name = "last"

    def add(self, acc, value, event_time: int, seq: int):
        if acc is None or (event_time, seq) >= (acc[0], acc[1]):
            return (event_time, seq, value)
        return acc

    def merge(self, a, b):
        if a is None:
            return b
        if b is None:
            return a
        return b if (b[0], b[1]) > (a[0], a[1]) else a


class LastN:
    """The ``n`` latest values, oldest first. Intermediate: a sorted tuple of
    ``(event_time, seq, value)``. Empty value: ``[]``."""

    invertible = False

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError("LastN needs n >= 1")
        self.n = n
        self.name = f"last{n}"

    def init(self) -> tuple[Stamped, ...]:
        return ()

    def add(self, acc, value, event_time: int, seq: int):
        item = (event_time, seq, value)
        if len(acc) < self.n:
            if not acc or (event_time, seq) >= (acc[-1][0], acc[-1][1]):
                return acc + (item,)
        elif (event_time, seq) <= (acc[0][0], acc[0][1]):
            return acc
        elif (event_time, seq) >= (acc[-1][0], acc[-1][1]):
            return acc[1:] + (item,)
        merged = sorted(acc + (item,), key=_stamp_key)
        return tuple(merged[-self.n :])

    def merge(self, a, b):
        if not b:
            return a
        if not a:
            return b
        return tuple(sorted(a + b, key=_stamp_key)[-self.n :])

    def retract(self, acc, value, event_time: int, seq: int):
        raise NotImplementedError(f"{self.name} cannot retract; use a non-subtracting strategy")

    def value(self, acc) -> list[Any]:
        return [item[2] for item in acc]

    def to_bytes(self, acc) -> bytes:
        parts = [_MANY.pack(_VERSION, len(acc))]
        append = parts.append
        pack = _STAMP.pack
        for event_time, seq, value in acc:
            if type(value) is float:
                append(_STAMP_FLOAT.pack(event_time, seq, 4, value))  # tag 4: float
            else:
                append(pack(event_time, seq))
                append(encode_value(value))
        return b"".join(parts)

    def from_bytes(self, data: bytes):
        if data[:1] != _V:
            raise bad_version(data, _VERSION, self.name)
        try:
            n = _MANY.unpack_from(data, 0)[1]
            if n > len(data):
                raise StateFormatError(f"{self.name}: {n} items in {len(data)} bytes")
            pos = _MANY.size
            unpack = _STAMP.unpack_from
            unpack_float = _STAMP_FLOAT.unpack_from
            items = []
            for _ in range(n):
                if data[pos + 16] == 4:  # a float value (tag 4): one unpack
                    event_time, seq, _, value = unpack_float(data, pos)
                    pos += 25
                else:
                    event_time, seq = unpack(data, pos)
                    value, pos = decode_value(data, pos + 16)
                items.append((event_time, seq, value))
        except DECODE_ERRORS as exc:
            raise corrupt(self.name, exc) from exc
        check_end(data, pos, self.name)
        return tuple(items)


def _stamp_key(item: Stamped) -> tuple[int, int]:
    return (item[0], item[1])
