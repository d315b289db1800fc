"""All features of one entity: lateness, arrival clock, and the batch entry point.

:class:`ViewOperator` owns the per-entity decisions of ``docs/semantics.md``:

* an entity's events are processed in arrival order; its clock ``now`` is the
  newest arrival time applied so far (an arrival stamped earlier than ``now`` is
  treated as arriving at ``now``);
* an event is *too far ahead* when its event time exceeds ``now + max_ahead`` — it is
  rejected before it can move the lateness frontier;
* an event is *late* when its event time is older than the entity's newest accepted
  event time minus the allowed lateness — it is counted and changes nothing;
* every other event is *accepted*, numbered (``seq``) and applied to every feature.

The same code runs per event (:meth:`ViewOperator.apply`) and per batch
(:meth:`ViewOperator.apply_batch`); both give bit-identical state.
"""

from __future__ import annotations

import gc
import struct
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import count, repeat
from operator import itemgetter
from typing import Any, Hashable

from operators.base import NEG_INF, POS_INF
from operators.codec import (
    DECODE_ERRORS,
    StateFormatError,
    bad_version,
    check_end,
    corrupt,
    decode_varints,
    encode_length,
    encode_varints,
    read_length,
)
from operators.feature import FeatureOperator, FeatureState

#: 3 (stop 39): now, frontier, seq and the feature count as varints, each feature's blob
#: after a varint length. 2 (still read): the same as big-endian int64s and u32s — a state
#: of the example view was ~30 % framing.
_VERSION = 3
_V = bytes((_VERSION,))
_V2 = b"\x02"
_HEAD_V2 = struct.Struct(">BqqqI")  # version, now, frontier, seq, feature count
_I = struct.Struct(">I")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a batch of allocation-heavy, cycle-free work
    (reference counting still frees everything); restores the previous setting."""
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Outcome(IntEnum):
    ACCEPTED = 0
    LATE = 1
    TOO_FAR_AHEAD = 2


class EntityState:
    """Mutable state of one entity in one view."""

    __slots__ = ("now", "frontier", "seq", "features")

    def __init__(self, features: list[FeatureState]) -> None:
        self.now = NEG_INF  # newest applied arrival time
        self.frontier = NEG_INF  # newest accepted event time
        self.seq = 0  # accepted events so far; the next one gets this number
        self.features = features


@dataclass(slots=True)
class BatchResult:
    """What :meth:`ViewOperator.apply_batch` decided, by position in the batch."""

    accepted: int = 0
    late: list[int] = field(default_factory=list)
    too_far_ahead: list[int] = field(default_factory=list)


class ViewOperator:
    """The compiled runtime of one feature view."""

    #: The type of this operator's entity states.
    state_class: type = EntityState

    def __init__(
        self,
        features: Sequence[FeatureOperator],
        *,
        allowed_lateness: int,
        max_ahead: int,
    ) -> None:
        if allowed_lateness < 0:
            raise ValueError("allowed_lateness must be >= 0")
        if max_ahead < 0:
            raise ValueError("max_ahead must be >= 0")
        self.features = tuple(features)
        self.allowed_lateness = allowed_lateness
        self.max_ahead = max_ahead
        self.names = tuple(f.name for f in self.features)

    # -- per event -------------------------------------------------------------------------

    def new_state(self) -> EntityState:
        return EntityState([f.new_state() for f in self.features])

    def apply(self, state: EntityState, event_time: int, arrival: int, values: Sequence[Any]) -> Outcome:
        """Apply one event; ``values[i]`` is the input of feature ``i`` (``None`` for counts)."""
        now = arrival if arrival > state.now else state.now
        if event_time > now + self.max_ahead:
            return Outcome.TOO_FAR_AHEAD
        if event_time < state.frontier - self.allowed_lateness:
            return Outcome.LATE
        state.now = now
        if event_time > state.frontier:
            state.frontier = event_time
        seq = state.seq
        state.seq = seq + 1
        for feature, feature_state, value in zip(self.features, state.features, values):
            feature.add(feature_state, event_time, seq, value, now)
        return Outcome.ACCEPTED

    def read(self, state: EntityState | None, t: int) -> dict[str, Any]:
        """Every feature's value as of ``t``; ``None`` state reads as an entity with no events."""
        if state is None:
            return {f.name: f.empty_value() for f in self.features}
        return {f.name: f.read(fs, t) for f, fs in zip(self.features, state.features)}

    def read_until(self, state: EntityState, t: int) -> tuple[dict[str, Any], int]:
        """``(read(state, t), next_change(state, t))`` in one pass over the features."""
        values = {}
        until = POS_INF
        for feature, feature_state in zip(self.features, state.features):
            values[feature.name], change = feature.read_until(feature_state, t)
            if change < until:  # noqa: PLR1730 (hot path: a compare, not a call)
                until = change
        return values, until

    def next_change(self, state: EntityState | None, t: int) -> int:
        """The earliest time after ``t`` at which :meth:`read` may differ from its answer
        at ``t`` without new events (``POS_INF``: never); see
        :meth:`FeatureOperator.next_change`."""
        if state is None:
            return POS_INF
        return min((f.next_change(fs, t) for f, fs in zip(self.features, state.features)), default=POS_INF)

    # -- per batch -------------------------------------------------------------------------

    def apply_batch(
        self,
        states: MutableMapping[Hashable, EntityState],
        keys: Sequence[Hashable],
        event_times: Sequence[int],
        arrivals: Sequence[int],
        columns: Sequence[Sequence[Any] | None],
    ) -> BatchResult:
        """Apply a batch of events, in order, to the entities' states in ``states``.

        ``columns[i]`` holds feature ``i``'s input per event (``None`` for counts).
        An entity enters ``states`` with its first accepted event (one whose events are
        all rejected leaves no state). Equivalent to calling :meth:`apply` per event: every
        event is decided in order, then each entity's accepted events are applied feature
        by feature as one run (:attr:`FeatureOperator.add_run`), so a busy entity's events
        cost one call per feature instead of one per event and feature.

        The cyclic garbage collector is paused for the batch: the loop allocates many
        small acyclic objects (states, tiles, events), and collection passes over
        millions of live state objects would otherwise cost more than the updates.
        Reference counting still frees everything; no cycles are created here.
        """
        with gc_paused():
            return self._apply_batch(states, keys, event_times, arrivals, columns)

    def _apply_batch(
        self,
        states: MutableMapping[Hashable, EntityState],
        keys: Sequence[Hashable],
        event_times: Sequence[int],
        arrivals: Sequence[int],
        columns: Sequence[Sequence[Any] | None],
    ) -> BatchResult:
        size = len(keys)
        if len(event_times) != size or len(arrivals) != size or len(columns) != len(self.features):
            raise ValueError(
                f"batch columns disagree: {size} keys, {len(event_times)} event times, {len(arrivals)} arrivals, "
                f"{len(columns)} feature columns for {len(self.features)} features"
            )
        for feature, column in zip(self.features, columns, strict=True):
            if column is not None and len(column) != size:
                raise ValueError(f"batch column of feature {feature.name!r} has {len(column)} values for {size} keys")
        result = BatchResult()
        late = result.late
        ahead = result.too_far_ahead
        allowed = self.allowed_lateness
        max_ahead = self.max_ahead
        new_state = self.new_state
        get = states.get
        adds = [f.add for f in self.features]
        inputs = [repeat(None) if col is None else col for col in columns]
        accepted = 0
        if len(adds) == 1:
            # One feature: the same steps as below, without per-event tuple building.
            add = adds[0]
            for i, key, event_time, arrival, value in zip(count(), keys, event_times, arrivals, inputs[0]):
                state = get(key)
                if state is None:
                    state = new_state()  # stored only once an event is accepted
                now = state.now
                if arrival > now:
                    now = arrival
                if event_time > now + max_ahead:
                    ahead.append(i)
                    continue
                frontier = state.frontier
                if event_time < frontier - allowed:
                    late.append(i)
                    continue
                state.now = now
                if event_time > frontier:
                    state.frontier = event_time
                seq = state.seq
                state.seq = seq + 1
                if not seq:
                    states[key] = state
                accepted += 1
                add(state.features[0], event_time, seq, value, now)
            result.accepted = accepted
            return result
        # Decide every event in order (the entity's clock, lateness and seq), gathering
        # each entity's accepted events into a run; then apply each run feature by feature
        # (a feature's state sees the same adds in the same order as per event).
        runs: dict[Hashable, list[Any]] = {}  # entity -> [state, first seq, positions, nows]
        for i, key, event_time, arrival in zip(count(), keys, event_times, arrivals):
            run = runs.get(key)
            if run is None:
                state = get(key)
                if state is None:
                    state = new_state()  # stored only once an event is accepted
            else:
                state = run[0]
            now = state.now
            if arrival > now:
                now = arrival
            if event_time > now + max_ahead:
                ahead.append(i)
                continue
            frontier = state.frontier
            if event_time < frontier - allowed:
                late.append(i)
                continue
            state.now = now
            if event_time > frontier:
                state.frontier = event_time
            seq = state.seq
            state.seq = seq + 1
            if not seq:
                states[key] = state
            accepted += 1
            if run is None:
                runs[key] = [state, seq, [i], [now]]
            else:
                run[2].append(i)
                run[3].append(now)
        add_runs = [f.add_run for f in self.features]
        for state, seq, positions, nows in runs.values():
            if len(positions) == 1:
                i = positions[0]
                event_time = event_times[i]
                now = nows[0]
                for add, feature_state, column in zip(adds, state.features, columns):
                    add(feature_state, event_time, seq, None if column is None else column[i], now)
                continue
            pick = itemgetter(*positions)
            times = pick(event_times)
            for add_run, feature_state, column in zip(add_runs, state.features, columns):
                add_run(feature_state, times, seq, None if column is None else pick(column), nows)
        result.accepted = accepted
        return result

    def columns_for(self, data: Mapping[str, Sequence[Any]]) -> list[Sequence[Any] | None]:
        """Pick each feature's input column out of a mapping of field name -> column."""
        return [None if f.field is None else data[f.field] for f in self.features]

    # -- bytes -----------------------------------------------------------------------------

    def to_bytes(self, state: EntityState) -> bytes:
        parts = [_V, encode_varints((state.now, state.frontier, state.seq, len(self.features)))]
        append = parts.append
        for feature, feature_state in zip(self.features, state.features):
            blob = feature.to_bytes(feature_state)
            append(encode_length(len(blob)))
            append(blob)
        return b"".join(parts)

    def from_bytes(self, data: bytes) -> EntityState:
        version = data[:1]
        if version != _V and version != _V2:
            raise bad_version(data, _VERSION, "entity state")
        try:
            if version == _V:
                (now, frontier, seq, count), pos = decode_varints(data, 1, 4)
            else:
                _, now, frontier, seq, count = _HEAD_V2.unpack_from(data, 0)
                pos = _HEAD_V2.size
        except DECODE_ERRORS as exc:
            raise corrupt("entity state", exc) from exc
        if count != len(self.features):
            raise StateFormatError(f"entity state holds {count} features, the view has {len(self.features)}")
        size = len(data)
        unpack_size = _I.unpack_from
        features = []
        append = features.append
        try:
            for feature in self.features:
                if version == _V:
                    length, start = read_length(data, pos, "entity state")
                else:
                    length, start = unpack_size(data, pos)[0], pos + 4
                pos = start + length
                if pos > size:
                    raise StateFormatError(f"entity state: truncated feature {feature.name!r}")
                append(feature.from_bytes(data[start:pos]))
        except DECODE_ERRORS as exc:
            raise corrupt("entity state", exc) from exc
        check_end(data, pos, "entity state")
        state = EntityState(features)
        state.now, state.frontier, state.seq = now, frontier, seq
        return state
