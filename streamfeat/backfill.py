"""Backfill: replay history through the same operators, for training sets and bootstraps.

**Point-in-time training sets.** :func:`get_training_set` takes a *spine* — rows of
``(entity, timestamp[, label, ...])`` — and a :mod:`history <streamfeat.history>` of the
views' source, and returns the spine with one column per feature: the value the online
store would have returned for that entity at that time (``docs/semantics.md``). It
replays the history in arrival order through the compiled operators — the same
:meth:`~operators.view.ViewOperator.apply_batch` the live runtime runs, with the same
lateness decisions — and answers each spine row ``(e, t)`` with
``ViewOperator.read(state, t)`` — the function the online reader calls — on ``e``'s
state at the moment every event of ``e`` that arrived at or before ``t`` has been applied
and none after. That moment is found per entity while replaying: just before the first
event of ``e`` whose arrival is after ``t``, or at the end of the history.

Spine rows may come in any order, repeat entities and times, fall before an entity's
first event (the aggregation's empty value, as for an entity never seen) or after its
last. Memory is bounded: entity state lives in a :class:`~streamfeat.state.EntityStateCache`
over a temporary RocksDB store (``cache_entities`` resident per view), as in the runtime.
On the native core, the states live in the core itself instead
(``operators._native.ReplayJoin``, :class:`_NativeViewJoin`): the same rules, with no
Python object per event or entity lookup, and the least recently used states spilled to
the same kind of store.

**Bootstrapping a view** for live serving: :func:`bootstrap_from_kafka` runs the
streaming pipeline itself (:class:`~streamfeat.pipeline.FeaturePipeline`) over a topic
up to a stop point, writing state and next offsets to the runtime's state directory
and values to the online store; ``streamfeat run`` then continues from exactly the next
offsets.
"""

from __future__ import annotations

import tempfile
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

from operators.native import NativeViewOperator
from operators.view import EntityState, ViewOperator, gc_paused
from streamfeat.build import build_view
from streamfeat.collector import BatchCollector
from streamfeat.definitions import FeatureView, Source
from streamfeat.errors import DefinitionError, HistoryError, StreamfeatError
from streamfeat.history import ArrowRecords, History, HistoryBatch
from streamfeat.ingest import DeadLetter
from streamfeat.memory import CacheBudget, parse_size
from streamfeat.pipeline import LateRecord, RejectSink
from streamfeat.progress import Progress
from streamfeat.state import EntityStateCache, RocksDBStateStore
from streamfeat.state.keys import state_key, view_prefix

if TYPE_CHECKING:
    import pandas

__all__ = [
    "BackfillReport",
    "BootstrapReport",
    "PointInTimeRequest",
    "Spine",
    "bootstrap_from_kafka",
    "get_training_set",
    "point_in_time",
    "read_spine",
    "to_utc_ms",
    "write_training_set",
]


# -- spines ------------------------------------------------------------------------------


