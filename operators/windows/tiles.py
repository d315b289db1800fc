"""Tiled (bucketed) windows: one partial aggregate per tile of event time.

Tile ``k`` holds the events with ``k*tile < event_time <= (k+1)*tile``. Insert is one
dict update; a read merges the tiles in range. State is O(window / tile) per entity
whatever the event rate — the cheap way to keep a 365-day window.
"""

from __future__ import annotations

import struct
from typing import Any

from operators.aggregations.count import Count
from operators.aggregations.extremes import Max, Min
from operators.aggregations.sum import Sum
from operators.base import NEG_INF, Aggregator
from operators.codec import (
    DECODE_ERRORS,
    StateFormatError,
    bad_version,
    check_end,
    corrupt,
    decode_values,
    decode_varints,
    encode_blob,
    encode_values,
    encode_varints,
    read_blob,
    unpack_ints,
)

#: 3: ``version, oldest (int64), n (u32)``, then the n tile indices as zigzag varint
#: differences (``operators.codec.encode_varints``: the first from 0, each next from the one
#: before; tiles are kept in the order they were made, so consecutive days take a byte each)
#: and a mode (u8): 2, the aggregates as zigzag varints — counts and integer sums, min and
#: max of ints (every aggregate an int, none a bool); 1, the aggregates as one value run
#: (operators.codec.encode_values) — for other aggregators whose intermediate is a plain
#: value that their own ``to_bytes`` stores as a tagged value or int64 (sum, min, max of
#: floats or strings); 0, one length-prefixed ``aggregator.to_bytes`` blob per tile.
#: 2 (read, no longer written): the indices as n int64 and modes 0 and 1 only. A daily tile
#: took 16 bytes in 2 and takes 2-3 in 3: a year of a 365-day count in daily tiles (one to
#: seven events a day) took 5,855 bytes and takes 746 (``benchmarks/results/state_bytes_s35/``).
_VERSION = 3
_V = bytes((_VERSION,))
_V2 = b"\x02"
_HEAD = struct.Struct(">BqI")
_TILES_BLOBS = b"\x00"
_TILES_VALUES = b"\x01"
_TILES_VARINTS = b"\x02"
_INT64 = range(-(1 << 63), 1 << 63)
#: Aggregators whose intermediate is a plain int / float / str / bool / None value,
#: stored by their ``to_bytes`` as exactly that value (so a value run is equivalent).
PLAIN_AGGREGATORS = (Count, Sum, Min, Max)


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
        tiles = state.tiles
        n = len(tiles)
        head = _HEAD.pack(_VERSION, NEG_INF if state.oldest is None else state.oldest, n)
        if not n:
            return head
        if type(self.aggregator) in PLAIN_AGGREGATORS:
            accs = list(tiles.values())
            if all(type(acc) is int and acc in _INT64 for acc in accs):
                body, mode = encode_varints(accs), _TILES_VARINTS
            else:
                body, mode = encode_values(accs), _TILES_VALUES
        else:
            to_bytes = self.aggregator.to_bytes
            body = b"".join([encode_blob(to_bytes(acc)) for acc in tiles.values()])
            mode = _TILES_BLOBS
        return b"".join((head, encode_varints(list(tiles), deltas=True), mode, body))

    def from_bytes(self, data: bytes) -> TileMap:
        version = data[:1]
        if version != _V and version != _V2:
            raise bad_version(data, _VERSION, "tiles")
        try:
            _, oldest, n = _HEAD.unpack_from(data, 0)
            pos = _HEAD.size
            if n:
                if pos + (8 * n if version == _V2 else n) >= len(data):
                    raise StateFormatError(f"tiles: truncated state: {n} tiles in {len(data)} bytes")
                if version == _V2:
                    indices, pos = unpack_ints(data, pos, n)
                else:
                    indices, pos = decode_varints(data, pos, n, deltas=True)
                mode = data[pos]
                pos += 1
                plain = type(self.aggregator) in PLAIN_AGGREGATORS
                if mode == _TILES_VALUES[0] and plain:
                    accs, pos = decode_values(data, pos, n)
                elif mode == _TILES_VARINTS[0] and plain and version == _V:
                    accs, pos = decode_varints(data, pos, n)
                elif mode == _TILES_BLOBS[0]:
                    from_bytes = self.aggregator.from_bytes
                    accs = []
                    for _ in range(n):
                        blob, pos = read_blob(data, pos)
                        accs.append(from_bytes(blob))
                else:
                    raise StateFormatError(f"tiles: unknown tile encoding {mode} for {self.aggregator.name}")
        except DECODE_ERRORS as exc:
            raise corrupt("tiles", exc) from exc
        check_end(data, pos, "tiles")
        state = TileMap()
        if n:
            state.tiles = dict(zip(indices, accs))
            if len(state.tiles) != n:
                raise StateFormatError("tiles: repeated tile index")
        state.oldest = None if oldest == NEG_INF else oldest  # restored as kept: same future evictions
        return state
