"""Rows of the embedded stores (the SQLite and the LMDB file) as their writers take them
and as their readers give them back — one definition for both, and for the native writers
in ``streamfeat._store_native``, whose ``write`` takes the same two lists."""

from __future__ import annotations

from collections.abc import Mapping

from streamfeat.errors import OnlineStoreError
from streamfeat.online.base import CachedValues, StoredEntity

__all__ = ["stored_row", "write_params"]

#: (view, fingerprint, entity, state, version, event_time, vals, valid_from, valid_until)
Upsert = tuple[str, str, str, bytes, int, int, bytes | None, int, int]
#: (version, event_time, vals, valid_from, valid_until, view, fingerprint, entity)
ValuesOnly = tuple[int, int, bytes, int, int, str, str, str]


def write_params(view: str, fingerprint: str, rows: Mapping[str, StoredEntity]) -> tuple[list[Upsert], list[ValuesOnly]]:
    """The full rows and the values-only rows (``state=None``) of a batch."""
    upserts: list[Upsert] = []
    values_only: list[ValuesOnly] = []
    for entity, r in rows.items():
        c = r.cached
        if r.state is None:
            if c is None:
                raise OnlineStoreError(
                    f"cannot write entity {entity!r} of view {view!r} without its state bytes or values")
            values_only.append((r.version, r.event_time, c.values, c.valid_from, c.valid_until, view, fingerprint,
                                entity))
        elif c is None:
            upserts.append((view, fingerprint, entity, r.state, r.version, r.event_time, None, 0, 0))
        else:
            upserts.append((view, fingerprint, entity, r.state, r.version, r.event_time, c.values, c.valid_from,
                            c.valid_until))
    return upserts, values_only


def stored_row(
    state: bytes | None,
    version: int,
    event_time: int,
    values: bytes | None,
    valid_from: int,
    valid_until: int,
    state_version: int | None,
) -> StoredEntity:
    """A row read back: the columns in this order (``vals`` None: no cached values)."""
    cached = None if values is None else CachedValues(values, valid_from, valid_until)
    return StoredEntity(state, version, event_time, cached, state_version)