def to_utc_ms(values: Sequence[Any], *, column: str = "timestamp") -> list[int]:
    """Timestamps as UTC integer milliseconds: integers pass through; ISO-8601 strings,
    ``datetime`` and pandas/numpy datetimes are converted (naive ones are taken as UTC)."""
    from datetime import datetime, timezone

    out: list[int] = []
    for i, value in enumerate(values):
        if type(value) is int:
            out.append(value)
            continue
        if isinstance(value, bool) or value is None:
            raise HistoryError(f"spine column {column!r}, row {i}: expected a timestamp, got {value!r}")
        if hasattr(value, "to_pydatetime"):  # pandas Timestamp
            value = value.to_pydatetime()
        elif type(value).__name__ == "datetime64":  # numpy: .item() could give nanoseconds
            out.append(int(value.astype("datetime64[ms]").astype("int64")))
            continue
        elif hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalar
            value = value.item()
            if type(value) is int:
                out.append(value)
                continue
        if isinstance(value, float) and value.is_integer():
            out.append(int(value))
            continue
        if isinstance(value, str):
            text = value.strip()
            if text.lstrip("-").isdigit():
                out.append(int(text))
                continue
            try:
                value = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError as exc:
                raise HistoryError(
                    f"spine column {column!r}, row {i}: {value!r} is neither UTC milliseconds nor ISO-8601"
                ) from exc
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=timezone.utc)
            delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
            out.append((delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000)
            continue
        raise HistoryError(f"spine column {column!r}, row {i}: cannot read {value!r} as a timestamp")
    return out


@dataclass(frozen=True)
class Spine:
    """Rows to compute features for: ``keys[i]`` at ``times[i]`` (UTC ms), plus any other
    columns (labels, ids), carried through to the training set unchanged."""

    keys: list[str]
    times: list[int]
    extra: dict[str, list[Any]] = field(default_factory=dict)
    entity_column: str = "entity"
    time_column: str = "ts"
    #: the DataFrame the rows came from, if any: its other columns reach the training set
    #: as they are (dtypes kept, no pass over a million Python objects)
    frame: pandas.DataFrame | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.keys) != len(self.times):
            raise HistoryError(f"spine has {len(self.keys)} keys but {len(self.times)} times")
        for name, column in self.extra.items():
            if len(column) != len(self.keys):
                raise HistoryError(f"spine column {name!r} has {len(column)} values for {len(self.keys)} rows")

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def from_frame(cls, frame: pandas.DataFrame, *, entity_column: str, time_column: str) -> Spine:
        """A spine from a pandas DataFrame (every other column is carried through)."""
        for name in (entity_column, time_column):
            if name not in frame.columns:
                raise HistoryError(
                    f"the spine has no column {name!r}; it has {list(frame.columns)} "
                    "(choose with entity_column= / time_column=)"
                )
        import pandas as pd

        key_column, time_values = frame[entity_column], frame[time_column]
        if key_column.isna().any():
            raise HistoryError(f"spine column {entity_column!r} has empty entity keys")
        keys = key_column.tolist()
        if not isinstance(key_column.dtype, pd.StringDtype):  # a string dtype holds str already
            keys = [str(k) for k in keys]
        if pd.api.types.is_integer_dtype(time_values.dtype) and not time_values.isna().any():
            times = time_values.tolist()  # UTC ms already (a nullable dtype without nulls: ints too)
        else:
            times = to_utc_ms(time_values.tolist(), column=time_column)
        extra = {str(c): frame[c].tolist() for c in frame.columns if c not in (entity_column, time_column)}
        return cls(keys, times, extra, entity_column, time_column, frame)


