"""Exact count of distinct values (invertible through per-value multiplicities)."""

from __future__ import annotations

import struct
from typing import Any

from operators.codec import DECODE_ERRORS, StateFormatError, bad_version, check_end, corrupt, decode_value, encode_value

_VERSION = 1
_V = bytes((_VERSION,))
_HEAD = struct.Struct(">BI")  # version, distinct values (then per value: tagged value, int64 count)
_Q = struct.Struct(">q")


class CountDistinct:
    """Number of distinct values. Intermediate: ``dict value -> multiplicity``,
    so that retraction is exact. Empty value: ``0``."""

    name = "distinct"
    invertible = True

    def init(self) -> dict[Any, int]:
        return {}

    def add(self, acc: dict[Any, int], value, event_time: int, seq: int) -> dict[Any, int]:
        acc[value] = acc.get(value, 0) + 1
        return acc

    def merge(self, a: dict[Any, int], b: dict[Any, int]) -> dict[Any, int]:
        out = dict(a)
        for key, count in b.items():
            out[key] = out.get(key, 0) + count
        return out

    def retract(self, acc: dict[Any, int], value, event_time: int, seq: int) -> dict[Any, int]:
        remaining = acc[value] - 1
        if remaining:
            acc[value] = remaining
        else:
            del acc[value]
        return acc

    def value(self, acc: dict[Any, int]) -> int:
        return len(acc)

    def to_bytes(self, acc: dict[Any, int]) -> bytes:
        parts = [_HEAD.pack(_VERSION, len(acc))]
        append = parts.append
        pack = _Q.pack
        for key, count in acc.items():
            append(encode_value(key))
            append(pack(count))
        return b"".join(parts)

    def from_bytes(self, data: bytes) -> dict[Any, int]:
        if data[:1] != _V:
            raise bad_version(data, _VERSION, self.name)
        try:
            n = _HEAD.unpack_from(data, 0)[1]
            if n > len(data):
                raise StateFormatError(f"{self.name}: {n} values in {len(data)} bytes")
            pos = _HEAD.size
            unpack = _Q.unpack_from
            acc = {}
            for _ in range(n):
                key, pos = decode_value(data, pos)
                acc[key] = unpack(data, pos)[0]
                pos += 8
        except DECODE_ERRORS as exc:
            raise corrupt(self.name, exc) from exc
        check_end(data, pos, self.name)
        if len(acc) != n:
            raise StateFormatError(f"{self.name}: repeated value in state")
        return acc
