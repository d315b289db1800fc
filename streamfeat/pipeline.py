"""The one processing path: raw records of one topic-partition -> features -> stores.

Live streaming (Kafka) and replay (files, topic ranges) both hand batches of raw
records to :meth:`FeaturePipeline.process`, which

1. skips records at offsets already committed (a re-delivery after a crash);
2. decodes and validates them (:mod:`streamfeat.ingest`) — bad ones become dead letters;
3. applies them to every view on the topic through the compiled operators, with
   entity state loaded from the state store (:class:`EntityStateCache`);
4. publishes the touched entities' state to the online store — idempotent, versioned
   by the entity's sequence number, so a replay can never regress a value — with
   their values as of the pipeline's clock and the span those hold for, which
   readers serve without decoding the state (``publish_values``) — packed into one
   buffer by the native core when the store takes that (:mod:`streamfeat.online.packed`),
   in the same call that applied the batch (``apply_publish``);
5. commits every view's state changes together with the next offset in ONE atomic
   state-store write — after every batch, or (``commit_interval_ms``) once that long
   has passed, covering every batch since the last commit. With an interval, commits
   fall on a grid offset by ``commit_phase`` of an interval, so that the partitions of a
   topic commit one after the other rather than together (see :class:`FeaturePipeline`).

Publishing before committing makes a crash at any point safe: before the commit,
the batches since the last one are replayed from its offset and re-publish the same
versions (ignored); after it, the offset has moved. Hence exactly-once in effect.

With a :class:`~streamfeat.online.BackgroundWriter` as the online store (what
``streamfeat run`` uses for the embedded store), step 4 hands the rows to its thread,
and a commit does not wait for them to be written: it also records, in the same atomic
write, the entities whose rows were handed over before it and the writer had not yet
confirmed written (a ``U`` value per view in the state store). A pipeline opened on the store
publishes those entities' committed state again before anything else, so a crash
that lost rows in the writer's hands loses nothing. Waiting instead would idle the
pipeline for the writer at every commit: measured at stop 21, 2M W1 events through the
pipeline alone, 122,901 and 118,699 events/s without the wait, 89,679 and 81,656 with
it. ``commit(final=True)`` (at close) waits, so a clean stop leaves nothing to publish.

An online store is a copy of the committed state that the pipeline keeps current, so it
must first hold every state the state store holds: a pipeline started on a state store
whose states an online store never received (a new online store — a Redis database
flushed or replaced, an embedded file deleted or kept in memory (tmpfs) across a
reboot — or a state store built elsewhere, say by a backfill) publishes every committed
state of each view into it, then writes a marker row there (view :data:`SEEDED_VIEW`,
the view's fingerprint, the state store's :meth:`~streamfeat.state.store.StateStore.identity`).
With the marker found, nothing is republished; a crash before it is written republishes
again (rows are idempotent). Without this an entity that gets no new event would never
reappear in a new online store. What an online store loses while it keeps the marker (a
Redis restored from an older snapshot) this cannot see.

With a commit interval, a large entity state (``large_state_bytes`` when last
encoded) whose published values hold until well after the next commit is published
*values-only* between commits: the online store gets its new version and values and
keeps the older state bytes, and the commit writes the state to both stores. A heavy
entity touched by every batch then costs its encoding and its bytes once per commit
instead of once per batch. Readers never need those state bytes before the values'
span ends (:class:`~streamfeat.online.base.StoredEntity`); a commit comes first,
triggered early if the pipeline's clock nears the end of a deferred span. A crash in
between leaves such rows with an older state until the replay reaches their version
again (stores accept the same version's state, and later values for it, then);
readers meanwhile answer as of the span's end (:class:`~streamfeat.online.FeatureReader`).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, cast

from operators.base import POS_INF
from operators.native import hashed_fields
from operators.view import ViewOperator, gc_paused
from streamfeat.build import build_view
from streamfeat.clock import Clock, SystemClock
from streamfeat.definitions import FeatureView, Source
from streamfeat.errors import (
    DefinitionError,
    OnlineStoreError,
    PublishFailedError,
    RejectSinkError,
    StateError,
    StateStoreError,
    StreamfeatError,
)
from streamfeat.ingest import DeadLetter, Reason, decode_records
from streamfeat.online.base import (
    OnlineStore,
    StoredEntity,
    cache_values,
    make_row,
    make_stored_entity,
)
from streamfeat.online.packed import PackedRows
from streamfeat.state.cache import EntityStateCache, decode_state
from streamfeat.state.store import StateStore

__all__ = ["SEEDED_VIEW", "BatchReport", "FeaturePipeline", "LateRecord", "PipelineError", "RejectSink"]

_T = TypeVar("_T")

SEEDED_VIEW = "streamfeat.seeded"
"""The online store's marker rows (module docstring): not a view name (not an identifier)."""
_SEED_CHUNK = 10_000  # states published at a time when an online store is seeded