def read_spine(path: str | Path, *, entity_column: str, time_column: str) -> Spine:
    """A spine from a CSV or Parquet file (by extension)."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise HistoryError("reading a spine file needs pandas: python3 -m pip install 'streamfeat[backfill]'") from exc
    path = Path(path)
    if not path.is_file():
        raise HistoryError(f"spine file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = pd.read_csv(path, dtype={entity_column: str})
    elif suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    else:
        raise HistoryError(f"spine file {str(path)!r}: use .csv or .parquet")
    return Spine.from_frame(frame, entity_column=entity_column, time_column=time_column)


# -- the point-in-time join --------------------------------------------------------------

#: Records per replay batch. Larger batches group more of a busy entity's events while its
#: state is in cache and pay the per-batch work less often: the example view over 20M W1
#: events from Parquet replayed in 14.1 s at 500,000 (two runs) against 17.4-18.3 s at
#: 50,000, 15.3-15.5 s at 200,000 and 15.35 s at 1,000,000 (stop 23).
REPLAY_BATCH_SIZE = 500_000


@dataclass(frozen=True)
class PointInTimeRequest:
    """Feature values of ``view`` for entity ``keys[i]`` as of ``times[i]``.

    ``features``: the feature names wanted (default: all of the view's), in output order.
    """

    view: FeatureView
    keys: Sequence[str]
    times: Sequence[int]
    features: Sequence[str] | None = None


@dataclass(slots=True)
class BackfillReport:
    """What a replay read and decided."""

    records: int = 0
    accepted: dict[str, int] = field(default_factory=dict)  # per view
    late: dict[str, int] = field(default_factory=dict)  # per view
    dead_letters: dict[str, int] = field(default_factory=dict)  # per reason
    rows: int = 0  # spine rows answered
    seconds: float = 0.0

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        dead = sum(self.dead_letters.values())
        accepted = ", ".join(f"{v} {n:,}" for v, n in self.accepted.items()) or "none"
        late = sum(self.late.values())
        return (
            f"{self.records:,} records in {self.seconds:.1f} s ({self.records_per_s:,.0f}/s); accepted: {accepted}; "
            f"{late:,} late; {dead:,} dead letter{'s' if dead != 1 else ''}"
            + (f" ({', '.join(f'{k} {v:,}' for k, v in self.dead_letters.items())})" if dead else "")
            + f"; {self.rows:,} rows answered"
        )


def _checked_features(request: PointInTimeRequest, op: ViewOperator) -> list[str]:
    """The features ``request`` wants (default: every one of its view's), once the names
    and the rows are checked: one time per key, each an integer (UTC ms)."""
    view = request.view
    names = list(op.names)
    wanted = list(request.features) if request.features is not None else names
    unknown = [f for f in wanted if f not in names]
    if unknown:
        raise DefinitionError(f"view {view.name!r} has no feature(s) {unknown}; it has {names}")
    if len(request.times) != len(request.keys):
        raise HistoryError(f"view {view.name!r}: {len(request.keys)} keys but {len(request.times)} times")
    for row, t in enumerate(request.times):
        if type(t) is not int:
            raise HistoryError(f"view {view.name!r}, row {row}: time {t!r} is not integer UTC ms")
    return wanted


class _ViewJoin:
    """Replays one view's events and answers its spine rows at the right moments."""

    def __init__(self, request: PointInTimeRequest, cache: EntityStateCache, op: ViewOperator) -> None:
        self.view = request.view
        self.op = op
        self.cache = cache
        self.features = _checked_features(request, op)
        size = len(request.keys)
        self.columns: dict[str, list[Any]] = {name: [None] * size for name in self.features}
        self.answered = 0
        self.too_far_ahead: list[int] = []  # positions in the current batch (dead letters)
        # entity -> its rows (time, row), latest first, so the next one to answer is last
        pending: dict[str, list[tuple[int, int]]] = {}
        for row, key, t in zip(count(), request.keys, request.times):
            pending.setdefault(key, []).append((t, row))
        for rows in pending.values():
            rows.sort(reverse=True)
        self.pending = pending
        self.next_time = {key: rows[-1][0] for key, rows in pending.items()}

    def apply(self, batch: HistoryBatch, keys: list[str], topic: str) -> tuple[int, list[LateRecord]]:
        """Apply one batch, answering rows as their moment passes; returns (accepted, late).

        On the native core, one ``apply_batch_join`` call applies the batch and answers
        the rows due in it (taking them from ``pending``), each on its entity's state just
        before the event that triggers it. On the Python operators, entities being
        independent, only the events of entities with rows due in this batch are cut where
        those rows are answered; every other entity's events go through one
        ``apply_batch`` call (one run per entity and feature)."""
        decoded = batch.decoded
        arrivals = decoded.arrivals
        self.too_far_ahead = []
        event_times = decoded.event_times
        columns = self.op.columns_for(decoded.columns)
        cache = self.cache
        late: list[int] = []
        join = getattr(self.op, "apply_batch_join", None)
        triggers = [] if join is not None or not self.next_time else self._triggers(keys, arrivals)
        if join is None:  # the Python paths read states through the cache's mapping methods
            cache.prefetch(keys)
        if join is not None:  # the native core: the whole batch, rows answered on the way
            states = cache.checkout(keys)
            result, joined = join(states, keys, event_times, arrivals, columns, self.pending)
            cache.checkin(states)
            accepted = result.accepted
            late = result.late
            self.too_far_ahead = result.too_far_ahead
            wanted = [(i, self.columns[name]) for i, name in enumerate(self.op.names) if name in self.columns]
            for row, values in joined:
                for i, column in wanted:
                    column[row] = values[i]
            self.answered += len(joined)
        elif not triggers:
            accepted = self._apply(keys, event_times, arrivals, columns, range(len(keys)), late)
        else:
            cuts: dict[str, list[tuple[int, list[tuple[int, int]]]]] = {}
            for position, key, rows in triggers:
                cuts.setdefault(key, []).append((position, rows))
            rest = []
            cut_events: dict[str, list[int]] = {key: [] for key in cuts}
            for i, key in enumerate(keys):
                events = cut_events.get(key)
                if events is None:
                    rest.append(i)
                else:
                    events.append(i)
            accepted = self._apply(keys, event_times, arrivals, columns, rest, late)
            for key, entity_cuts in cuts.items():
                events = cut_events[key]
                start = 0
                for position, rows in entity_cuts:
                    stop = start
                    while stop < len(events) and events[stop] < position:
                        stop += 1
                    if stop > start:
                        accepted += self._apply(keys, event_times, arrivals, columns, events[start:stop], late)
                        start = stop
                    state = cache.peek(key)
                    if state is None:
                        state = cache.get(key)
                    self._answer(key, state, rows)
                if start < len(events):
                    accepted += self._apply(keys, event_times, arrivals, columns, events[start:], late)
            late.sort()
            self.too_far_ahead.sort()
        if cache.resident_count > cache.capacity:
            # spill: write back and drop the least recently used down to 90 % of the budget; only
            # those are encoded (the scratch store needs no consistent position), not every
            # entity touched since the last spill
            cache.spill(cache.capacity * 9 // 10)
        late_records = [
            LateRecord(self.view.name, keys[i], event_times[i], arrivals[i], topic, batch.partition, batch.offsets[i])
            for i in late
        ]
        return accepted, late_records

    def _triggers(self, keys: Sequence[str], arrivals: Sequence[int]) -> list[tuple[int, str, list[tuple[int, int]]]]:
        """Positions where an event arrives after some of its entity's pending rows: those
        rows are answered on the state just before it. (The raw arrival is enough: an
        effective arrival above ``t`` with a raw one at or below it means an earlier event
        already arrived after ``t`` and answered those rows.)"""
        next_time = self.next_time
        get = next_time.get
        pending = self.pending
        found = []
        for i, key, arrival in zip(count(), keys, arrivals):
            t = get(key)
            if t is not None and arrival > t:
                rows_left = pending[key]
                due = []
                while rows_left and rows_left[-1][0] < arrival:
                    due.append(rows_left.pop())
                if rows_left:
                    next_time[key] = rows_left[-1][0]
                else:
                    del next_time[key]
                    del pending[key]
                found.append((i, key, due))
        return found

    def _apply(
        self,
        keys: Sequence[str],
        event_times: Sequence[int],
        arrivals: Sequence[int],
        columns: Sequence[Sequence[Any] | None],
        positions: Sequence[int],
        late: list[int],
    ) -> int:
        """Apply the batch's events at ``positions`` (increasing); positions of late and
        too-far-ahead events go to ``late`` and ``self.too_far_ahead``."""
        if not positions:
            return 0
        if len(positions) == len(keys):  # all of them
            result = self.op.apply_batch(self.cache, keys, event_times, arrivals, columns)
            late.extend(result.late)
            self.too_far_ahead.extend(result.too_far_ahead)
            return result.accepted
        result = self.op.apply_batch(
            self.cache,
            [keys[i] for i in positions],
            [event_times[i] for i in positions],
            [arrivals[i] for i in positions],
            [None if c is None else [c[i] for i in positions] for c in columns],
        )
        late.extend(positions[i] for i in result.late)
        self.too_far_ahead.extend(positions[i] for i in result.too_far_ahead)
        return result.accepted

    def _answer(self, key: str, state: EntityState | None, rows: Sequence[tuple[int, int]]) -> None:
        read = self.op.read
        columns = self.columns
        features = self.features
        for t, row in rows:
            if state is not None and t < state.now:
                raise StreamfeatError(  # cannot happen: rows are answered before later arrivals
                    f"internal error: view {self.view.name!r}, entity {key!r}: row at {t} answered after arrival {state.now}"
                )
            values = read(state, t)
            for name in features:
                columns[name][row] = values[name]
        self.answered += len(rows)

    def finish(self, arrays: bool = False) -> None:
        """Answer every row still pending: its entity received nothing after it. ``arrays``:
        see :meth:`_NativeViewJoin.finish` (this path keeps lists)."""
        cache = self.cache
        for key, rows in self.pending.items():
            state = cache.peek(key)
            if state is None:
                state = cache.get(key)
            self._answer(key, state, rows)
        self.pending = {}
        self.next_time = {}


class _NativeViewJoin:
    """:class:`_ViewJoin` on the native core, with the entity states held in it.

    An ``operators._native.ReplayJoin`` interns each entity key once, applies a batch entity
    by entity to the states it holds and answers spine rows as their moment passes (the
    rule of ``apply_batch_join``); clean Parquet batches reach it as Arrow buffers, never
    as Python objects. Memory is bounded as the Python path bounds it: beyond
    ``capacity`` resident entities (which :class:`~streamfeat.memory.CacheBudget` may
    adjust), the least recently used states are encoded into the scratch ``store`` and
    loaded back when a batch names them."""

    def __init__(
        self, request: PointInTimeRequest, op: NativeViewOperator, store: RocksDBStateStore, capacity: int
    ) -> None:
        view = request.view
        self.view = view
        self.op = op
        self.features = _checked_features(request, op)
        self.engine = op.replay_join(list(request.keys), list(request.times))
        self.store = store
        self.prefix = view_prefix(view.fingerprint())
        self.capacity = capacity
        self.columns: dict[str, list[Any]] = {}
        self.answered = 0
        self.too_far_ahead: list[int] = []

    @property
    def resident_count(self) -> int:
        return int(self.engine.resident_count)

    def _load(self, keys: list[str]) -> None:
        blobs = self.store.get_many([state_key(self.prefix, key) for key in keys])
        missing = [key for key, blob in zip(keys, blobs) if blob is None]
        if missing:
            raise StreamfeatError(f"internal error: spilled state of {missing[:3]} is not in the scratch store")
        self.engine.load(keys, blobs)

    def apply(self, batch: HistoryBatch, entity_field: str, topic: str) -> tuple[int, list[LateRecord]]:
        """Apply one batch, answering rows as their moment passes; returns (accepted, late)."""
        arrow = batch.arrow
        own_key = self.view.entity.key == entity_field
        if arrow is not None and own_key:
            spilled = self.engine.intern(ArrowRecords.strings(arrow.keys))
            times, arrivals = ArrowRecords.numbers(arrow.event_times), ArrowRecords.numbers(arrow.arrivals)
            data = {
                name: ArrowRecords.as_buffers(arrow.columns[name])
                for name in {feature.field for feature in self.op.features} - {None}
            }
            columns = self.op.columns_for(data)
        else:
            decoded = batch.decoded
            keys = _entity_keys(batch, self.view, entity_field)
            spilled = self.engine.intern(keys)
            times, arrivals = decoded.event_times, decoded.arrivals
            columns = self.op.columns_for(decoded.columns)
        if spilled:
            self._load(spilled)
        with gc_paused():
            accepted, late, self.too_far_ahead = self.engine.apply(times, arrivals, columns)
        if self.engine.resident_count > self.capacity:
            # as the Python path: write back the least recently used down to 90 % of the budget
            evicted = self.engine.spill(self.capacity * 9 // 10)
            self.store.commit({state_key(self.prefix, key): data for key, data in evicted}, (), {})
        if not late:
            return accepted, []
        if arrow is not None and own_key:  # a few rows: read them off the arrays
            keys, times, arrivals = arrow.keys, arrow.event_times, arrow.arrivals
            return accepted, [
                LateRecord(self.view.name, keys[i].as_py(), times[i].as_py(), arrivals[i].as_py(), topic,
                           batch.partition, batch.offsets[i])
                for i in late
            ]
        keys = _entity_keys(batch, self.view, entity_field)
        decoded = batch.decoded
        return accepted, [
            LateRecord(self.view.name, keys[i], decoded.event_times[i], decoded.arrivals[i], topic, batch.partition,
                       batch.offsets[i])
            for i in late
        ]

    def finish(self, arrays: bool = False) -> None:
        """Answer every row still pending: its entity received nothing after it. Spilled
        entities with rows are loaded back in chunks, answered and dropped. ``arrays``: give
        int and float columns as the NumPy arrays pandas would infer from the lists."""
        self.engine.answer_pending()
        while chunk := self.engine.spilled_with_rows(max(1_000, self.capacity // 10)):
            self._load(chunk)
            self.engine.answer_pending()
            self.engine.drop_answered()
        self.engine.drop_answered()
        indices = [list(self.op.names).index(name) for name in self.features]
        with gc_paused():  # millions of new objects, none of them in a cycle
            self.columns = dict(zip(self.features, self.engine.columns(indices, arrays)))
        self.answered = self.engine.answered[0]
        self.engine.release()  # the replay's memory, freed off this thread


def _entity_keys(batch: HistoryBatch, view: FeatureView, entity_field: str) -> list[str]:
    """The batch's entity keys for ``view`` (whose entity may be another field of the source)."""
    if view.entity.key == entity_field:
        return batch.decoded.keys
    return [str(k) for k in batch.decoded.columns[view.entity.key]]


def point_in_time(
    requests: Sequence[PointInTimeRequest],
    history: History,
    *,
    batch_size: int = REPLAY_BATCH_SIZE,
    cache_entities: int = 200_000,
    work_dir: str | Path | None = None,
    rejects: RejectSink | None = None,
    progress: bool | Progress = False,
    on_batch: Callable[[BackfillReport], None] | None = None,
    memory_limit: int | str | None = None,
    arrays: bool = False,
) -> tuple[list[dict[str, Sequence[Any]]], BackfillReport]:
    """Answer every request by one replay of ``history``; returns, per request, feature
    name -> values in the request's row order, and what the replay did.

    All requests' views must read ``history``'s source. Dead letters (bad records, events
    too far ahead) and late events are counted in the report and written to ``rejects``
    when given — the same classes the runtime sends to its dead-letter and late topics.

    ``memory_limit`` (bytes, or ``"3.5GiB"``): size the entity caches by the process's
    resident memory instead, starting at ``cache_entities`` (:class:`streamfeat.memory.CacheBudget`).

    ``arrays``: a column of ints, or of floats and nulls, may come as the NumPy array pandas
    would infer from it (int64; float64 with NaN for null) instead of a list — what a
    DataFrame is built from without a pass over a million Python objects.
    """
    if not requests:
        raise DefinitionError("point_in_time needs at least one request")
    source = requests[0].view.source
    for request in requests:
        if request.view.source != source:
            raise DefinitionError(
                f"one replay reads one source; views {requests[0].view.name!r} and {request.view.name!r} differ"
            )
    entity_field = requests[0].view.entity.key
    limit = None if memory_limit is None else parse_size(memory_limit, what="memory_limit")
    report = BackfillReport()
    bar = progress if isinstance(progress, Progress) else Progress(history.total(), unit="events", label="backfill", enabled=bool(progress))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="streamfeat-backfill-", dir=work_dir) as scratch:
        # Scratch state, deleted with the directory: nothing to recover after a crash, so no
        # write-ahead log, and no flushes but those of a full memtable.
        with RocksDBStateStore(Path(scratch) / "state", wal=False, flush_interval_s=math.inf) as store:
            joins: list[_ViewJoin | _NativeViewJoin] = []
            for request in requests:
                op = build_view(request.view)
                if isinstance(op, NativeViewOperator):
                    joins.append(_NativeViewJoin(request, op, store, cache_entities))
                else:
                    cache = EntityStateCache(store, op, request.view.fingerprint(), capacity=cache_entities)
                    joins.append(_ViewJoin(request, cache, op))
            for join in joins:
                report.accepted.setdefault(join.view.name, 0)
                report.late.setdefault(join.view.name, 0)
            sized = [join if isinstance(join, _NativeViewJoin) else join.cache for join in joins]
            budget = None if limit is None else CacheBudget(limit, sized)
            collector = BatchCollector()  # full passes over every live state cost more than the work

            def after_batch() -> None:
                collector.after_batch()
                if budget is not None:
                    budget.after_batch()

            try:
                _replay(joins, history, source, entity_field, batch_size, report, rejects, bar, on_batch, started,
                        after_batch)
            finally:
                collector.close()
            for join in joins:
                join.finish(arrays)
                report.rows += join.answered
    report.seconds = time.perf_counter() - started
    bar.close()
    return [join.columns for join in joins], report


def _replay(
    joins: list[_ViewJoin | _NativeViewJoin],
    history: History,
    source: Source,
    entity_field: str,
    batch_size: int,
    report: BackfillReport,
    rejects: RejectSink | None,
    bar: Progress,
    on_batch: Callable[[BackfillReport], None] | None,
    started: float,
    after_batch: Callable[[], None],
) -> None:
    """The replay loop of :func:`point_in_time`: every batch through every view's join."""
    for batch in history.batches(source, entity_field, batch_size):
        report.records += batch.records
        dead = list(batch.dead_letters)
        late_all: list[LateRecord] = []
        too_far: set[int] = set()
        if batch.usable:
            for join in joins:
                if isinstance(join, _NativeViewJoin):
                    accepted, late = join.apply(batch, entity_field, history.topic)
                else:
                    accepted, late = join.apply(batch, _entity_keys(batch, join.view, entity_field), history.topic)
                report.accepted[join.view.name] += accepted
                report.late[join.view.name] += len(late)
                late_all.extend(late)
                too_far.update(join.too_far_ahead)
        dead.extend(_too_far_letters(batch, too_far, source.max_ahead, history.topic))
        for letter in dead:
            report.dead_letters[letter.reason] = report.dead_letters.get(letter.reason, 0) + 1
        if rejects is not None and (dead or late_all):
            rejects.write(dead, late_all)
        report.seconds = time.perf_counter() - started
        bar.update(batch.records)
        if on_batch is not None:
            on_batch(report)
        after_batch()


def _too_far_letters(batch: HistoryBatch, positions: set[int], max_ahead: int, topic: str) -> list[DeadLetter]:
    from streamfeat.ingest import Reason

    if not positions:
        return []
    decoded = batch.decoded
    return [
        DeadLetter(
            Reason.TOO_FAR_AHEAD,
            f"event time {decoded.event_times[i]} is more than {max_ahead} ms after arrival {decoded.arrivals[i]}",
            batch.payload(i),
            topic,
            batch.partition,
            batch.offsets[i],
        )
        for i in sorted(positions)
    ]


# -- training sets -----------------------------------------------------------------------


def _resolve_features(
    views: Sequence[FeatureView], features: Sequence[str] | None
) -> list[tuple[FeatureView, list[str]]]:
    """Which features of which view: names are ``feature`` or ``view:feature``."""
    ops = {view.name: list(build_view(view).names) for view in views}
    if features is None:
        chosen = [(view, ops[view.name]) for view in views]
    else:
        picked: dict[str, list[str]] = {}
        for name in features:
            if ":" in name:
                view_name, feature = name.split(":", 1)
                if view_name not in ops:
                    raise DefinitionError(f"unknown view {view_name!r} in {name!r}; views: {sorted(ops)}")
                if feature not in ops[view_name]:
                    raise DefinitionError(f"view {view_name!r} has no feature {feature!r}; it has {ops[view_name]}")
            else:
                owners = [v for v, names in ops.items() if name in names]
                if not owners:
                    known = sorted(f for names in ops.values() for f in names)
                    raise DefinitionError(f"unknown feature {name!r}; known features: {known}")
                if len(owners) > 1:
                    raise DefinitionError(f"feature {name!r} is in views {owners}; write it as 'view:{name}'")
                view_name, feature = owners[0], name
            picked.setdefault(view_name, []).append(feature)
        chosen = [(view, picked[view.name]) for view in views if view.name in picked]
    seen: dict[str, str] = {}
    for view, names in chosen:
        for name in names:
            if name in seen:
                raise DefinitionError(
                    f"feature {name!r} is in views {seen[name]!r} and {view.name!r}; select one as 'view:{name}'"
                )
            seen[name] = view.name
    return chosen


def get_training_set(
    spine: pandas.DataFrame | Spine | str | Path,
    views: FeatureView | Sequence[FeatureView],
    history: History,
    *,
    features: Sequence[str] | None = None,
    entity_column: str | None = None,
    time_column: str = "ts",
    batch_size: int = REPLAY_BATCH_SIZE,
    cache_entities: int = 200_000,
    work_dir: str | Path | None = None,
    rejects: RejectSink | None = None,
    progress: bool = False,
    memory_limit: int | str | None = None,
) -> pandas.DataFrame:
    """The spine with one column per feature: each value as the online store would have
    served it for that row's entity at that row's time.

    ``spine``: a DataFrame, a :class:`Spine`, or a CSV/Parquet path, with an entity column
    (default: the views' entity key, e.g. ``user_id``) and a time column (default ``ts``;
    UTC ms or ISO-8601). ``features``: names (``count_lifetime`` or
    ``user_txn:count_lifetime``), default every feature of every view. Rows keep their
    order; feature columns follow the spine's. ``memory_limit``: as for :func:`point_in_time`.
    """
    import numpy as np
    import pandas as pd

    view_list = [views] if isinstance(views, FeatureView) else list(views)
    if not view_list:
        raise DefinitionError("get_training_set needs at least one FeatureView")
    entity_column = entity_column or view_list[0].entity.key
    if isinstance(spine, Spine):
        rows = spine
    elif isinstance(spine, (str, Path)):
        rows = read_spine(spine, entity_column=entity_column, time_column=time_column)
    else:
        rows = Spine.from_frame(spine, entity_column=entity_column, time_column=time_column)
    chosen = _resolve_features(view_list, features)
    requests = [PointInTimeRequest(view, rows.keys, rows.times, names) for view, names in chosen]
    results, _report = point_in_time(
        requests,
        history,
        batch_size=batch_size,
        cache_entities=cache_entities,
        work_dir=work_dir,
        rejects=rejects,
        progress=progress,
        memory_limit=memory_limit,
        arrays=True,
    )
    data: dict[str, Any] = {
        rows.entity_column: _key_column(rows),
        rows.time_column: np.asarray(rows.times, dtype=np.int64),
    }
    for name, column in rows.extra.items():
        if name in data:
            continue
        data[name] = column if rows.frame is None else rows.frame[name].reset_index(drop=True)
    for (_view, names), result in zip(chosen, results, strict=True):
        for name in names:
            if name in data:
                raise DefinitionError(f"feature {name!r} has the name of a spine column; rename the column")
            data[name] = result[name]
    return pd.DataFrame(data)


def _key_column(rows: Spine) -> Any:
    """The spine's entity keys for the training set: its own column when that already holds
    strings in a pandas string dtype (what the keys' list would become), else the list."""
    import pandas as pd

    if rows.frame is not None:
        column = rows.frame[rows.entity_column]
        if isinstance(column.dtype, pd.StringDtype):
            return column.reset_index(drop=True)
    return rows.keys


def write_training_set(frame: pandas.DataFrame, path: str | Path) -> Path:
    """Write a training set as Parquet (``.parquet``) or CSV (``.csv``; list values as JSON)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    elif suffix == ".csv":
        import orjson

        out = frame.copy()
        for name in out.columns:
            if out[name].map(lambda v: isinstance(v, (list, tuple))).any():
                out[name] = out[name].map(lambda v: orjson.dumps(v).decode() if isinstance(v, (list, tuple)) else v)
        out.to_csv(path, index=False)
    else:
        raise HistoryError(f"training set output {str(path)!r}: use .parquet or .csv")
    return path


# -- bootstrap for live handover ---------------------------------------------------------


@dataclass(slots=True)
class BootstrapReport:
    records: int = 0
    accepted: int = 0
    late: int = 0
    dead_letters: int = 0
    published: int = 0
    next_offsets: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0


def bootstrap_from_kafka(
    views: Sequence[FeatureView],
    bootstrap: str,
    *,
    state_dir: str | Path,
    online_store: str | None = None,
    until: int | Mapping[int, int] | None = None,
    batch_size: int = 10_000,
    cache_entities: int = 100_000,
    progress: bool = False,
) -> BootstrapReport:
    """Build the views' state and online values from their topic, up to ``until`` (a
    time in UTC ms — records stamped before it —, offsets by partition, or ``None``: the
    end of each partition now), with the streaming pipeline itself.

    State and each partition's next offset are committed together into
    ``STATE_DIR/{topic}-{partition}`` — where ``streamfeat run --state-dir STATE_DIR``
    looks — so the runtime then continues from exactly the next offsets. Running it again
    resumes where it stopped. Dead letters and late events go to the runtime's topics.
    """
    from streamfeat.history import KafkaHistory
    from streamfeat.kafka_io import KafkaRejectSink, ensure_topics, read_range
    from streamfeat.online import open_online_store
    from streamfeat.pipeline import FeaturePipeline
    from streamfeat.state import partition_state_dir

    topics = {view.source.topic for view in views}
    if len(topics) != 1:
        raise DefinitionError(f"one bootstrap reads one topic; these views read {sorted(topics)}")
    topic = topics.pop()
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    span = KafkaHistory(bootstrap, topic, end=until)
    report = BootstrapReport()
    dead_topic, late_topic = f"{topic}.dead-letters", f"{topic}.late"
    ensure_topics(bootstrap, {dead_topic: 1, late_topic: 1})
    rejects = KafkaRejectSink(bootstrap, dead_topic, late_topic)
    started = time.perf_counter()
    partitions = span.partitions
    bar = Progress(span.total(), unit="events", label="bootstrap", enabled=progress)
    with open_online_store(online_store, state_dir) as online:
        for partition in partitions:
            with RocksDBStateStore(partition_state_dir(state_dir, topic, partition)) as state:
                pipeline = FeaturePipeline(
                    views,
                    state_store=state,
                    online_store=online,
                    rejects=rejects,
                    cache_capacity=max(1_000, cache_entities // max(1, len(partitions))),
                )
                start = pipeline.next_offset(topic, partition)
                start = span.starts[partition] if start is None else start
                end = span.ends[partition]
                for batch in read_range(bootstrap, topic, partition, start, end, batch_size):
                    result = pipeline.process(topic, partition, batch.offsets, batch.payloads, batch.timestamps)
                    report.records += result.records - result.skipped
                    report.accepted += sum(result.accepted.values())
                    report.late += len(result.late)
                    report.dead_letters += len(result.dead_letters)
                    report.published += result.published
                    bar.update(len(batch.offsets))
                next_offset = pipeline.next_offset(topic, partition)
                report.next_offsets[partition] = start if next_offset is None else next_offset
    report.seconds = time.perf_counter() - started
    bar.close()
    return report
