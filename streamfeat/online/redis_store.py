"""Online store on a Redis server (redis-py, imported only when this store is used).

Each entity is one hash at ``{prefix}:{view}:{fingerprint}:{entity}`` with four
fields: ``s`` (state bytes), ``v`` (version), ``m`` (``"event_time valid_from
valid_until"``, decimal) and ``c`` (the values as of the write as JSON, empty when
none; they hold from ``valid_from`` until before ``valid_until``:
:class:`~streamfeat.online.base.CachedValues`); after a values-only write, ``m`` has a
fourth token, the older version the state bytes belong to. Few fields keep the
server's work per write small. Rows written before ``m`` existed hold the event time in ``t``; reads
still understand them. A batch is one pipeline
— one round trip — of Lua script calls, each writing up to ``rows_per_call`` rows
(default 500): for every row the script compares the stored version and writes only a
newer one, so non-regression holds atomically even with several writers. Many rows
per call take the per-command cost of redis-py and the server out of the per-row
path (measured: several times the rows/s of one call per row); a bounded chunk never
blocks the server for a whole batch. ``rows_per_call=1`` keeps every call on one key,
as a Redis Cluster would need. An optional TTL is set on every write (``PEXPIRE``).

Retries are the runtime's business: every redis-py failure is raised as
:class:`~streamfeat.errors.OnlineStoreError` naming the server and the operation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import orjson

from streamfeat.durations import Duration, parse_duration
from streamfeat.errors import OnlineStoreError
from streamfeat.online.base import CachedValues, StoredEntity

__all__ = ["RedisStore"]

# The rules of one row, shared by both write scripts. A row replaces an older stored
# row, or one of the same version whose state is stale. ``state`` is false for a
# values-only row: it replaces version, meta and values, keeps the stored state and
# appends to ``m`` the version that state belongs to (a fourth token, which only a
# values-only write leaves: a full write's three-token meta replaces it, so the common
# write costs no extra command); it needs a stored row.
_APPLY_ROW = """
local function apply_row(key, state, version, meta, values, ttl)
    local stored = redis.call('HGET', key, 'v')
    local n = tonumber(version)
    local kept = stored
    if stored then
        local s = tonumber(stored)
        if s > n then return 0 end
        if s == n or not state then
            local m = redis.call('HGET', key, 'm')
            local stale = m and string.match(m, '^%S+ %S+ %S+ (%S+)$')
            if s == n and not stale then return 0 end
            if stale then kept = stale end
        end
    end
    if state then
        redis.call('HSET', key, 's', state, 'v', version, 'm', meta, 'c', values)
    else
        if not stored then return 0 end
        redis.call('HSET', key, 'v', version, 'm', meta .. ' ' .. kept, 'c', values)
    end
    if ttl ~= '0' then
        redis.call('PEXPIRE', key, ttl)
    end
    return 1
end
"""

# KEYS[1] = entity key; ARGV = state (ignored for values-only), version, meta
# ("event_time valid_from valid_until"), values, ttl ms (0: none), "1" for values-only.
_WRITE_IF_NEWER = _APPLY_ROW + """
local state = ARGV[1]
if ARGV[6] == '1' then state = false end
return apply_row(KEYS[1], state, ARGV[2], ARGV[3], ARGV[4], ARGV[5])
"""

# KEYS = entity keys; ARGV[1] = ttl ms (0: none); ARGV[2] = a JSON array with, per key,
# [version, meta ("event_time valid_from valid_until"), state length (-1: values-only),
# values length] (decoded by the server's C cjson in one call: measured cheaper than
# splitting tokens in Lua); ARGV[3] and ARGV[4] = the states and the values, concatenated
# in key order. Three arguments for a whole chunk instead of several per row: packing
# arguments is most of redis-py's cost.
_WRITE_MANY_IF_NEWER = _APPLY_ROW + """
local ttl = ARGV[1]
local heads = cjson.decode(ARGV[2])
local states, values = ARGV[3], ARGV[4]
local s_at, c_at = 1, 1
local written = 0
for i, key in ipairs(KEYS) do
    local head = heads[i]
    local s_len, c_len = head[3], head[4]
    local state = false
    if s_len >= 0 then
        state = string.sub(states, s_at, s_at + s_len - 1)
        s_at = s_at + s_len
    end
    written = written + apply_row(key, state, head[1], head[2], string.sub(values, c_at, c_at + c_len - 1), ttl)
    c_at = c_at + c_len
end
return written
"""

# KEYS = entity keys; ARGV[1] = read time. Per key: version, meta, values, the event time
# of a row from before ``m``, and the state only when the values do not cover the read
# time (false for what is missing). One call answers a whole batch without sending
# state bytes the reader will not decode.
_READ_AT = """
local t = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
    local r = redis.call('HMGET', key, 'v', 'm', 'c', 't')
    local state = false
    if r[1] then
        local covered = false
        if r[2] and r[3] and r[3] ~= '' then
            local valid_from, valid_until = string.match(r[2], '^%S+ (%S+) (%S+)')
            covered = tonumber(valid_from) <= t and t < tonumber(valid_until)
        end
        if not covered then
            state = redis.call('HGET', key, 's')
        end
    end
    out[i] = {r[1], r[2], r[3], r[4], state}
