"""Mean, variance and standard deviation (Welford / Chan et al.)."""

from __future__ import annotations

import math
import struct

from operators.codec import bad_version, check_end

_VERSION = 1
_V = bytes((_VERSION,))
_LAYOUT = struct.Struct(">Bqdd")  # version, n, mean, m2

Moments = tuple[int, float, float]  # (count, mean, M2 = sum of squared deviations)
_EMPTY: Moments = (0, 0.0, 0.0)


class _MomentsBase:
    """Shared intermediate ``(n, mean, m2)``.

    ``add`` is Welford's update; ``merge`` is Chan, Golub & LeVeque's pairwise
    combination; ``retract`` reverses Welford's update. All are numerically stable
    for the magnitudes of feature data; retraction may differ from a fresh pass by
    rounding.
    """

    name = "moments"
    invertible = True

    def init(self) -> Moments:
        return _EMPTY

    def add(self, acc: Moments, value, event_time: int, seq: int) -> Moments:
        n, mean, m2 = acc
        n += 1
        delta = value - mean
        mean += delta / n
        return (n, mean, m2 + delta * (value - mean))

    def merge(self, a: Moments, b: Moments) -> Moments:
        na, ma, sa = a
        nb, mb, sb = b
        if nb == 0:
            return a
        if na == 0:
            return b
        n = na + nb
        delta = mb - ma
        return (n, ma + delta * nb / n, sa + sb + delta * delta * na * nb / n)

    def retract(self, acc: Moments, value, event_time: int, seq: int) -> Moments:
        n, mean, m2 = acc
        if n <= 1:
            return _EMPTY
        n1 = n - 1
        mean1 = (n * mean - value) / n1
        return (n1, mean1, m2 - (value - mean1) * (value - mean))

    def to_bytes(self, acc: Moments) -> bytes:
        return _LAYOUT.pack(_VERSION, *acc)

    def from_bytes(self, data: bytes) -> Moments:
        if data[:1] != _V:
            raise bad_version(data, _VERSION, self.name)
        check_end(data, _LAYOUT.size, self.name)
        return _LAYOUT.unpack_from(data, 0)[1:]


class Mean(_MomentsBase):
    """Arithmetic mean. Empty value: ``None``."""

    name = "mean"

    def value(self, acc: Moments) -> float | None:
        return float(acc[1]) if acc[0] else None


class Variance(_MomentsBase):
    """Population variance (ddof = 0). Empty value: ``None``."""

    name = "var"

    def value(self, acc: Moments) -> float | None:
        n, _, m2 = acc
        return max(m2, 0.0) / n if n else None


class StdDev(_MomentsBase):
    """Population standard deviation (ddof = 0). Empty value: ``None``."""

    name = "stddev"

    def value(self, acc: Moments) -> float | None:
        n, _, m2 = acc
        return math.sqrt(max(m2, 0.0) / n) if n else None
