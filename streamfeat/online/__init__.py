"""Online store: the latest state of every entity, for serving reads "now".

Decision: what is stored is each entity's *partial* state — the serialised
:class:`operators.view.EntityState` bytes (``ViewOperator.to_bytes``) plus its
version (the entity's ``seq``) and the event time of its last update — and readers
*finalise at read time*: :class:`FeatureReader` decodes the state and calls
``ViewOperator.read(state, t)`` for the time asked. This is what Tecton and Chronon
do (they store tiles / intermediate results and finish aggregation on read). No
timers: a quiet entity's 7-day sum drops expired events because the read at ``t``
evaluates the window ``(t - 7d, t]`` over the stored partial aggregates, not because
something rewrote the value when the event expired. Reads therefore match the
contract of ``docs/semantics.md`` exactly, at any ``t`` at or after the entity's
newest applied arrival.

Beside the state, the pipeline publishes each entity's values as of the write and
the span they hold for (:class:`~streamfeat.online.base.CachedValues`): the next
instant any feature could change without a new event — an event leaving an exact
window, a tile edge, a hopping window's end, a refreshed feature's next publication,
a future-dated event's time (``ViewOperator.next_change``, checked against the
oracle). A read inside the span is answered from those values, one small JSON object,
without decoding the state; a read after it finalises from the state as above. So a
quiet entity still reads correctly, and an active one (whose row is rewritten with
every batch that touches it) reads fast.

Writes never regress: a row is written only when its version is greater than the
stored one, so replaying a Kafka range after a crash (which re-sends old versions)
is harmless. Rows are keyed by ``(view, fingerprint, entity)``: state written by a
view whose definition has since changed is never decoded by the new one.

Backends, behind the :class:`OnlineStore` protocol:

* :class:`LmdbStore` — the default: one LMDB file, readable by other processes while
  writers write (a file named ``*.lmdb``, and any name but the SQLite ones below);
* :class:`EmbeddedStore` — one SQLite file in WAL mode, the same way (a file named
  ``*.sqlite``, ``*.sqlite3`` or ``*.db``: the default before LMDB, kept for those files);
* :class:`RedisStore` — a Redis server (redis-py, imported only when used).

:class:`BackgroundWriter` wraps either so that writes run on a background thread,
coalesced per entity (what ``streamfeat run`` uses).
"""

from pathlib import Path

from streamfeat.online.background import BackgroundWriter
from streamfeat.online.base import OnlineStore, StoredEntity
from streamfeat.online.embedded import EmbeddedStore
from streamfeat.online.lmdb_store import LmdbStore
from streamfeat.online.reader import FeatureReader, FeatureValues, JsonlServedLog, ServedLog
from streamfeat.online.redis_store import RedisStore

__all__ = [
    "BackgroundWriter",
    "EmbeddedStore",
    "FeatureReader",
    "FeatureValues",
    "JsonlServedLog",
    "LmdbStore",
    "OnlineStore",
    "RedisStore",
    "ServedLog",
    "StoredEntity",
    "online_store_target",
    "open_embedded_store",
    "open_online_store",
]

#: File suffixes of the SQLite embedded store; any other path is an LMDB file.
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
DEFAULT_EMBEDDED_NAME = "online.lmdb"


def online_store_target(spec: str | None, state_dir: str | Path) -> str:
    """What ``spec`` names: a ``redis://``/``rediss://`` URL, an embedded store file path,
    or for ``None`` the default ``STATE_DIR/online.lmdb``."""
    return spec or str(Path(state_dir) / DEFAULT_EMBEDDED_NAME)


def is_redis_target(target: str) -> bool:
    return target.startswith(("redis://", "rediss://"))


def open_embedded_store(path: str | Path, *, readonly: bool = False) -> OnlineStore:
    """The embedded store in the file at ``path``: SQLite for ``*.sqlite``/``*.sqlite3``/``*.db``,
    else LMDB."""
    if Path(path).suffix in SQLITE_SUFFIXES:
        return EmbeddedStore(path, readonly=readonly)
    return LmdbStore(path, readonly=readonly)


def open_online_store(spec: str | None, state_dir: str | Path) -> OnlineStore:
    """The store named by ``spec`` (:func:`online_store_target`)."""
    target = online_store_target(spec, state_dir)
    if is_redis_target(target):
        return RedisStore(target)
    return open_embedded_store(target)