end
return out
"""

_FIELDS = ("s", "v", "m", "c", "t")
_NO_CACHE = (b"", 0, 0)
_IN_FLIGHT = 4  # script calls sent but not yet answered, at most
_ROWS_PER_ROUND = 10_000  # rows per connection checkout (measured: 50,000 at once wrote half the rows/s)


def _import_redis() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise OnlineStoreError("RedisStore needs the redis package (redis-py >= 5.3): pip install 'redis>=5.3'") from exc
    return redis


class RedisStore:
    """Online store on the Redis server at ``url`` (``redis://host:port/db``).

    ``ttl`` (e.g. ``"30d"``, or milliseconds): drop an entity this long after its last
    write. An expired entity reads as never seen, so choose a TTL no shorter than the
    longest finite window served from it (and none for lifetime features that must
    survive quiet entities). ``ssl=True`` is the same as a ``rediss://`` URL.
    """

    def __init__(
        self,
        url: str,
        *,
        ttl: Duration | None = None,
        password: str | None = None,
        ssl: bool = False,
        key_prefix: str = "sf",
        socket_timeout: float = 10.0,
        rows_per_call: int = 500,
    ) -> None:
        redis = _import_redis()
        if rows_per_call < 1:
            raise OnlineStoreError(f"RedisStore rows_per_call must be >= 1, got {rows_per_call}")
        self.rows_per_call = rows_per_call
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        self.ttl_ms = 0 if ttl is None else parse_duration(ttl, what="RedisStore ttl")
        self.key_prefix = key_prefix
        if ssl and url.startswith("redis://"):
            url = "rediss://" + url[len("redis://") :]
        parts = urlsplit(url)
        self._where = f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"  # no password
        try:
            self._client = redis.Redis.from_url(url, password=password, socket_timeout=socket_timeout)
        except (redis.RedisError, ValueError) as exc:
            raise OnlineStoreError(f"cannot connect to the Redis online store at {self._where}: {exc}") from exc
        # The script runs by its SHA (EVALSHA); it is loaded on first use and again
        # after the server forgets it (restart, SCRIPT FLUSH), so a batch stays one
        # round trip instead of redis-py's per-pipeline SCRIPT EXISTS check.
        self._write_if_newer = self._client.register_script(_WRITE_IF_NEWER)
        self._write_many_if_newer = self._client.register_script(_WRITE_MANY_IF_NEWER)
        self._read_at = self._client.register_script(_READ_AT)  # loads itself again if the server forgot it
        self._no_script: type[BaseException] = redis.exceptions.NoScriptError

    def key(self, view: str, fingerprint: str, entity: str) -> str:
        return f"{self.key_prefix}:{view}:{fingerprint}:{entity}"

    def write(self, view: str, fingerprint: str, rows: Mapping[str, StoredEntity]) -> int:
        if not rows:
            return 0
        for entity, row in rows.items():
            if row.state is None and row.cached is None:
                raise OnlineStoreError(
                    f"cannot write entity {entity!r} of view {view!r} without its state bytes or values")
        prefix = f"{self.key_prefix}:{view}:{fingerprint}:"
        try:
            try:
                results = self._write_batch(prefix, rows)
            except self._no_script:
                # Retrying the whole batch is safe: writes never regress.
                self._client.script_load(_WRITE_IF_NEWER)
                self._client.script_load(_WRITE_MANY_IF_NEWER)
                results = self._write_batch(prefix, rows)
        except self._errors as exc:
            raise OnlineStoreError(
                f"cannot write {len(rows)} rows of view {view!r} to the Redis online store at {self._where}: {exc}"
            ) from exc
        return sum(results)

    def _write_batch(self, prefix: str, rows: Mapping[str, StoredEntity]) -> list[int]:
        ttl = self.ttl_ms
        chunk = self.rows_per_call
        with self._client.pipeline(transaction=False) as pipe:
            evalsha = pipe.evalsha
            if chunk == 1:
                sha = self._write_if_newer.sha
                for entity, row in rows.items():
                    values, valid_from, valid_until = _cache_args(row)
                    meta = b"%d %d %d" % (row.event_time, valid_from, valid_until)
                    state, values_only = (b"", 1) if row.state is None else (row.state, 0)
                    evalsha(sha, 1, prefix + entity, state, row.version, meta, values, ttl, values_only)
                return pipe.execute()
        return self._write_chunks(prefix, rows, chunk, ttl)

    def _write_chunks(self, prefix: str, rows: Mapping[str, StoredEntity], chunk: int, ttl: int) -> list[int]:
        items = list(rows.items())
        out: list[int] = []
        for lo in range(0, len(items), _ROWS_PER_ROUND):
            out += self._write_round(prefix, items[lo : lo + _ROWS_PER_ROUND], chunk, ttl)
        return out

    def _write_round(self, prefix: str, items: list[tuple[str, StoredEntity]], chunk: int, ttl: int) -> list[int]:
        """Send each chunk's script call as soon as it is packed, with at most
        ``_IN_FLIGHT`` calls unanswered: the server runs one chunk while this process packs
        the next (a redis-py pipeline packs every command before sending the first), and
        neither side buffers a whole large batch (measured: 50,000-row batches sent whole
        wrote about half the rows/s of 10,000-row ones)."""
        sha = self._write_many_if_newer.sha
        pool = self._client.connection_pool
        conn = pool.get_connection()
        results: list[int] = []
        failures: list[BaseException] = []
        try:
            calls = 0
            for lo in range(0, len(items), chunk):
                part = items[lo : lo + chunk]
                keys = [prefix + entity for entity, _ in part]
                heads, states, values = [], [], []
                for _, row in part:
                    cached = row.cached
                    value, valid_from, valid_until = _NO_CACHE if cached is None else (
                        cached.values, cached.valid_from, cached.valid_until)
                    state = row.state
                    heads.append((str(row.version), f"{row.event_time} {valid_from} {valid_until}",
                                  -1 if state is None else len(state), len(value)))
                    if state is not None:
                        states.append(state)
                    values.append(value)
                conn.send_command("EVALSHA", sha, len(keys), *keys, ttl, orjson.dumps(heads), b"".join(states),
                                  b"".join(values))
                calls += 1
                if calls - len(results) - len(failures) >= _IN_FLIGHT:
                    self._read_answer(conn, results, failures)
            while len(results) + len(failures) < calls:  # read every answer, so the connection stays in step
                self._read_answer(conn, results, failures)
            if failures:
                raise failures[0]
            return results
        except BaseException:
            conn.disconnect()  # a half-read connection must not go back to the pool in use
            raise
        finally:
            pool.release(conn)

    def _read_answer(self, conn: Any, results: list[int], failures: list[BaseException]) -> None:
        try:
            results.append(conn.read_response())
        except self._errors as exc:
            failures.append(exc)

    def get_raw(
        self, view: str, fingerprint: str, entities: Sequence[str], *, at: int | None = None
    ) -> list[StoredEntity | None]:
        prefix = f"{self.key_prefix}:{view}:{fingerprint}:"
        if at is not None and self.rows_per_call > 1:
            return self._get_at(view, prefix, entities, at)
        try:
            if len(entities) == 1:
                found = [self._client.hmget(prefix + entities[0], _FIELDS)]
            else:
                with self._client.pipeline(transaction=False) as pipe:
                    for entity in entities:
                        pipe.hmget(prefix + entity, _FIELDS)
                    found = pipe.execute()
        except self._errors as exc:
            raise OnlineStoreError(
                f"cannot read view {view!r} from the Redis online store at {self._where}: {exc}"
            ) from exc
        return [None if v is None else _row(s, v, m, c, t) for s, v, m, c, t in found]

    def _get_at(self, view: str, prefix: str, entities: Sequence[str], at: int) -> list[StoredEntity | None]:
        """Rows for a read at ``at``: one script call per ``rows_per_call`` entities, without
        the state bytes of rows whose values cover ``at``."""
        found: list[Any] = []
        chunk = self.rows_per_call
        try:
            for lo in range(0, len(entities), chunk):
                keys = [prefix + entity for entity in entities[lo : lo + chunk]]
                found += self._read_at(keys=keys, args=[at])
        except self._errors as exc:
            raise OnlineStoreError(
                f"cannot read view {view!r} from the Redis online store at {self._where}: {exc}"
            ) from exc
        return [None if v is None else _row(s, v, m, c, t) for v, m, c, t, s in found]

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RedisStore({self._where!r}, key_prefix={self.key_prefix!r}, ttl_ms={self.ttl_ms})"


def _cache_args(row: StoredEntity) -> tuple[bytes, int, int]:
    c = row.cached
    return _NO_CACHE if c is None else (c.values, c.valid_from, c.valid_until)


def _row(state: bytes | None, version: bytes, meta: bytes | None, values: bytes | None,
         event_time: bytes | None) -> StoredEntity:
    """A row from its hash fields (a row from before ``m`` has its event time in ``t``;
    a fourth token of ``m`` is the version of a stale state)."""
    cached = None
    state_version = None
    if meta is not None:
        event, valid_from, valid_until, *stale = meta.split()
        if values:
            cached = CachedValues(values, int(valid_from), int(valid_until))
        if stale:
            state_version = int(stale[0])
    else:
        event = event_time if event_time is not None else b"0"
    return StoredEntity(state, int(version), int(event), cached, state_version)
