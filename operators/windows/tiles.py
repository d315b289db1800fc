"""Tiled (bucketed) windows: one partial aggregate per tile of event time.

Tile ``k`` holds the events with ``k*tile < event_time <= (k+1)*tile``. Insert is one
dict update; a read merges the tiles in range. State is O(window / tile) per entity
whatever the event rate — the cheap way to keep a 365-day window.
"""

from __future__ import annotations

from typing import Any

from operators.base import NEG_INF, Aggregator
from operators.codec import Reader, Writer

_VERSION = 1


class TileMap:
    __slots__ = ("tiles", "oldest")

    def __init__(self) -> None:
        self.tiles: dict[int, Any] = {}
        #: No tile has a smaller index (a lower bound: eviction need not search for the exact minimum).
        self.oldest: int | None = None


class TilesStrategy:
    name = "tiles"
    tile_aligned = True

    def __init__(self, aggregator: Aggregator, tile: int) -> None:
        if tile <= 0:
            raise ValueError("tile size must be positive")
        self.aggregator = aggregator
        self.tile = tile

    def new_state(self) -> TileMap:
        return TileMap()

    def insert(self, state: TileMap, event_time: int, seq: int, value: Any, bound: int) -> None:
        index = (event_time - 1) // self.tile
        tiles = state.tiles
        acc = tiles.get(index)
        if acc is not None:
            tiles[index] = self.aggregator.add(acc, value, event_time, seq)
            return
        # A new tile: the moment to forget expired ones (reads never cover them anyway).
        tiles[index] = self.aggregator.add(self.aggregator.init(), value, event_time, seq)
        if state.oldest is None or index < state.oldest:
            state.oldest = index
        self.evict(state, bound)

    def evict(self, state: TileMap, bound: int) -> None:
        # A tile may go once every event it can hold is at or before ``bound``.
        last_dead = (bound // self.tile) - 1  # tile k ends at (k+1)*tile <= bound
        oldest = state.oldest
        if oldest is None or oldest > last_dead:
            return
        tiles = state.tiles
        if last_dead - oldest < len(tiles):
            for index in range(oldest, last_dead + 1):  # walk the few expired slots
                tiles.pop(index, None)
        else:  # a long quiet gap: fewer tiles than expired slots
            for index in [k for k in tiles if k <= last_dead]:
                del tiles[index]
        state.oldest = last_dead + 1 if tiles else None

    def partial(self, state: TileMap, lo: int, hi: int) -> Any:
        # Tiles whose range lies in (lo, hi], plus the (partial) tile containing hi.
        first = lo // self.tile
        last = (hi - 1) // self.tile
        agg = self.aggregator
        acc = agg.init()
        for index, tile_acc in state.tiles.items():
            if first <= index <= last:
                acc = agg.merge(acc, tile_acc)
        return acc

    def is_empty(self, state: TileMap) -> bool:
        return not state.tiles

    def to_bytes(self, state: TileMap) -> bytes:
        w = Writer()
        w.u8(_VERSION)
        w.i64(NEG_INF if state.oldest is None else state.oldest)
        w.u32(len(state.tiles))
        to_bytes = self.aggregator.to_bytes
        for index, acc in state.tiles.items():
            w.i64(index)
            w.blob(to_bytes(acc))
        return w.getvalue()

    def from_bytes(self, data: bytes) -> TileMap:
        r = Reader(data)
        r.version(_VERSION, "tiles")
        state = TileMap()
        oldest = r.i64()
        from_bytes = self.aggregator.from_bytes
        for _ in range(r.u32()):
            index = r.i64()
            state.tiles[index] = from_bytes(r.blob())
        r.done()
        state.oldest = None if oldest == NEG_INF else oldest  # restored as kept: same future evictions
        return state
