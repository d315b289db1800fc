"""One exception tree: everything streamfeat raises on purpose is a StreamfeatError."""

from __future__ import annotations

__all__ = [
    "DefinitionError",
    "HistoryError",
    "OnlineStoreError",
    "PublishFailedError",
    "ReadTimeError",
    "RejectSinkError",
    "StateError",
    "StateKeyError",
    "StateStoreError",
    "StreamfeatError",
    "UnknownViewError",
    "WorkloadError",
]


class StreamfeatError(Exception):
    """Root of every error streamfeat raises on purpose."""


class DefinitionError(StreamfeatError, ValueError):
    """A feature, window, entity, source or view definition is invalid."""


class StateError(StreamfeatError):
    """Stored state cannot be read (corrupt, or written by an incompatible definition)."""


class WorkloadError(StreamfeatError, ValueError):
    """Invalid parameters for the workload generator."""


class OnlineStoreError(StreamfeatError):
    """The online store failed (cannot open, write or read); the cause is chained."""


class PublishFailedError(OnlineStoreError):
    """Background writes to the online store failed for their whole retry period; the
    writer writes nothing more (retrying is pointless: restart, which replays)."""


class UnknownViewError(StreamfeatError, LookupError):
    """A read named a feature view the reader does not serve."""


class ReadTimeError(StreamfeatError, ValueError):
    """An online read asked for a time before the entity's newest applied arrival; the
    online store only answers "now or later" (earlier values are what backfill computes)."""



class StateStoreError(StreamfeatError):
    """The state store failed (I/O error, locked or closed database, rejected write)."""


class StateKeyError(StreamfeatError, ValueError):
    """An entity key, topic or partition cannot be encoded as a state store key."""



class RejectSinkError(StreamfeatError):
    """Dead letters or late events could not be written to their sink (file or topic)."""


class HistoryError(StreamfeatError):
    """History for a backfill (files, a topic range, a spine) cannot be read as asked."""
