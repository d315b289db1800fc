"""Approximate distinct count with HyperLogLog (Flajolet et al. 2007).

Registers are kept sparse (``dict register -> rank``), so a sketch of a handful of
values costs a handful of entries, not ``2**precision`` bytes. Values are hashed
with BLAKE2b-64 over a type-tagged canonical encoding, which is stable across
processes and Python versions (unlike the salted built-in ``hash``).

Error: the relative standard error is ``1.04 / sqrt(2**precision)`` — 1.6 % at the
default precision 12 — and small cardinalities (below ``2.5 * 2**precision``) use
linear counting, which is near exact for the per-entity counts features usually
see (e.g. < 100 distinct merchants: typically exact or off by one).
"""

from __future__ import annotations

import math
import struct
from functools import lru_cache
from hashlib import blake2b
from itertools import starmap
from typing import Any

from operators.codec import DECODE_ERRORS, StateFormatError, bad_version, check_end, corrupt

_VERSION = 1
_V = bytes((_VERSION,))
_HEAD = struct.Struct(">BBI")  # version, precision, registers (then per register: u16 index, u8 rank)
_PAIR = struct.Struct(">HB")


@lru_cache(maxsize=1 << 16, typed=True)  # typed: 1, 1.0 and True must not share an entry
def hash64(value: Any) -> int:
    """Stable 64-bit hash of a scalar event value (memoised: ids repeat a lot)."""
    if isinstance(value, str):
        raw = b"s" + value.encode("utf-8")
    elif isinstance(value, bool):
        raw = b"b1" if value else b"b0"
    elif isinstance(value, int):
        raw = b"i" + str(value).encode()
    elif isinstance(value, float):
        raw = b"i" + str(int(value)).encode() if value.is_integer() else b"f" + repr(value).encode()
    else:
        raise TypeError(f"cannot hash value of type {type(value).__name__}")
    return int.from_bytes(blake2b(raw, digest_size=8).digest(), "big")


class ApproxCountDistinct:
    """HyperLogLog distinct count. Intermediate: ``dict[int, int]``. Empty value: ``0``."""

    name = "approx_distinct"
    invertible = False

    def __init__(self, precision: int = 12) -> None:
        if not 4 <= precision <= 16:
            raise ValueError("HyperLogLog precision must be between 4 and 16")
        self.precision = precision
        self._m = 1 << precision
        self._shift = 64 - precision
        self._mask = (1 << self._shift) - 1
        self._alpha = 0.7213 / (1 + 1.079 / self._m) if self._m >= 128 else {16: 0.673, 32: 0.697, 64: 0.709}[self._m]

    def init(self) -> dict[int, int]:
        return {}

    def add(self, acc: dict[int, int], value, event_time: int, seq: int) -> dict[int, int]:
        h = hash64(value)
        index = h >> self._shift
        rank = self._shift - (h & self._mask).bit_length() + 1
        if rank > acc.get(index, 0):
            acc[index] = rank
        return acc

    def merge(self, a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
        out = dict(a)
        for index, rank in b.items():
            if rank > out.get(index, 0):
                out[index] = rank
        return out

    def retract(self, acc, value, event_time: int, seq: int):
        raise NotImplementedError("HyperLogLog cannot retract; use tiles, two-stacks or the event log")

    def value(self, acc: dict[int, int]) -> int:
        if not acc:
            return 0
        m = self._m
        empty = m - len(acc)
        harmonic = empty + sum(2.0**-rank for rank in acc.values())
        estimate = self._alpha * m * m / harmonic
        if estimate <= 2.5 * m and empty:
            estimate = m * math.log(m / empty)
        return int(round(estimate))

    def to_bytes(self, acc: dict[int, int]) -> bytes:
        return _HEAD.pack(_VERSION, self.precision, len(acc)) + b"".join(starmap(_PAIR.pack, acc.items()))

    def from_bytes(self, data: bytes) -> dict[int, int]:
        if data[:1] != _V:
            raise bad_version(data, _VERSION, self.name)
        try:
            _, precision, count = _HEAD.unpack_from(data, 0)
        except DECODE_ERRORS as exc:
            raise corrupt(self.name, exc) from exc
        if precision != self.precision:
            raise StateFormatError("HyperLogLog state written with another precision")
        check_end(data, _HEAD.size + count * _PAIR.size, self.name)
        acc = dict(_PAIR.iter_unpack(data[_HEAD.size :]))
        if len(acc) != count:
            raise StateFormatError(f"{self.name}: repeated register in state")
        return acc
