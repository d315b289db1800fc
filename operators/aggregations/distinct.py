"""Exact count of distinct values (invertible through per-value multiplicities)."""

from __future__ import annotations

from typing import Any

from operators.codec import Reader, Writer

_VERSION = 1


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
        w = Writer()
        w.u8(_VERSION)
        w.u32(len(acc))
        for key, count in acc.items():
            w.value(key)
            w.i64(count)
        return w.getvalue()

    def from_bytes(self, data: bytes) -> dict[Any, int]:
        r = Reader(data)
        r.version(_VERSION, self.name)
        acc = {}
        for _ in range(r.u32()):
            key = r.value()
            acc[key] = r.i64()
        r.done()
        return acc
