"""The online-store protocol and the row it stores.

A store keeps, per ``(view, fingerprint, entity)``, the newest :class:`StoredEntity`
it was given. Implementations: :mod:`streamfeat.online.embedded` (SQLite) and
:mod:`streamfeat.online.redis_store` (Redis).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from operators.view import EntityState, ViewOperator

__all__ = [
    "CachedValues",
    "OnlineStore",
    "StoredEntity",
    "cache_values",
    "make_cached_values",
    "make_row",
    "make_stored_entity",
]


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
    values, until = op.read_until(state, t)
    try:
        data = orjson.dumps(values)
    except orjson.JSONEncodeError:
        return None
    if orjson.loads(data) != values:
        return None
    return CachedValues(data, t, until)


@dataclass(frozen=True, slots=True)
class StoredEntity:
    """One entity's serialised partial state, and optionally its values as of the write.

    ``version`` is the entity's ``seq`` (accepted events so far, strictly increasing
    per entity), so "newer" is well defined without clocks; ``event_time`` is its
    newest accepted event time (UTC ms), kept beside the bytes for inspection.

    ``state`` is ``None`` in two cases:

    * in rows read with ``get_raw(..., at=t)`` whose ``cached`` values cover ``t`` (the
      store may then skip sending the bytes);
    * in a *values-only* write: a newer version and its cached values, keeping the
      stored state bytes, which then belong to an older version. The runtime publishes
      a large state this way between commits, when the values hold past the next
      commit, which writes the state (see :class:`~streamfeat.pipeline.FeaturePipeline`).

    ``state_version``, in rows read back, is the version the state bytes belong to when
    that is older than ``version`` (a values-only write came after them), else ``None``.
    Outside the cached span such a row cannot answer exactly until the state is written.
    """

    state: bytes | None
    version: int
    event_time: int
    cached: CachedValues | None = None
    state_version: int | None = None

    @property
    def state_is_current(self) -> bool:
        """Whether the state bytes (when present) belong to ``version``."""
        return self.state_version is None

    @classmethod
    def of(cls, op: ViewOperator, state: EntityState, *, at: int | None = None) -> StoredEntity:
        """The row that stores ``state`` of a view compiled to ``op``; with ``at`` (the
        writer's clock, UTC ms), also the values as of then (:func:`cache_values`)."""
        cached = None if at is None else cache_values(op, state, at)
        return cls(state=op.to_bytes(state), version=state.seq, event_time=state.frontier, cached=cached)


def _slot_setters(cls: type, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(cls.__dict__[name].__set__ for name in names)


_new = object.__new__
_set_values, _set_from, _set_until = _slot_setters(CachedValues, ("values", "valid_from", "valid_until"))
_set_state, _set_version, _set_event_time, _set_cached, _set_state_version = _slot_setters(
    StoredEntity, ("state", "version", "event_time", "cached", "state_version"))


def make_cached_values(values: bytes, valid_from: int, valid_until: int) -> CachedValues:
    """``CachedValues(values, valid_from, valid_until)`` through the slots, without the
    frozen dataclass ``__init__`` (which sets each field through ``object.__setattr__``):
    the runtime builds one per published row (measured at stop 22: 0.46 µs against 0.76 µs
    for a ``StoredEntity``)."""
    row = _new(CachedValues)
    _set_values(row, values)
    _set_from(row, valid_from)
    _set_until(row, valid_until)
    return row


def make_stored_entity(
    state: bytes | None, version: int, event_time: int, cached: CachedValues | None = None
) -> StoredEntity:
    """``StoredEntity(state, version, event_time, cached)`` the same way (see
    :func:`make_cached_values`)."""
    row = _new(StoredEntity)
    _set_state(row, state)
    _set_version(row, version)
    _set_event_time(row, event_time)
    _set_cached(row, cached)
    _set_state_version(row, None)
    return row


def make_row(
    state: bytes | None, version: int, event_time: int, values: bytes | None, valid_from: int, valid_until: int
) -> StoredEntity:
    """``make_stored_entity(state, version, event_time, make_cached_values(values, valid_from,
    valid_until))`` in one call, without cached values when ``values`` is ``None``: the
    runtime's row per touched entity and batch."""
    row = _new(StoredEntity)
    _set_state(row, state)
    _set_version(row, version)
    _set_event_time(row, event_time)
    if values is None:
        _set_cached(row, None)
    else:
        cached = _new(CachedValues)
        _set_values(cached, values)
        _set_from(cached, valid_from)
        _set_until(cached, valid_until)
        _set_cached(row, cached)
    _set_state_version(row, None)
    return row


class OnlineStore(Protocol):
    """Where serving reads entity state from. Every failure raises
    :class:`~streamfeat.errors.OnlineStoreError` (the backend's error chained)."""

    def write(self, view: str, fingerprint: str, rows: Mapping[str, StoredEntity]) -> int:
        """Store ``rows`` (entity -> row) as one batch; returns how many were written.

        Idempotent and never regressing: a row is written only when its version is
        greater than the stored one; older versions are ignored, and so are equal ones,
        except that a row with state bytes of the stored version replaces a stored
        state that is older (the state a values-only write left behind).

        A row with ``state=None`` is a values-only write (it must carry ``cached``
        values): when newer, it replaces version, event time and values and keeps the
        stored state bytes, noting their version; it is ignored where no row is stored.
        Of the same version, it replaces the values of a row whose state is older (a
        replay publishing the same version later, with a later span)."""
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
