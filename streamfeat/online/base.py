"""The online-store protocol and the row it stores.

A store keeps, per ``(view, fingerprint, entity)``, the newest :class:`StoredEntity`
it was given. Implementations: :mod:`streamfeat.online.embedded` (SQLite) and
:mod:`streamfeat.online.redis_store` (Redis).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from operators.view import EntityState, ViewOperator

__all__ = ["OnlineStore", "StoredEntity"]


@dataclass(frozen=True, slots=True)
class StoredEntity:
    """One entity's serialised partial state.

    ``version`` is the entity's ``seq`` (accepted events so far, strictly increasing
    per entity), so "newer" is well defined without clocks; ``event_time`` is its
    newest accepted event time (UTC ms), kept beside the bytes for inspection.
    """

    state: bytes
    version: int
    event_time: int

    @classmethod
    def of(cls, op: ViewOperator, state: EntityState) -> StoredEntity:
        """The row that stores ``state`` of a view compiled to ``op``."""
        return cls(state=op.to_bytes(state), version=state.seq, event_time=state.frontier)


class OnlineStore(Protocol):
    """Where serving reads entity state from. Every failure raises
    :class:`~streamfeat.errors.OnlineStoreError` (the backend's error chained)."""

    def write(self, view: str, fingerprint: str, rows: Mapping[str, StoredEntity]) -> int:
        """Store ``rows`` (entity -> row) as one batch; returns how many were written.

        Idempotent and never regressing: a row is written only when its version is
        greater than the stored one; older and equal versions are ignored.
        """
        ...

    def get_raw(self, view: str, fingerprint: str, entities: Sequence[str]) -> list[StoredEntity | None]:
        """The stored row of each entity, in order; ``None`` where there is none."""
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...