class PipelineError(StreamfeatError):
    """A batch could not be published or committed after retries; restart from the store."""


@dataclass(frozen=True, slots=True)
class LateRecord:
    """An event that was late for a view (counted, changed nothing)."""

    view: str
    entity: str
    event_time: int
    arrival: int
    topic: str
    partition: int
    offset: int


class RejectSink(Protocol):
    """Where dead letters and late events go (a file, a Kafka topic). Written before the
    batch's commit, so none is lost in a crash (a replay may write one twice; each
    carries its topic, partition and offset to deduplicate on). A sink that also has a
    ``flush()`` may return from :meth:`write` before the records are durable: the
    pipeline calls ``flush()`` before every commit."""

    def write(self, dead_letters: Sequence[DeadLetter], late: Sequence[LateRecord]) -> None: ...


class _ConfirmingWriter(Protocol):
    """An online store that writes in the background and says how far it got
    (:class:`~streamfeat.online.BackgroundWriter`)."""

    @property
    def submitted(self) -> int: ...

    @property
    def written_through(self) -> int: ...


@dataclass(slots=True)
class BatchReport:
    """What one call of :meth:`FeaturePipeline.process` did."""

    records: int = 0
    skipped: int = 0  # already committed (re-delivered)
    accepted: dict[str, int] = field(default_factory=dict)  # per view
    late: list[LateRecord] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    published: int = 0  # online rows written (newer versions only); to a BackgroundWriter: rows handed over
    next_offset: int | None = None


@dataclass(frozen=True, slots=True)
class _ViewRuntime:
    view: FeatureView
    op: ViewOperator
    cache: EntityStateCache
    fingerprint: str  # view.fingerprint(), computed once (it hashes the definition's repr)
    # Since the last commit: states encoded and unchanged since, by entity, and the
    # entities published values-only, with the end of their values' span.
    encoded: dict[str, bytes] = field(default_factory=dict)
    deferred: dict[str, int] = field(default_factory=dict)
    # Entities whose last full publication by this process was at least large_state_bytes.
    large: set[str] = field(default_factory=set)
    # Rows handed to a background writer and not known written: (its write count then, entities).
    handed: list[tuple[int, list[str]]] = field(default_factory=list)
    # The tickets of the batches listed unconfirmed in the state store by the last commit.
    marked: list[int] = field(default_factory=list)


