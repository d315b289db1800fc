"""Feature values from an online store, finalised at read time.

:class:`FeatureReader` fetches each entity's stored partial state and evaluates it
with the view's operator as of the time asked (``docs/semantics.md``): windows close
on read, without timers. A row may also carry the values as of its write and the span
they hold for (:class:`~streamfeat.online.base.CachedValues`, bounded by
``ViewOperator.next_change``); a read inside that span answers from them without
decoding the state: the same values, cheaper.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from operators.base import NEG_INF
from operators.codec import StateFormatError
from operators.view import ViewOperator
from streamfeat.build import build_view
from streamfeat.clock import Clock, SystemClock
from streamfeat.definitions import FeatureView
from streamfeat.errors import DefinitionError, ReadTimeError, StateError, UnknownViewError
from streamfeat.online.base import OnlineStore, StoredEntity

__all__ = ["FeatureReader", "FeatureValues", "JsonlServedLog", "ServedLog", "served_record"]


@dataclass(frozen=True, slots=True)
class FeatureValues:
    """The features of one entity of one view as of ``as_of`` (UTC ms).

    ``event_time`` is the event time of the entity's last update (its newest
    accepted event), ``None`` for an entity the store has never seen.
    """

    view: str
    entity: str
    values: dict[str, Any]
    event_time: int | None
    as_of: int


def served_record(values: FeatureValues) -> bytes:
    """One served answer as a JSON object (the served-log line format):
    ``{"view", "entity", "as_of", "event_time", "values"}``."""
    return orjson.dumps(
        {
            "view": values.view,
            "entity": values.entity,
            "as_of": values.as_of,
            "event_time": values.event_time,
            "values": values.values,
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


class ServedLog(Protocol):
    """Where a reader logs what it served, for ``streamfeat parity`` to check later."""

    def record(self, served: Sequence[FeatureValues]) -> None: ...

    def close(self) -> None: ...


class JsonlServedLog:
    """Served answers appended to a JSON Lines file, one per entity read (thread-safe).

    Lines are buffered; :meth:`flush` / :meth:`close` (or ``flush_every`` lines) write
    them out, so logging costs little on the serving path."""

    def __init__(self, path: str | Path, *, flush_every: int = 1_000) -> None:
        self.path = Path(path)
        self._handle = self.path.open("ab")
        self._lock = threading.Lock()
        self._flush_every = flush_every
        self._unflushed = 0

    def record(self, served: Sequence[FeatureValues]) -> None:
        data = b"".join(served_record(v) + b"\n" for v in served)
        with self._lock:
            self._handle.write(data)
            self._unflushed += len(served)
            if self._unflushed >= self._flush_every:
                self._handle.flush()
                self._unflushed = 0

    def flush(self) -> None:
        with self._lock:
            self._handle.flush()
            self._unflushed = 0

    def close(self) -> None:
        with self._lock:
            if not self._handle.closed:
                self._handle.close()


@dataclass(frozen=True, slots=True)
class _ServedView:
    fingerprint: str
    op: ViewOperator


class FeatureReader:
    """Reads features of ``views`` from ``store``; ``clock`` supplies "now" for reads
    without an explicit ``at``.

    With ``served_log``, every answer is logged (view, entity, the time it was
    evaluated at, values) for ``streamfeat parity`` to compare with a backfill.

    A read for time ``t`` must not be earlier than the entity's newest applied
    arrival (the operators cannot un-apply events): an explicit ``at`` that is raises
    :class:`~streamfeat.errors.ReadTimeError`, while a clock read is evaluated at the
    entity's arrival instead (a reader's clock a little behind the writer's is normal)
    and says so in :attr:`FeatureValues.as_of`.

    A row published values-only whose span ended before its state was written (the
    writer stopped in between; :mod:`streamfeat.pipeline`) answers a clock read with its
    values as of the span's last instant, which ``as_of`` says, and refuses an explicit
    ``at`` past it with :class:`~streamfeat.errors.ReadTimeError`.
    """

    def __init__(
        self,
        store: OnlineStore,
        views: Sequence[FeatureView],
        clock: Clock | None = None,
        *,
        served_log: ServedLog | None = None,
    ) -> None:
        self._store = store
        self._clock: Clock = SystemClock() if clock is None else clock
        self.served_log = served_log
        self._views: dict[str, _ServedView] = {}
        for view in views:
            if view.name in self._views:
                raise DefinitionError(f"FeatureReader: two views are named {view.name!r}")
            self._views[view.name] = _ServedView(view.fingerprint(), build_view(view))

    @property
    def view_names(self) -> tuple[str, ...]:
        return tuple(self._views)

    def get(self, view_name: str, entity: str, *, at: int | None = None) -> FeatureValues:
        """The features of ``entity`` as of ``at`` (default: the clock's now)."""
        served = self._served(view_name)
        t = at if at is not None else self._clock.now_ms()
        (row,) = self._store.get_raw(view_name, served.fingerprint, (entity,), at=t)
        answer = self._values(view_name, served.op, entity, row, t, at is not None)
        if self.served_log is not None:
            self.served_log.record((answer,))
        return answer

    def get_many(self, view_name: str, entities: Sequence[str], *, at: int | None = None) -> list[FeatureValues]:
        """The features of each of ``entities``, in order, from one store round trip."""
        served = self._served(view_name)
        explicit = at is not None
        t = at if at is not None else self._clock.now_ms()
        rows = self._store.get_raw(view_name, served.fingerprint, entities, at=t)
        answers = [self._values(view_name, served.op, entity, row, t, explicit) for entity, row in zip(entities, rows)]
        if self.served_log is not None:
            self.served_log.record(answers)
        return answers

    def _served(self, view_name: str) -> _ServedView:
        served = self._views.get(view_name)
        if served is None:
            known = ", ".join(sorted(self._views)) or "none"
            raise UnknownViewError(f"unknown feature view {view_name!r}; this reader serves: {known}")
        return served

    @staticmethod
    def _values(
        view_name: str, op: ViewOperator, entity: str, row: StoredEntity | None, t: int, explicit: bool
    ) -> FeatureValues:
        if row is None:
            return FeatureValues(view=view_name, entity=entity, values=op.read(None, t), event_time=None, as_of=t)
        cached = row.cached
        if cached is not None and cached.covers(t):
            event_time = None if row.event_time == NEG_INF else row.event_time
            return FeatureValues(view_name, entity, orjson.loads(cached.values), event_time, t)
        if not row.state_is_current and cached is not None:
            # A values-only write's span has ended before the writer wrote the state (it
            # does so before the span ends while it runs: it is down or far behind).
            # The newest exact answer is the cached values, as of their span's last instant.
            last = cached.valid_until - 1
            if explicit:
                raise ReadTimeError(
                    f"view {view_name!r}, entity {entity!r}: cannot read as of {t} yet: the online store holds "
                    f"version {row.version} exactly only up to {last} until the writer stores its state "
                    f"(it holds the state of version {row.state_version}); is the streaming job running?"
                )
            event_time = None if row.event_time == NEG_INF else row.event_time
            return FeatureValues(view_name, entity, orjson.loads(cached.values), event_time, last)
        if row.state is None:
            raise StateError(f"the online store sent entity {entity!r} of view {view_name!r} without its state")
        try:
            state = op.from_bytes(row.state)
        except StateFormatError as exc:
            raise StateError(f"stored state of entity {entity!r} in view {view_name!r} cannot be read: {exc}") from exc
        if t < state.now:
            if explicit:
                raise ReadTimeError(
                    f"view {view_name!r}, entity {entity!r}: cannot read as of {t}, before the entity's newest "
                    f"applied arrival {state.now}; the online store answers for that time or later "
                    "(earlier values are what backfill computes)"
                )
            t = state.now
        event_time = None if state.frontier == NEG_INF else state.frontier
        return FeatureValues(view=view_name, entity=entity, values=op.read(state, t), event_time=event_time, as_of=t)
