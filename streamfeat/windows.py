"""Window definitions: frozen, validated on creation, durations stored in milliseconds.

See ``docs/semantics.md`` for exactly which events each window covers as of a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamfeat.durations import Duration, format_duration, parse_duration
from streamfeat.errors import DefinitionError

__all__ = ["Hopping", "Lifetime", "Sliding", "Tumbling", "Window"]


@dataclass(frozen=True, init=False)
class Sliding:
    """A window of the last ``size`` that moves with time.

    Without ``tile`` it is exact to the millisecond. With ``tile`` the window is kept
    as one partial aggregate per tile: far cheaper for long windows, and it may omit
    part of one tile at its old edge (exact whenever the read time is a tile boundary).
    """

    size: int
    tile: int | None

    def __init__(self, size: Duration, *, tile: Duration | None = None) -> None:
        size_ms = parse_duration(size, what="Sliding window size")
        tile_ms = None if tile is None else parse_duration(tile, what="Sliding window tile")
        if tile_ms is not None:
            if tile_ms > size_ms:
                raise DefinitionError(
                    f"Sliding({format_duration(size_ms)!r}, tile={format_duration(tile_ms)!r}): "
                    "the tile is larger than the window"
                )
            if size_ms % tile_ms:
                raise DefinitionError(
                    f"Sliding({format_duration(size_ms)!r}, tile={format_duration(tile_ms)!r}): "
                    "the window must be a whole number of tiles"
                )
        object.__setattr__(self, "size", size_ms)
        object.__setattr__(self, "tile", tile_ms)

    @property
    def label(self) -> str:
        base = format_duration(self.size)
        return base if self.tile is None else f"{base}_tile{format_duration(self.tile)}"

    @property
    def granularity(self) -> int | None:
        return self.tile


@dataclass(frozen=True, init=False)
class Hopping:
    """Fixed windows of ``size`` starting every ``hop``; the value is the latest window
    that has ended. ``size`` must be a whole number of hops."""

    size: int
    hop: int

    def __init__(self, size: Duration, *, hop: Duration) -> None:
        size_ms = parse_duration(size, what="Hopping window size")
        hop_ms = parse_duration(hop, what="Hopping window hop")
        if hop_ms > size_ms:
            raise DefinitionError(
                f"Hopping({format_duration(size_ms)!r}, hop={format_duration(hop_ms)!r}): the hop is larger "
                "than the window (events between windows would never count)"
            )
        if size_ms % hop_ms:
            raise DefinitionError(
                f"Hopping({format_duration(size_ms)!r}, hop={format_duration(hop_ms)!r}): "
                "the window must be a whole number of hops"
            )
        object.__setattr__(self, "size", size_ms)
        object.__setattr__(self, "hop", hop_ms)

    @property
    def label(self) -> str:
        if self.size == self.hop:
            return f"tumbling{format_duration(self.size)}"
        return f"{format_duration(self.size)}_hop{format_duration(self.hop)}"

    @property
    def granularity(self) -> int | None:
        return self.hop


@dataclass(frozen=True, init=False)
class Tumbling(Hopping):
    """Back-to-back windows of ``size``: a :class:`Hopping` window whose hop is its size."""

    def __init__(self, size: Duration) -> None:
        super().__init__(size, hop=size)


@dataclass(frozen=True)
class Lifetime:
    """Every accepted event since the entity's first."""

    @property
    def label(self) -> str:
        return "lifetime"

    @property
    def granularity(self) -> int | None:
        return None


Window = Sliding | Hopping | Tumbling | Lifetime
