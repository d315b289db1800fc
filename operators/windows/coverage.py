"""Which events a window covers as of a time ``t`` — the semantics, as code.

Every coverage answers ``bounds(t) -> (lo, hi)``: the window as of ``t`` holds the
accepted events with ``lo < event_time <= hi`` (that arrived at or before ``t``;
arrival is the caller's business). ``docs/semantics.md`` states the same rules in
prose; tests check the strategies against these functions through a brute-force
oracle.
"""

from __future__ import annotations

from dataclasses import dataclass

from operators.base import NEG_INF

__all__ = ["Coverage", "HoppingCoverage", "LifetimeCoverage", "Refresh", "SlidingCoverage", "TiledCoverage"]


@dataclass(frozen=True, slots=True)
class SlidingCoverage:
    """Exact sliding window of ``size`` ms: ``(t - size, t]``."""

    size: int

    def bounds(self, t: int) -> tuple[int, int]:
        return t - self.size, t

    def lo(self, t: int) -> int:
        return t - self.size


@dataclass(frozen=True, slots=True)
class TiledCoverage:
    """Sliding window of ``size`` ms kept in tiles of ``tile`` ms (``size % tile == 0``).

    Tile ``k`` holds events with ``k*tile < event_time <= (k+1)*tile``. As of ``t`` the
    window is the exact one with its start rounded *up* to a tile boundary:
    ``(ceil(t / tile) * tile - size, t]``. It equals the exact window whenever ``t``
    is a tile boundary, and otherwise omits at most the part of one tile at its old
    edge (``(t - size, ceil(t/tile)*tile - size]``); it never covers more than ``size``.
    """

    size: int
    tile: int

    def bounds(self, t: int) -> tuple[int, int]:
        return -((-t) // self.tile) * self.tile - self.size, t

    def lo(self, t: int) -> int:
        return -((-t) // self.tile) * self.tile - self.size


@dataclass(frozen=True, slots=True)
class HoppingCoverage:
    """Hopping window of ``size`` ms every ``hop`` ms (tumbling when equal).

    Windows are ``(k*hop - size, k*hop]``. As of ``t`` the value is that of the most
    recent window that has *ended*: ``e = floor(t / hop) * hop``, covering
    ``(e - size, e]``. Events after ``e`` wait for the next window.
    """

    size: int
    hop: int

    def bounds(self, t: int) -> tuple[int, int]:
        end = (t // self.hop) * self.hop
        return end - self.size, end

    def lo(self, t: int) -> int:
        return (t // self.hop) * self.hop - self.size


@dataclass(frozen=True, slots=True)
class LifetimeCoverage:
    """Every accepted event up to ``t``: ``(-inf, t]``."""

    def bounds(self, t: int) -> tuple[int, int]:
        return NEG_INF, t

    def lo(self, t: int) -> int:
        return NEG_INF


Coverage = SlidingCoverage | TiledCoverage | HoppingCoverage | LifetimeCoverage


@dataclass(frozen=True, slots=True)
class Refresh:
    """Refresh cadence ``every`` with publish lag ``lag`` (both ms).

    The value read at ``t`` is the window as of boundary ``b = floor((t - lag) / every)
    * every`` over events that arrived at or before ``b + lag``; it changes only at
    publication instants ``b + lag``.
    """

    every: int
    lag: int = 0

    def boundary(self, t: int) -> int:
        """The boundary whose value is visible at ``t``."""
        return ((t - self.lag) // self.every) * self.every

    def sealed_boundary(self, arrival: int) -> int:
        """The newest boundary ``b`` with ``b + lag < arrival``: its value must be frozen
        before an event arriving at ``arrival`` is applied."""
        return ((arrival - self.lag - 1) // self.every) * self.every

    @property
    def horizon(self) -> int:
        """How far before the newest arrival a boundary read can reach."""
        return self.every + self.lag
