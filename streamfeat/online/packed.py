"""A batch's online rows packed into one buffer: :class:`PackedRows`.

Why: the runtime publishes a row per touched entity and batch. Built as Python objects
(a :class:`~streamfeat.online.base.StoredEntity` each, merged by the background writer,
then taken apart again for the native writer) those rows held the GIL for a large share
of the flow's time (docs/operations.md, sizing, "Packed online rows") — time every other thread
waits. The native core (``publish_packed`` of ``operators._native``) writes them
straight into one buffer without the GIL, and the embedded store's native writer
(``write_packed`` of ``streamfeat._store_native``) reads them from it without the GIL.
Only stores that say so (``accepts_packed_rows``) are handed packed rows.

Layout, per row, little-endian: ``u32`` length of the entity key and its UTF-8 bytes;
``i64`` version, event_time, valid_from, valid_until; ``i32`` length of the cached values
(-1: none) and those values; ``i32`` length of the state (-1: none, a values-only row)
and its bytes. A row has state bytes or values or both.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from streamfeat.errors import OnlineStoreError
from streamfeat.online.base import StoredEntity, make_row

__all__ = ["PackedRows", "pack_rows", "unpack_rows"]

_LENGTH = struct.Struct("<I")
_FIXED = struct.Struct("<qqqq")
_PART = struct.Struct("<i")


@dataclass(frozen=True, slots=True)
class PackedRows:
    """Rows of one view for ``entities`` (in the order packed), in the layout above."""

    data: bytes
    entities: list[str]

    def __len__(self) -> int:
        return len(self.entities)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entities)

    def to_rows(self) -> dict[str, StoredEntity]:
        """The rows as :class:`StoredEntity` objects, by entity (the last row of each)."""
        return unpack_rows(self.data)


def pack_rows(rows: Mapping[str, StoredEntity]) -> PackedRows:
    """``rows`` packed (what the native core writes for a batch; here for rows built in Python)."""
    parts: list[bytes] = []
    for entity, row in rows.items():
        if row.state is None and row.cached is None:
            raise OnlineStoreError(f"cannot pack entity {entity!r}: a row needs its state bytes or values")
        key = entity.encode("utf-8")
        cached = row.cached
        parts.append(_LENGTH.pack(len(key)))
        parts.append(key)
        parts.append(
            _FIXED.pack(
                row.version, row.event_time, cached.valid_from if cached else 0, cached.valid_until if cached else 0
            )
        )
        for part in (None if cached is None else cached.values, row.state):
            parts.append(_PART.pack(-1 if part is None else len(part)))
            if part is not None:
                parts.append(part)
    return PackedRows(b"".join(parts), list(rows))


def unpack_rows(data: bytes) -> dict[str, StoredEntity]:
    """The rows in ``data`` by entity (a later row of an entity replaces an earlier one)."""
    rows: dict[str, StoredEntity] = {}
    view = memoryview(data)
    at = 0
    try:
        while at < len(data):
            (length,) = _LENGTH.unpack_from(view, at)
            at += 4
            if at + length > len(data):
                raise struct.error("entity key cut short")
            entity = bytes(view[at : at + length]).decode("utf-8")
            at += length
            version, event_time, valid_from, valid_until = _FIXED.unpack_from(view, at)
            at += _FIXED.size
            parts: list[bytes | None] = []
            for _ in range(2):
                (size,) = _PART.unpack_from(view, at)
                at += 4
                if size < -1 or at + max(size, 0) > len(data):
                    raise struct.error(f"bad part length {size}")
                parts.append(None if size == -1 else bytes(view[at : at + size]))
                at += max(size, 0)
            values, state = parts
            if state is None and values is None:
                raise struct.error(f"the row of {entity!r} has neither state bytes nor values")
            rows[entity] = make_row(state, version, event_time, values, valid_from, valid_until)
    except (struct.error, UnicodeDecodeError) as exc:
        raise OnlineStoreError(f"packed online rows are malformed at byte {at}: {exc}") from exc
    return rows
