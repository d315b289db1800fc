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
import struct
from itertools import chain

from operators.codec import DECODE_ERRORS, StateFormatError, bad_version, check_end, corrupt, int_array, unpack_ints

_VERSION = 1
_V = bytes((_VERSION,))
_HEAD = struct.Struct(">BqqI")  # version, zeros, count, positive buckets
_I = struct.Struct(">I")


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
        pos, neg = acc.pos, acc.neg
        return b"".join(
            (
                _HEAD.pack(_VERSION, acc.zeros, acc.count, len(pos)),
                int_array(2 * len(pos)).pack(*chain.from_iterable(pos.items())),
                _I.pack(len(neg)),
                int_array(2 * len(neg)).pack(*chain.from_iterable(neg.items())),
            )
        )

    def from_bytes(self, data: bytes) -> Sketch:
        if data[:1] != _V:
            raise bad_version(data, _VERSION, self.name)
        acc = Sketch()
        try:
            _, acc.zeros, acc.count, n = _HEAD.unpack_from(data, 0)
            pos = _HEAD.size
            for store in (acc.pos, acc.neg):
                if store is acc.neg:
                    n = _I.unpack_from(data, pos)[0]
                    pos += 4
                if pos + 16 * n > len(data):
                    raise StateFormatError(f"{self.name}: truncated state: {n} buckets at offset {pos}")
                flat, pos = unpack_ints(data, pos, 2 * n)
                store.update(zip(flat[::2], flat[1::2]))
                if len(store) != n:
                    raise StateFormatError(f"{self.name}: repeated bucket in state")
        except DECODE_ERRORS as exc:
            raise corrupt(self.name, exc) from exc
        check_end(data, pos, self.name)
        return acc
