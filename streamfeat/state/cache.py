"""A bounded, write-back cache of one view's entity states over a :class:`StateStore`.

:class:`EntityStateCache` is a ``MutableMapping[str, EntityState]`` that
``ViewOperator.apply_batch`` uses directly as its ``states``. The streaming loop per batch::

    states = cache.checkout(keys)             # one store read for the batch's entities
    op.apply_batch(states, keys, ...)         # mutates them (a plain dict), adds new ones
    cache.checkin(states)                     # the new ones become resident
    cache.flush({(topic, partition): next_offset})   # one atomic commit, then evict

(``op.apply_batch(cache, ...)`` works too, through the mapping's methods: slower.)

Every entity handed out by ``get`` / ``[]`` (or stored with ``[] =``) is *dirty*: the
caller may have changed it, so the next :meth:`~EntityStateCache.flush` writes it back.
Between flushes resident entities are never evicted; after a flush the least recently
used ones beyond ``capacity`` are dropped, so resident memory stays within ``capacity``
plus one batch's entities however many entities the store holds. Recency is counted in
flushes (entities touched in the same batch rank by first touch), which is all eviction
needs and keeps the per-event ``get`` to two dictionary operations. Prefetching is only an
optimisation: an entity that was not prefetched is loaded on first access.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from itertools import islice
from typing import overload

from operators.view import EntityState, ViewOperator
from streamfeat.errors import StateError, StateKeyError
from streamfeat.state import keys as layout
from streamfeat.state.store import StateStore

__all__ = ["EntityStateCache", "read_state"]


def decode_state(op: ViewOperator, entity_key: str, data: bytes) -> EntityState:
    """``op.from_bytes`` with failures reported as :class:`StateError` naming the entity."""
    try:
        return op.from_bytes(data)
    except (ValueError, IndexError, TypeError) as exc:  # StateFormatError, struct.error, truncation
        raise StateError(f"stored state of entity {entity_key!r} cannot be decoded ({len(data)} bytes): {exc}") from exc


def read_state(store: StateStore, op: ViewOperator, fingerprint: str, entity_key: str) -> EntityState | None:
    """The committed state of one entity of the view with ``fingerprint``, or ``None``."""
    (data,) = store.get_many([layout.state_key(layout.view_prefix(fingerprint), entity_key)])
    return None if data is None else decode_state(op, entity_key, data)


class EntityStateCache(MutableMapping[str, EntityState]):
    """Entity states of one view, resident up to ``capacity``, persisted by :meth:`flush`."""

    def __init__(
        self, store: StateStore, view_operator: ViewOperator, fingerprint: str, *, capacity: int = 100_000
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
            raise ValueError(f"capacity must be an int >= 0, got {capacity!r}")
        self.store = store
        self.op = view_operator
        self.fingerprint = fingerprint
        self.capacity = capacity
        self._prefix = layout.view_prefix(fingerprint)
        # Insertion order is recency: least recently flushed first (a flush moves its
        # entities to the end). A plain dict, so operators can be handed it (checkout).
        self._resident: dict[str, EntityState] = {}
        self._dirty: dict[str, None] = {}  # handed out or set since the last flush (or spill), first touch first
        self._unsaved: dict[str, None] = {}  # changed before the last spill, kept resident and not written yet
        self._absent: set[str] = set()  # known not to exist: prefetched and missing, or deleted
        self._deleted: set[str] = set()  # to delete from the store at the next flush

    # -- loading ---------------------------------------------------------------------------

    def prefetch(self, entity_keys: Iterable[str]) -> int:
        """Load every entity of ``entity_keys`` that is not resident with one store read;
        returns how many were read from the store (found or not)."""
        distinct = entity_keys if type(entity_keys) is dict else dict.fromkeys(entity_keys)
        wanted = [k for k in distinct if k not in self._resident and k not in self._absent]
        if not wanted:
            return 0
        prefix = self._prefix
        values = self.store.get_many(layout.state_keys(prefix, wanted))
        resident = self._resident
        found: list[str] = []
        blobs: list[bytes] = []
        for key, data in zip(wanted, values, strict=True):
            if data is None:
                self._absent.add(key)
            else:
                found.append(key)
                blobs.append(data)
        if blobs:
            resident.update(zip(found, self._decode_all(found, blobs), strict=True))
        return len(wanted)

    def _decode_all(self, entity_keys: list[str], blobs: list[bytes]) -> list[EntityState]:
        """The states stored as ``blobs`` (of ``entity_keys``, in order): in one call that
        decodes without the GIL where the operator offers it (``from_bytes_many``, the native
        core), so a batch's reads from the store leave the process's other threads to run; a
        blob that does not decode raises :class:`StateError` naming its entity."""

        def one_by_one() -> list[EntityState]:
            return [decode_state(self.op, key, data) for key, data in zip(entity_keys, blobs, strict=True)]

        decode_many = getattr(self.op, "from_bytes_many", None)
        if decode_many is None:
            return one_by_one()
        try:
            return decode_many(blobs)
        except (ValueError, IndexError, TypeError):  # one does not decode: one by one finds it and names its entity
            return one_by_one()

    def checkout(self, entity_keys: Iterable[str]) -> dict[str, EntityState]:
        """The resident states, with every existing entity of ``entity_keys`` loaded (one
        store read), as a plain ``dict`` for an operator to change in place and add new
        entities to — what ``apply_batch`` does with ``states``, at dict speed rather than
        through this mapping's methods. The entities of ``entity_keys`` count as handed
        out (dirty). Give it back with :meth:`checkin` before any other call."""
        keys = entity_keys if type(entity_keys) is dict else dict.fromkeys(entity_keys)
        self.prefetch(keys)
        self._dirty.update(keys)
        return self._resident

    def checkin(self, states: Mapping[str, EntityState]) -> int:
        """Take back what :meth:`checkout` gave: the entities added to it become resident
        (validated as ``cache[key] = state`` would: a bad one is removed and raises);
        entities handed out that still do not exist are not dirty. Returns how many were added."""
        if states is not self._resident:
            raise StateError("checkin takes back the dict that checkout gave")
        resident, absent, dirty = self._resident, self._absent, self._dirty
        added = [key for key in absent if key in resident]  # absent before the batch: new
        if added:
            try:  # in bulk; a bad key or state is found and named below
                layout.state_keys(b"", added)
                good = set(map(type, [resident[key] for key in added])) <= {self.op.state_class}
            except StateKeyError:
                good = False
            if not good:
                self._check_added(added)
            absent.difference_update(added)
            if self._deleted:
                self._deleted.difference_update(added)
        for key in absent:
            dirty.pop(key, None)  # handed out, never created
        return len(added)

    def _check_added(self, added: list[str]) -> None:
        """Validate each entity :meth:`checkin` found added, as ``cache[key] = state`` would:
        the first bad one is removed and raises."""
        resident, dirty = self._resident, self._dirty
        for key in added:
            state = resident[key]
            try:
                layout.entity_key_bytes(key)
                if not isinstance(state, self.op.state_class):
                    raise TypeError(f"entity {key!r}: expected an entity state, got {type(state).__name__}")
            except BaseException:
                del resident[key]
                dirty.pop(key, None)
                raise
            self._absent.discard(key)
            self._deleted.discard(key)

    def _load(self, key: str) -> EntityState | None:
        if key in self._absent:
            return None
        (data,) = self.store.get_many([layout.state_key(self._prefix, key)])
        if data is None:
            self._absent.add(key)
            return None
        state = self._resident[key] = decode_state(self.op, key, data)
        return state

    def read(self, entity_key: str) -> EntityState | None:
        """The entity's state as of the last flush, decoded afresh from the store; neither
        cached nor marked dirty, so changing it changes nothing."""
        return read_state(self.store, self.op, self.fingerprint, entity_key)

    def peek(self, entity_key: str) -> EntityState | None:
        """The resident state of an entity, without loading it or marking it dirty."""
        return self._resident.get(entity_key)

    def peek_many(self, entity_keys: Iterable[str]) -> list[tuple[str, EntityState]]:
        """``(key, state)`` of each resident entity of ``entity_keys``, in order (:meth:`peek`
        for a batch: one comprehension instead of a call per entity)."""
        get = self._resident.get
        return [(key, state) for key in entity_keys if (state := get(key)) is not None]

    def clear_memory(self) -> None:
        """Drop every resident entity and pending change; later reads reload from the store
        (what was last flushed). Used to recover after a failed commit."""
        self._resident.clear()
        self._dirty = {}
        self._unsaved = {}
        self._absent = set()
        self._deleted = set()

    # -- mapping ---------------------------------------------------------------------------

    @overload
    def get(self, key: str, default: None = None) -> EntityState | None: ...

    @overload
    def get(self, key: str, default: EntityState) -> EntityState: ...

    def get(self, key: str, default: EntityState | None = None) -> EntityState | None:
        state = self._resident.get(key)
        if state is None:
            state = self._load(key)
            if state is None:
                return default
        self._dirty[key] = None
        return state

    def __getitem__(self, key: str) -> EntityState:
        state = self.get(key)
        if state is None:
            raise KeyError(key)
        return state

    def __setitem__(self, key: str, state: EntityState) -> None:
        if key not in self._resident:
            layout.entity_key_bytes(key)  # validate before it can reach a commit
        if not isinstance(state, self.op.state_class):
            raise TypeError(f"entity {key!r}: expected an entity state, got {type(state).__name__}")
        self._resident[key] = state
        self._dirty[key] = None
        self._absent.discard(key)
        self._deleted.discard(key)

    def __delitem__(self, key: str) -> None:
        if key not in self._resident and self._load(key) is None:
            raise KeyError(key)
        del self._resident[key]
        self._dirty.pop(key, None)
        self._unsaved.pop(key, None)
        self._absent.add(key)
        self._deleted.add(key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key in self._resident:
            return True
        if key in self._absent:
            return False
        try:
            store_key = layout.state_key(self._prefix, key)
        except StateKeyError:
            return False  # no such entity can exist
        return self.store.get_many([store_key])[0] is not None

    def __iter__(self) -> Iterator[str]:
        """Every entity: unflushed ones, then the store's (a full scan of the view's keys)."""
        pending = [k for k in self.dirty_keys() if k in self._resident]
        yield from pending
        skip = self._deleted.union(pending)
        prefix = self._prefix
        for key, _value in self.store.scan(prefix):
            entity = layout.decode_state_key(prefix, key)
            if entity not in skip:
                yield entity

    def __len__(self) -> int:
        """The number of entities (a full scan of the view's keys)."""
        return sum(1 for _ in self)

    # -- persisting ------------------------------------------------------------------------

    def flush(self, offsets: Mapping[tuple[str, int], int], *, keep: int | None = None) -> int:
        """Commit every dirty entity, every deletion and ``offsets`` atomically, then evict
        the least recently used entities beyond ``capacity``. Returns the entities written.

        If the commit fails nothing is lost from memory: the entities stay dirty and a
        later flush writes them.
        """
        puts, deletes = self.pending_writes()
        self.store.commit(puts, deletes, offsets)
        return self.mark_flushed(keep=keep)

    def dirty_keys(self) -> list[str]:
        """Entities touched since the last flush."""
        if not self._unsaved:
            return list(self._dirty)
        return list(self._dirty) + [k for k in self._unsaved if k not in self._dirty]

    def pending_states(self) -> dict[str, bytes]:
        """Every dirty entity's serialised state, by entity key."""
        to_bytes = self.op.to_bytes
        resident = self._resident
        return {k: to_bytes(resident[k]) for k in self.dirty_keys()}

    def pending_writes(self, encoded: dict[str, bytes] | None = None) -> tuple[dict[bytes, bytes], list[bytes]]:
        """What a flush would commit — for a caller that commits several views (and the
        offsets) in one atomic write, then calls :meth:`mark_flushed`. ``encoded``: the
        result of :meth:`pending_states` when the caller already has it (one encoding
        serves both the state store and the online store)."""
        prefix = self._prefix
        if encoded is None:
            encoded = self.pending_states()
        puts = {prefix + k.encode(): data for k, data in encoded.items()}
        deletes = [layout.state_key(prefix, k) for k in self._deleted]
        return puts, deletes

    def mark_flushed(self, *, keep: int | None = None) -> int:
        """Record that :meth:`pending_writes` was committed; returns the entities written.
        Evicts down to ``keep`` resident entities (default: ``capacity``) — a spilling
        replay keeps fewer, so it flushes every few batches rather than after each one."""
        resident = self._resident
        dirty = self._dirty
        for key in dirty:  # to the end: the most recently used
            resident[key] = resident.pop(key)
        written = len(self.dirty_keys())
        self._dirty = {}
        self._unsaved = {}
        self._deleted = set()
        self._absent = set()
        self._evict(self.capacity if keep is None else min(keep, self.capacity))
        return written

    def spill(self, keep: int) -> int:
        """Make room in memory for a replay: write back only the least recently used
        entities beyond ``keep`` (those changed since they were last written) and drop
        them; returns how many were written. Every other entity stays resident and, if
        changed, unwritten until it is evicted or :meth:`flush` writes it — so a busy entity
        is encoded once when it leaves memory, not at every spill. Offsets are not touched:
        the store is only consistent with a position after a :meth:`flush`.

        If the write fails nothing is lost: the entities stay resident and unwritten."""
        resident = self._resident
        dirty, unsaved = self._dirty, self._unsaved
        for key in dirty:  # touched since the last spill: to the end, the most recently used
            resident[key] = resident.pop(key)
        victims = list(islice(resident, max(0, len(resident) - keep)))
        prefix, to_bytes = self._prefix, self.op.to_bytes
        puts = {
            prefix + key.encode(): to_bytes(resident[key]) for key in victims if key in dirty or key in unsaved
        }
        deletes = [layout.state_key(prefix, k) for k in self._deleted]
        self.store.commit(puts, deletes, {})
        for key in victims:
            del resident[key]
            dirty.pop(key, None)
            unsaved.pop(key, None)
        unsaved.update(dirty)
        self._dirty = {}
        self._deleted = set()
        self._absent = set()
        return len(puts)

    def _evict(self, keep: int) -> int:
        """Drop the least recently used clean entities beyond ``keep``; returns how many.
        The native core frees their contents without the GIL (``release_states``: the
        frees of a large state's events otherwise stop every other thread meanwhile)."""
        resident = self._resident
        excess = max(0, len(resident) - keep)
        if not excess:
            return 0
        victims = list(islice(resident, excess))
        release = getattr(self.op, "release_states", None)
        if release is None:
            for key in victims:
                del resident[key]
            return excess
        pop = resident.pop
        states = [pop(key) for key in victims]
        release(states)
        del states  # emptied: nothing holds them but this list
        return excess

    # -- introspection ---------------------------------------------------------------------

    @property
    def resident_count(self) -> int:
        return len(self._resident)

    def resident_keys(self) -> list[str]:
        """Resident entities, least recently used first."""
        return list(self._resident)

    @property
    def dirty_count(self) -> int:
        return len(self.dirty_keys()) if self._unsaved else len(self._dirty)

    def __repr__(self) -> str:
        return (
            f"EntityStateCache(view {self.fingerprint}, {len(self._resident)} resident of capacity "
            f"{self.capacity}, {self.dirty_count} dirty)"
        )
