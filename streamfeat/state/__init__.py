"""Durable per-entity state: a store protocol, its RocksDB backend, the key layout, and a
bounded write-back cache that ``ViewOperator.apply_batch`` runs against.

State changes and consumed Kafka offsets are committed together in one atomic write, so a
runtime that resumes from :meth:`StateStore.offsets` after a crash applies every event
exactly once in effect.
"""

from streamfeat.state.cache import EntityStateCache, read_state
from streamfeat.state.store import RocksDBStateStore, StateStore, partition_state_dir

__all__ = ["EntityStateCache", "RocksDBStateStore", "StateStore", "partition_state_dir", "read_state"]
