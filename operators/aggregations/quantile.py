"""Approximate quantile with DDSketch (Masson, Rim & Lee, VLDB 2019).

Values are counted in logarithmic buckets ``ceil(log_gamma |x|)`` with
``gamma = (1 + alpha) / (1 - alpha)``. The answer for quantile ``q`` is within a
relative error ``alpha`` of the exact lower quantile — the value at rank
``floor(q * (n - 1))`` of the sorted window — for any data. Because the sketch is
only bucket counts, ``merge`` adds counts and ``retract`` subtracts them exactly,
so the sketch works with subtract-on-evict and with tiles alike.
"""

from __future__ import annotations

import math

from operators.codec import Reader, Writer

_VERSION = 1


class Sketch:
    """DDSketch intermediate: positive and negative bucket counts, zero count, total."""

    __slots__ = ("pos", "neg", "zeros", "count")

    def __init__(self) -> None:
        self.pos: dict[int, int] = {}
        self.neg: dict[int, int] = {}
        self.zeros = 0
        self.count = 0

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Sketch)
            and (self.pos, self.neg, self.zeros, self.count) == (other.pos, other.neg, other.zeros, other.count)
        )

    def __repr__(self) -> str:
        return f"Sketch(count={self.count})"


class ApproxQuantile:
    """Quantile ``q`` of a numeric field. Empty value: ``None``."""

    invertible = True

    def __init__(self, q: float, relative_accuracy: float = 0.01) -> None:
        if not 0.0 <= q <= 1.0:
            raise ValueError("quantile q must be within [0, 1]")
        if not 0.0 < relative_accuracy < 1.0:
            raise ValueError("relative_accuracy must be within (0, 1)")
        self.q = q
        self.relative_accuracy = relative_accuracy
        self._gamma = (1 + relative_accuracy) / (1 - relative_accuracy)
        self._log_gamma = math.log(self._gamma)
        self.name = "p" + f"{q * 100:g}".replace(".", "_")

    def _index(self, magnitude: float) -> int:
        return math.ceil(math.log(magnitude) / self._log_gamma)

    def _bucket_value(self, index: int) -> float:
        return 2.0 * self._gamma**index / (self._gamma + 1.0)

    def init(self) -> Sketch:
        return Sketch()

    def add(self, acc: Sketch, value, event_time: int, seq: int) -> Sketch:
        self._bump(acc, value, 1)
        return acc

    def retract(self, acc: Sketch, value, event_time: int, seq: int) -> Sketch:
        self._bump(acc, value, -1)
        return acc

    def _bump(self, acc: Sketch, value: float, delta: int) -> None:
        acc.count += delta
        if value > 0:
            store, index = acc.pos, self._index(value)
        elif value < 0:
            store, index = acc.neg, self._index(-value)
        else:
            acc.zeros += delta
            return
        remaining = store.get(index, 0) + delta
        if remaining:
            store[index] = remaining
        else:
            del store[index]

    def merge(self, a: Sketch, b: Sketch) -> Sketch:
        out = Sketch()
        out.pos = dict(a.pos)
        out.neg = dict(a.neg)
        for src, dst in ((b.pos, out.pos), (b.neg, out.neg)):
            for index, count in src.items():
                dst[index] = dst.get(index, 0) + count
        out.zeros = a.zeros + b.zeros
        out.count = a.count + b.count
        return out

    def value(self, acc: Sketch) -> float | None:
        if acc.count == 0:
            return None
        rank = math.floor(self.q * (acc.count - 1))
        seen = 0
        for index in sorted(acc.neg, reverse=True):
            seen += acc.neg[index]
            if seen > rank:
                return -self._bucket_value(index)
        seen += acc.zeros
        if seen > rank:
            return 0.0
        for index in sorted(acc.pos):
            seen += acc.pos[index]
            if seen > rank:
                return self._bucket_value(index)
        raise ValueError("inconsistent sketch: bucket counts do not add up to the total")

    def to_bytes(self, acc: Sketch) -> bytes:
        w = Writer()
        w.u8(_VERSION)
        w.i64(acc.zeros)
        w.i64(acc.count)
        for store in (acc.pos, acc.neg):
            w.u32(len(store))
            for index, count in store.items():
                w.i64(index)
                w.i64(count)
        return w.getvalue()

    def from_bytes(self, data: bytes) -> Sketch:
        r = Reader(data)
        r.version(_VERSION, self.name)
        acc = Sketch()
        acc.zeros = r.i64()
        acc.count = r.i64()
        for store in (acc.pos, acc.neg):
            for _ in range(r.u32()):
                index = r.i64()
                store[index] = r.i64()
        r.done()
        return acc