class FeaturePipeline:
    """Applies raw records to feature state and publishes it; see the module docstring.

    ``publish_values``: also publish each touched entity's values as of ``clock`` (one
    read of its features, a few µs per entity and batch) so that serving answers from
    them while they hold; turn off to publish state only.

    ``commit_interval_ms``: 0 commits state and offsets after every batch; more commits
    once per interval (``monotonic``), at the first batch or :meth:`commit_if_due` after
    it is due (a crash replays the batches since). Call :meth:`commit` before closing.
    ``commit_phase`` (a fraction of the interval, in [0, 1)): commits fall due at
    ``k + commit_phase`` intervals after the pipeline started, at least half an interval
    after the last commit. Pipelines started together — the partitions of a flow — would
    otherwise commit together, each commit holding up the others (a commit's RocksDB write
    holds the GIL) at the same moment of every interval: measured at stop 51, the four
    partitions of a 2-worker flow committed within 350 ms of each other every 1.07 s.
    ``large_state_bytes``: with an interval, states at least this large are published
    values-only between commits (module docstring).
    """

    def __init__(
        self,
        views: Sequence[FeatureView],
        *,
        state_store: StateStore,
        online_store: OnlineStore | None = None,
        cache_capacity: int = 100_000,
        arrival_field: str | None = None,
        rejects: RejectSink | None = None,
        retry_for_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        allow_new_views: bool = False,
        publish_values: bool = True,
        clock: Clock | None = None,
        commit_interval_ms: int = 0,
        large_state_bytes: int = 16_384,
        monotonic: Callable[[], float] = time.monotonic,
        commit_phase: float = 0.0,
    ) -> None:
        if not views:
            raise DefinitionError("a pipeline needs at least one FeatureView")
        if isinstance(commit_interval_ms, bool) or not isinstance(commit_interval_ms, int) or commit_interval_ms < 0:
            raise DefinitionError(f"commit_interval_ms must be an int >= 0, got {commit_interval_ms!r}")
        if isinstance(large_state_bytes, bool) or not isinstance(large_state_bytes, int) or large_state_bytes < 1:
            raise DefinitionError(f"large_state_bytes must be an int >= 1, got {large_state_bytes!r}")
        if isinstance(commit_phase, bool) or not isinstance(commit_phase, (int, float)) or not 0 <= commit_phase < 1:
            raise DefinitionError(f"commit_phase must be a number in [0, 1), got {commit_phase!r}")
        self.commit_interval_ms = commit_interval_ms
        self.large_state_bytes = large_state_bytes
        self._monotonic = monotonic
        # The interval commits' grid (monotonic seconds): the first is due at `_commit_due`,
        # each next one at the first point of the grid half an interval or more after a commit.
        interval_s = commit_interval_ms / 1000
        self._commit_grid = monotonic() + commit_phase * interval_s
        self._commit_due = self._commit_grid + (interval_s if not commit_phase else 0.0)
        self._uncommitted: dict[tuple[str, int], int] = {}  # next offsets processed, not yet committed
        self._committed: dict[tuple[str, int], int] = {}  # next offsets committed by this pipeline
        self._deadline = POS_INF  # commit before the clock reaches this (a deferred span's end)
        self.state_store = state_store
        self.online_store = online_store
        # A writer that confirms rows asynchronously (BackgroundWriter): commits don't wait for it.
        self._tracker = cast(_ConfirmingWriter, online_store) if hasattr(online_store, "written_through") else None
        # A store that takes a batch's rows packed by the native core (streamfeat.online.packed).
        self._packs_rows = bool(getattr(online_store, "accepts_packed_rows", False))
        self.retry_for_s = retry_for_s
        self.arrival_field = arrival_field
        self.rejects = rejects
        self._sleep = sleep
        self.publish_values = publish_values
        self._clock: Clock = SystemClock() if clock is None else clock
        self._sources: dict[str, Source] = {}
        self._views: dict[str, list[_ViewRuntime]] = {}
        names = [v.name for v in views]
        if len(set(names)) != len(names):
            raise DefinitionError(f"view names must be unique, got {names}")
        for view in views:
            topic = view.source.topic
            known = self._sources.setdefault(topic, view.source)
            if known != view.source:
                raise DefinitionError(
                    f"views on topic {topic!r} must share one Source definition "
                    f"({known.name!r} and {view.source.name!r} differ)"
                )
            op = build_view(view)
            fingerprint = view.fingerprint()
            cache = EntityStateCache(state_store, op, fingerprint, capacity=cache_capacity)
            self._views.setdefault(topic, []).append(_ViewRuntime(view, op, cache, fingerprint))
        # Per topic, the fields only native distinct counts read: decoded as hashes (no str
        # per value) when the native core applies and publishes each batch in one call.
        self._hashed: dict[str, frozenset[str]] = {
            topic: hashed_fields([r.op for r in runtimes], [r.view.entity.key for r in runtimes])
            if self._packs_rows
            else frozenset()
            for topic, runtimes in self._views.items()
        }
        self._check_views(allow_new_views)
        self._publish_unconfirmed()
        #: view name -> states republished at start because the online store lacked them
        self.seeded: dict[str, int] = self._seed_online_store()

    def _check_views(self, allow_new: bool) -> None:
        """Refuse to continue a state store for a view that has no state in it although the
        store has already consumed part of its topic — a new view, or one whose definition
        changed (a new fingerprint). It would silently count only later events. Views are
        then registered, so an entity-less view that ran before is recognised too."""
        from streamfeat.state import keys as layout

        offsets = self.state_store.offsets()
        registered = self.state_store.views()
        problems = []
        for topic, runtimes in self._views.items():
            consumed = {partition: offset for (t, partition), offset in offsets.items() if t == topic and offset}
            if not consumed or allow_new:
                continue
            for runtime in runtimes:
                fingerprint = runtime.view.fingerprint()
                if fingerprint in registered:
                    continue
                if next(self.state_store.scan(layout.view_prefix(fingerprint)), None) is not None:
                    continue  # state written before views were registered
                problems.append(f"{runtime.view.name!r} (fingerprint {fingerprint})")
        if problems:
            held = ", ".join(f"{name!r} ({fp})" for fp, name in sorted(registered.items())) or "none registered"
            topics = ", ".join(self._views)
            raise StateError(
                f"view(s) {', '.join(problems)} have no state in this state store, which has already consumed "
                f"{topics} up to offsets {offsets}: new, or their definition changed since (the store holds views: "
                f"{held}). Started here they would count only events after those offsets. Build their state with "
                "`streamfeat backfill FEATURES.py --bootstrap-servers ... --state-dir NEW_DIR` and run from NEW_DIR "
                "(see docs/operations.md, upgrades), or start them empty on purpose with --allow-new-views."
            )
        self.state_store.register_views(
            {r.view.fingerprint(): r.view.name for runtimes in self._views.values() for r in runtimes}
        )

    def _publish_unconfirmed(self) -> None:
        """Publish again the committed state of every entity whose online row a previous
        run handed to its writer and had not seen written when it committed (the ``U``
        values; module docstring), wait until it is written, then forget those lists."""
        from streamfeat.state import keys as layout

        marks: list[bytes] = []
        for runtime in self._runtimes():
            mark = layout.unconfirmed_key(runtime.fingerprint)
            (listed,) = self.state_store.get_many([mark])
            if listed is None:
                continue
            marks.append(mark)
            try:
                entities = layout.decode_unconfirmed(listed)
            except StateError as exc:
                raise StateError(f"the state store's list of unconfirmed entities of view {runtime.view.name!r} "
                                 f"is {exc}") from exc
            if self.online_store is not None:
                for start in range(0, len(entities), 10_000):
                    rows = self._committed_rows(runtime, entities[start : start + 10_000])
                    publish = functools.partial(self._publish_rows, [runtime], [rows])
                    self._with_retries(publish, "publish to the online store")
        if marks:
            self._with_retries(self._flush_online, "publish to the online store")
            self._with_retries(lambda: self.state_store.commit({}, marks, {}), "commit state")
        for runtime in self._runtimes():
            runtime.handed.clear()

    def _seed_online_store(self) -> dict[str, int]:
        """Publish every committed state of each view whose marker the online store lacks,
        then write the markers (module docstring); how many states went out, by view."""
        from streamfeat.state import keys as layout

        store = self.online_store
        if store is None:
            return {}
        identity = self.state_store.identity()
        unseeded = [
            runtime for runtime in self._runtimes()
            if self._retrying(lambda r=runtime: store.get_raw(SEEDED_VIEW, r.fingerprint, [identity]),
                              "read the online store")[0] is None
        ]  # fmt: skip
        seeded: dict[str, int] = {}
        for runtime in unseeded:
            prefix, op = layout.view_prefix(runtime.fingerprint), runtime.op
            at = self._clock.now_ms() if self.publish_values else None
            count = 0
            rows: dict[str, StoredEntity] = {}
            for key, data in self.state_store.scan(prefix):
                entity = layout.decode_state_key(prefix, key)
                rows[entity] = StoredEntity.of(op, decode_state(op, entity, data), at=at)
                if len(rows) == _SEED_CHUNK:
                    count += self._publish_seed(runtime, rows)
                    rows = {}
            count += self._publish_seed(runtime, rows) if rows else 0
            seeded[runtime.view.name] = count
        if unseeded:
            self._with_retries(self._flush_online, "publish to the online store")  # the states before the markers
            for runtime in unseeded:
                marker = {identity: make_stored_entity(b"\x01", 1, 0)}
                self._with_retries(functools.partial(store.write, SEEDED_VIEW, runtime.fingerprint, marker),
                                   "publish to the online store")  # fmt: skip
            self._with_retries(self._flush_online, "publish to the online store")
        for runtime in self._runtimes():
            runtime.handed.clear()  # all written
        return seeded

    def _publish_seed(self, runtime: _ViewRuntime, rows: dict[str, StoredEntity]) -> int:
        self._with_retries(functools.partial(self._publish_rows, [runtime], [rows]), "publish to the online store")
        return len(rows)

    def _committed_rows(self, runtime: _ViewRuntime, entities: list[str]) -> dict[str, StoredEntity]:
        """Online rows of ``entities``' committed states (those that have one)."""
        from streamfeat.state import keys as layout

        prefix, op = layout.view_prefix(runtime.fingerprint), runtime.op
        at = self._clock.now_ms() if self.publish_values else None
        found = self.state_store.get_many([layout.state_key(prefix, entity) for entity in entities])
        return {
            entity: StoredEntity.of(op, decode_state(op, entity, data), at=at)
            for entity, data in zip(entities, found, strict=True)
            if data is not None
        }

    @property
    def topics(self) -> list[str]:
        return list(self._views)

    def next_offset(self, topic: str, partition: int) -> int | None:
        """The first offset of ``topic``/``partition`` not yet committed, if any was."""
        return self.state_store.offsets().get((topic, partition))

    def reset(self) -> None:
        """Forget in-memory state (after a failed commit): it reloads from the store, and
        processing resumes from the committed offsets."""
        for runtimes in self._views.values():
            for runtime in runtimes:
                runtime.cache.clear_memory()
                runtime.encoded.clear()
                runtime.deferred.clear()
                runtime.large.clear()
        self._uncommitted.clear()
        self._deadline = POS_INF

    @property
    def uncommitted(self) -> dict[tuple[str, int], int]:
        """Next offsets processed but not yet committed, by (topic, partition)."""
        return dict(self._uncommitted)

    def committed_offset(self, topic: str, partition: int) -> int | None:
        """The next offset of ``topic``/``partition`` committed, without reading the store
        when this pipeline committed it."""
        known = self._committed.get((topic, partition))
        return known if known is not None else self.next_offset(topic, partition)

    def commit_if_due(self) -> bool:
        """Commit if the commit interval has passed or a deferred span nears its end
        (call it while no records arrive); returns whether it committed."""
        if self._uncommitted and (self._interval_passed() or self._clock.now_ms() >= self._deadline):
            self.commit()
            return True
        return False

    def commit(self, *, final: bool = False) -> None:
        """Write every state changed since the last commit to both stores, with the
        offsets processed, now (before closing, and when a partition is given up).
        ``final``: also wait until a background writer has written every row handed to
        it, so that the next run has nothing to publish again (at close)."""
        if not self._uncommitted:
            if final and any(runtime.marked for runtime in self._runtimes()):
                self._with_retries(self._flush_online, "publish to the online store")
                self._with_retries(lambda: self._commit(self._runtimes(), {}), "commit state")
            return
        runtimes = self._runtimes()
        flush = self._encode_dirty(runtimes)
        self._with_retries(lambda: self._publish_rows(runtimes, flush), "publish to the online store")
        if final or self._tracker is None:
            self._with_retries(self._flush_online, "publish to the online store")
        flush_rejects = getattr(self.rejects, "flush", None)
        if flush_rejects is not None:
            self._with_retries(flush_rejects, "write dead letters")
        offsets = dict(self._uncommitted)
        self._with_retries(lambda: self._commit(runtimes, offsets), "commit state")
        self._committed.update(offsets)
        for runtime in runtimes:
            runtime.encoded.clear()
            runtime.deferred.clear()
        self._uncommitted.clear()
        self._deadline = POS_INF
        self._commit_due = self._next_commit_due(self._monotonic())

    def _runtimes(self) -> list[_ViewRuntime]:
        return [runtime for group in self._views.values() for runtime in group]

    def _interval_passed(self) -> bool:
        return self._monotonic() >= self._commit_due

    def _next_commit_due(self, now: float) -> float:
        """The first point of the commit grid at least half an interval after ``now``."""
        interval_s = self.commit_interval_ms / 1000
        if not interval_s:
            return now
        return self._commit_grid + math.ceil((now + interval_s / 2 - self._commit_grid) / interval_s) * interval_s

    def process(
        self,
        topic: str,
        partition: int,
        offsets: Sequence[int],
        payloads: Sequence[bytes],
        arrivals: Sequence[int | None],
    ) -> BatchReport:
        """Apply one batch of records of one topic-partition, in offset order.

        ``arrivals[i]`` is the record's arrival time (the Kafka timestamp), or ``None``
        to take it from the source's arrival field / the event time (file replays).
        """
        with gc_paused():  # decoding and loading states allocate many acyclic objects
            return self._process(topic, partition, offsets, payloads, arrivals)

    def _process(
        self,
        topic: str,
        partition: int,
        offsets: Sequence[int],
        payloads: Sequence[bytes],
        arrivals: Sequence[int | None],
    ) -> BatchReport:
        runtimes = self._views.get(topic)
        if runtimes is None:
            raise DefinitionError(f"no feature view reads topic {topic!r}; known topics: {', '.join(self._views)}")
        report = BatchReport(records=len(offsets))
        committed = self._uncommitted.get((topic, partition))
        if committed is None:  # nothing processed since the last commit: what it committed, read once
            committed = self.committed_offset(topic, partition)
        start = 0
        if committed is not None:
            while start < len(offsets) and offsets[start] < committed:
                start += 1
        report.skipped = start
        if start == len(offsets):
            report.next_offset = committed
            return report
        if start:
            offsets, payloads, arrivals = offsets[start:], payloads[start:], arrivals[start:]
        source = self._sources[topic]
        decoded, dead = decode_records(
            source,
            runtimes[0].view.entity.key,
            payloads,
            arrivals,
            topic=topic,
            partition=partition,
            offsets=offsets,
            arrival_field=self.arrival_field,
            hashed=self._hashed[topic],
        )
        report.dead_letters = dead
        too_far: set[int] = set()
        if self._deadline != POS_INF and self._clock.now_ms() >= self._deadline:
            # Deferred spans end soon: their states go out before this batch changes them.
            self.commit()
        batch_keys = []
        # Per view: its rows packed by the native core along with applying (apply_publish), or None.
        packed: list[PackedRows | None] = []
        for runtime in runtimes:
            op, cache = runtime.op, runtime.cache
            keys = decoded.keys
            if runtime.view.entity.key != runtimes[0].view.entity.key:
                keys = [str(k) for k in decoded.columns[runtime.view.entity.key]]
            distinct = dict.fromkeys(keys)
            batch_keys.append(distinct)
            states = cache.checkout(distinct)
            columns = op.columns_for(decoded.columns)
            apply_publish = getattr(op, "apply_publish", None) if self._packs_rows else None
            done = None
            if apply_publish is not None:  # apply, then publish the touched states, in one native call
                at, horizon = self._publish_times()
                done = apply_publish(states, keys, decoded.event_times, decoded.arrivals, columns, at, horizon,
                                     runtime.large, self.large_state_bytes)  # fmt: skip
            if done is None:
                result = op.apply_batch(states, keys, decoded.event_times, decoded.arrivals, columns)
                packed.append(None)
            else:
                result, entities, published = done
                packed.append(self._packed_rows(runtime, entities, published))
            cache.checkin(states)
            report.accepted[runtime.view.name] = result.accepted
            too_far.update(result.too_far_ahead)
            for i in result.late:
                p = decoded.positions[i]
                report.late.append(
                    LateRecord(runtime.view.name, keys[i], decoded.event_times[i], decoded.arrivals[i], topic, partition, offsets[p])
                )
        for i in sorted(too_far):
            p = decoded.positions[i]
            dead.append(
                DeadLetter(
                    Reason.TOO_FAR_AHEAD,
                    f"event time {decoded.event_times[i]} is more than {source.max_ahead} ms after arrival "
                    f"{decoded.arrivals[i]}",
                    bytes(payloads[p]),
                    topic,
                    partition,
                    offsets[p],
                )
            )
        next_offset = offsets[-1] + 1
        rows = [
            self._batch_rows(runtime, keys) if view_rows is None else view_rows
            for runtime, keys, view_rows in zip(runtimes, batch_keys, packed, strict=True)
        ]
        report.published = self._with_retries(lambda: self._publish_rows(runtimes, rows), "publish to the online store")
        if self.rejects is not None and (report.dead_letters or report.late):
            rejects = self.rejects
            self._with_retries(lambda: rejects.write(report.dead_letters, report.late), "write dead letters")
        self._uncommitted[(topic, partition)] = next_offset
        if (
            not self.commit_interval_ms
            or self._interval_passed()
            or sum(runtime.cache.dirty_count for runtime in runtimes) >= self._dirty_limit
        ):
            self.commit()
        report.next_offset = next_offset
        return report

    @property
    def _dirty_limit(self) -> int:
        """Entities changed since the last commit that force a commit (they stay in memory
        until it): the cache capacity of the smallest view cache, at least one batch."""
        return max(1, min(r.cache.capacity for group in self._views.values() for r in group))

    def _batch_rows(self, runtime: _ViewRuntime, keys: dict[str, None]) -> dict[str, StoredEntity] | PackedRows:
        """Online rows for the entities a batch touched: the full row (and its encoding,
        kept for the commit), or values-only for a large state whose values hold until
        well after the next commit (module docstring). Without an online store, nothing:
        the commit encodes what changed."""
        encoded, deferred, large = runtime.encoded, runtime.deferred, runtime.large
        if self.online_store is None:
            for key in keys:
                encoded.pop(key, None)
            return {}
        op = runtime.op
        at, horizon = self._publish_times()
        threshold = self.large_state_bytes
        touched = [item for item in runtime.cache.peek_many(keys) if item[1].seq]
        publish_packed = getattr(op, "publish_packed", None) if self._packs_rows else None
        if publish_packed is not None:
            entities = [key for key, _ in touched]
            flags = [key in large for key in entities] if large else [False] * len(entities)
            published = publish_packed([state for _, state in touched], entities, at, horizon, flags, threshold)
            return self._packed_rows(runtime, entities, published)
        # Per state: (bytes or None for values-only, values JSON or None, valid_from, valid_until).
        published: list[tuple[bytes | None, bytes | None, int, int]]
        publish_batch = getattr(op, "publish_batch", None)
        if publish_batch is not None:  # the native core: bytes and values of every state in one call
            published = publish_batch([state for _, state in touched], at, horizon, [key in large for key, _ in touched])
        else:
            published = []
            for key, state in touched:
                cached = None if at is None else cache_values(op, state, at)
                values_only = horizon is not None and key in large and cached is not None and cached.valid_until > horizon
                data = None if values_only else op.to_bytes(state)
                published.append((data, None, 0, 0) if cached is None else
                                 (data, cached.values, cached.valid_from, cached.valid_until))
        rows = {}
        values_only_keys = []
        for (key, state), (data, values, valid_from, valid_until) in zip(touched, published, strict=True):
            if data is None:  # values-only: a large state whose values hold past the horizon
                assert values is not None
                encoded.pop(key, None)
                deferred[key] = valid_until
                self._deadline = min(self._deadline, valid_until - self.commit_interval_ms)
                rows[key] = make_row(None, state.seq, state.frontier, values, valid_from, valid_until)
                values_only_keys.append(key)
                continue
            encoded[key] = data
            if len(data) >= threshold:
                large.add(key)
            rows[key] = make_row(data, state.seq, state.frontier, values, valid_from, valid_until)
        # Entities published in full: no longer deferred, and large only if their new bytes are.
        full = rows.keys() - values_only_keys if values_only_keys else rows.keys()
        if deferred:
            for key in full & deferred.keys():
                del deferred[key]
        if large:
            large.difference_update([key for key in full & large if len(encoded[key]) < threshold])
        return rows

    def _publish_times(self) -> tuple[int | None, int | None]:
        """``(at, horizon)`` for a batch's rows: the time its values are read as of (``None``
        without ``publish_values``), and after which a large state's values must still hold
        to go out values-only (``None``: never; without a commit interval)."""
        at = self._clock.now_ms() if self.publish_values else None
        interval = self.commit_interval_ms
        return at, None if at is None or not interval else at + 2 * interval

    def _packed_rows(
        self,
        runtime: _ViewRuntime,
        entities: list[str],
        published: tuple[bytes, list[bytes | None], list[tuple[int, int]], list[int]],
    ) -> PackedRows:
        """What :meth:`_batch_rows` keeps of a batch's rows packed by the native core: each
        state's bytes for the commit, which entities went out values-only, which are large."""
        packed, data, values_only, large_at = published
        encoded, deferred, large = runtime.encoded, runtime.deferred, runtime.large
        full: list[str] | set[str] = entities
        if not values_only:
            encoded.update(zip(entities, data))
        else:  # large states whose values hold past the horizon: their bytes go out with the commit
            held = [entities[index] for index, _ in values_only]
            deferred.update(zip(held, [valid_until for _, valid_until in values_only]))
            self._deadline = min(self._deadline, min(until for _, until in values_only) - self.commit_interval_ms)
            encoded.update(zip(entities, data))  # at C speed; then the held ones out again (their data is None)
            for key in held:
                del encoded[key]  # and an encoding from an earlier batch is out of date
            full = set(entities).difference(held)
        if deferred and full:
            for key in deferred.keys() & full:
                del deferred[key]
        if large or large_at:
            large.difference_update(full)
            large.update(entities[index] for index in large_at)
        return PackedRows(packed, entities)

    def _encode_dirty(self, runtimes: list[_ViewRuntime]) -> list[dict[str, StoredEntity] | PackedRows]:
        """Encode every state changed since the last commit that is not encoded yet; the
        full rows of the entities published values-only since then (packed by the native
        core in one call when the store takes packed rows)."""
        at = self._clock.now_ms() if self.publish_values else None
        flush: list[dict[str, StoredEntity] | PackedRows] = []
        for runtime in runtimes:
            encoded, peek, op = runtime.encoded, runtime.cache.peek, runtime.op
            publish_packed = getattr(op, "publish_packed", None) if self._packs_rows and runtime.deferred else None
            if publish_packed is not None:
                held = [(key, state) for key in runtime.deferred if (state := peek(key)) is not None]
                entities, states = [key for key, _ in held], [state for _, state in held]
                no = [False] * len(entities)  # full rows: no horizon, so none goes out values-only
                packed, data, _, _ = publish_packed(states, entities, at, None, no, self.large_state_bytes)
                encoded.update(zip(entities, data))
                flush.append(PackedRows(packed, entities))
            for key in runtime.cache.dirty_keys():
                if key not in encoded:
                    state = peek(key)
                    if state is not None:
                        encoded[key] = op.to_bytes(state)
            if publish_packed is not None:
                continue
            rows = {}
            for key in runtime.deferred:
                state = peek(key)
                if state is not None:
                    cached = None if at is None else cache_values(op, state, at)
                    rows[key] = make_stored_entity(encoded[key], state.seq, state.frontier, cached)
            flush.append(rows)
        return flush

    def _publish_rows(
        self, runtimes: list[_ViewRuntime], rows: Sequence[Mapping[str, StoredEntity] | PackedRows]
    ) -> int:
        if self.online_store is None:
            return 0
        written = 0
        tracker = self._tracker
        for runtime, view_rows in zip(runtimes, rows, strict=True):
            if view_rows:
                written += self.online_store.write(runtime.view.name, runtime.fingerprint, view_rows)
                if tracker is not None:
                    runtime.handed.append((tracker.submitted, list(view_rows)))
        return written

    def _flush_online(self) -> None:
        """Wait until a background writer (:class:`~streamfeat.online.BackgroundWriter`)
        has written every row handed to it: publishing comes before the commit."""
        flush = getattr(self.online_store, "flush", None)
        if flush is not None:
            flush()

    def _commit(self, runtimes: list[_ViewRuntime], offsets: dict[tuple[str, int], int]) -> None:
        """One atomic write: the changed states, the offsets, and which entities' rows
        the background writer has not confirmed yet (module docstring)."""
        from streamfeat.state import keys as layout

        puts: dict[bytes, bytes] = {}
        deletes: list[bytes] = []
        confirmed = None if self._tracker is None else self._tracker.written_through
        waiting: list[list[tuple[int, list[str]]]] = []
        for runtime in runtimes:
            view_puts, view_deletes = runtime.cache.pending_writes(runtime.encoded)
            puts.update(view_puts)
            deletes.extend(view_deletes)
            if confirmed is None:
                continue
            # `handed` is in ticket order, so equal ticket lists mean the same batches are listed.
            unconfirmed = [(ticket, keys) for ticket, keys in runtime.handed if ticket > confirmed]
            tickets = [ticket for ticket, _ in unconfirmed]
            if tickets != runtime.marked:
                mark = layout.unconfirmed_key(runtime.fingerprint)
                if unconfirmed:
                    puts[mark] = layout.encode_unconfirmed([keys for _, keys in unconfirmed])
                else:
                    deletes.append(mark)
            waiting.append(unconfirmed)
        self.state_store.commit(puts, deletes, offsets)
        for runtime in runtimes:
            runtime.cache.mark_flushed()
        if confirmed is not None:
            for runtime, unconfirmed in zip(runtimes, waiting, strict=True):
                runtime.marked[:] = [ticket for ticket, _ in unconfirmed]
                runtime.handed[:] = unconfirmed

    def _with_retries(self, action: Callable[[], int | None], what: str) -> int:
        """:meth:`_retrying` for a count (``None`` counts 0)."""
        return self._retrying(action, what) or 0

    def _retrying(self, action: Callable[[], _T], what: str) -> _T:
        """Run ``action``, retrying store outages with exponential backoff for up to
        ``retry_for_s``; nothing is lost meanwhile (the batch stays applied in memory)."""
        delay = 0.05
        deadline = time.monotonic() + self.retry_for_s
        while True:
            try:
                return action()
            except PublishFailedError as exc:  # the background writer retried already
                raise PipelineError(f"could not {what}: {exc}") from exc
            except (OnlineStoreError, StateStoreError, RejectSinkError) as exc:
                if time.monotonic() + delay > deadline:
                    raise PipelineError(f"could not {what} for {self.retry_for_s:.0f} s: {exc}") from exc
                self._sleep(delay)
                delay = min(delay * 2, 5.0)
