"""The online-store protocol and the row it stores.

A store keeps, per ``(view, fingerprint, entity)``, the newest :class:`StoredEntity`
it was given. Implementations: :mod:`streamfeat.online.embedded` (SQLite) and
:mod:`streamfeat.online.redis_store` (Redis).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson

from operators.view import EntityState, ViewOperator

__all__ = ["CachedValues", "OnlineStore", "StoredEntity", "cache_values"]


@dataclass(frozen=True, slots=True)
class CachedValues:
    """Feature values computed when a row was written, and the times they hold for.

    ``values`` is the JSON object ``ViewOperator.read(state, t)`` gave for
    ``t = valid_from``; by ``ViewOperator.next_change`` the same read gives the same
    answer for every ``t`` in ``[valid_from, valid_until)``, so a reader in that span
    can serve these bytes without decoding the state. Outside it, readers finalise
    from ``state`` as always.
    """

    values: bytes
    valid_from: int
    valid_until: int

    def covers(self, t: int) -> bool:
        return self.valid_from <= t < self.valid_until


def cache_values(op: ViewOperator, state: EntityState, at: int) -> CachedValues | None:
    """The values of ``state`` as of ``at`` (or its newest arrival, if later) and how long
    they hold; ``None`` when JSON cannot carry them exactly (non-finite floats, tuples,
    integers beyond 64 bits), so readers always finalise that entity from its state."""
    t = max(state.now, at)
    values = op.read(state, t)
    try:
        data = orjson.dumps(values)
    except orjson.JSONEncodeError:
        return None
    if orjson.loads(data) != values:
        return None
    return CachedValues(data, t, op.next_change(state, t))


@dataclass(frozen=True, slots=True)
class StoredEntity:
    """One entity's serialised partial state, and optionally its values as of the write.

    ``version`` is the entity's ``seq`` (accepted events so far, strictly increasing
    per entity), so "newer" is well defined without clocks; ``event_time`` is its
    newest accepted event time (UTC ms), kept beside the bytes for inspection.
    ``state`` is ``None`` only in rows read with ``get_raw(..., at=t)`` whose
    ``cached`` values cover ``t`` (the store may then skip sending the bytes).
    """

    state: bytes | None
    version: int
    event_time: int
    cached: CachedValues | None = None

    @classmethod
    def of(cls, op: ViewOperator, state: EntityState, *, at: int | None = None) -> StoredEntity:
        """The row that stores ``state`` of a view compiled to ``op``; with ``at`` (the
        writer's clock, UTC ms), also the values as of then (:func:`cache_values`)."""
        cached = None if at is None else cache_values(op, state, at)
        return cls(state=op.to_bytes(state), version=state.seq, event_time=state.frontier, cached=cached)


class OnlineStore(Protocol):
    """Where serving reads entity state from. Every failure raises
    :class:`~streamfeat.errors.OnlineStoreError` (the backend's error chained)."""

    def write(self, view: str, fingerprint: str, rows: Mapping[str, StoredEntity]) -> int:
        """Store ``rows`` (entity -> row) as one batch; returns how many were written.

        Idempotent and never regressing: a row is written only when its version is
        greater than the stored one; older and equal versions are ignored.
        """
        ...

    def get_raw(
        self, view: str, fingerprint: str, entities: Sequence[str], *, at: int | None = None
    ) -> list[StoredEntity | None]:
        """The stored row of each entity, in order; ``None`` where there is none.

        With ``at``, a row whose cached values cover ``at`` may come without its state
        bytes (``state=None``)."""
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...
