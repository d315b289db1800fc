"""RedisStore specifics: key layout, TTL, script reloading, clear errors."""

from __future__ import annotations

import pytest
import redis

from streamfeat.errors import DefinitionError, OnlineStoreError
from streamfeat.online import RedisStore, StoredEntity
from streamfeat.online.base import CachedValues

VIEW, FP = "user_txn", "0123456789abcdef"
ROW = StoredEntity(state=b"\x01state", version=3, event_time=1_767_225_600_000)


@pytest.fixture
def client(redis_url: str):
    r = redis.Redis.from_url(redis_url)
    yield r
    r.close()


def test_one_hash_per_entity(redis_url: str, redis_prefix: str, client: redis.Redis) -> None:
    with RedisStore(redis_url, key_prefix=redis_prefix) as store:
        store.write(VIEW, FP, {"u:1": ROW})
        key = f"{redis_prefix}:{VIEW}:{FP}:u:1"
        assert store.key(VIEW, FP, "u:1") == key
        assert client.hgetall(key) == {b"s": b"\x01state", b"v": b"3", b"m": b"1767225600000 0 0", b"c": b""}
        assert client.pttl(key) == -1  # no TTL unless asked


def test_ttl_sets_an_expiry_on_every_write(redis_url: str, redis_prefix: str, client: redis.Redis) -> None:
    with RedisStore(redis_url, key_prefix=redis_prefix, ttl="1h") as store:
        assert store.ttl_ms == 3_600_000
        store.write(VIEW, FP, {"u1": ROW, "u2": ROW})
        key = store.key(VIEW, FP, "u1")
        assert 3_500_000 < client.pttl(key) <= 3_600_000
        client.pexpire(key, 1_000)
        store.write(VIEW, FP, {"u1": StoredEntity(b"newer", 4, 0)})
        assert client.pttl(key) > 3_500_000  # a write renews it
        store.write(VIEW, FP, {"u2": StoredEntity(b"older", 1, 0)})
        assert 0 < client.pttl(store.key(VIEW, FP, "u2")) <= 3_600_000
    with RedisStore(redis_url, key_prefix=redis_prefix, ttl=250) as store:
        store.write(VIEW, FP, {"short": ROW})
        assert 0 < client.pttl(store.key(VIEW, FP, "short")) <= 250


def test_bad_ttl_is_a_definition_error(redis_url: str) -> None:
    with pytest.raises(DefinitionError, match="RedisStore ttl"):
        RedisStore(redis_url, ttl="soon")


def test_writes_survive_a_flushed_script_cache(redis_url: str, redis_prefix: str, client: redis.Redis) -> None:
    with RedisStore(redis_url, key_prefix=redis_prefix) as store:
        assert store.write(VIEW, FP, {"u1": ROW}) == 1
        client.script_flush()
        assert store.write(VIEW, FP, {"u1": StoredEntity(b"newer", 4, 0), "u2": ROW}) == 2
        assert store.write(VIEW, FP, {"u1": ROW}) == 0
        assert store.get_raw(VIEW, FP, ["u1", "u2"]) == [StoredEntity(b"newer", 4, 0), ROW]
        client.script_flush()
        assert store.get_raw(VIEW, FP, ["u1", "u2"], at=7) == [StoredEntity(b"newer", 4, 0), ROW]  # read script


def test_unreachable_server_is_a_clear_online_store_error() -> None:
    with RedisStore("redis://:secret@127.0.0.1:1/0", socket_timeout=2) as store:
        with pytest.raises(OnlineStoreError, match=r"cannot write 1 rows .* redis://127\.0\.0\.1:1/0") as info:
            store.write(VIEW, FP, {"u1": ROW})
        assert "secret" not in str(info.value)
        with pytest.raises(OnlineStoreError, match="cannot read view 'user_txn'"):
            store.get_raw(VIEW, FP, ["u1"])


@pytest.mark.parametrize("rows_per_call", [1, 2, 500])
def test_chunked_writes_compare_every_row(redis_url: str, redis_prefix: str, rows_per_call: int) -> None:
    """Rows written several per script call still never regress, one by one."""
    with RedisStore(redis_url, key_prefix=redis_prefix, rows_per_call=rows_per_call) as store:
        first = {f"u{i}": StoredEntity(b"v5-%d" % i, 5, i) for i in range(7)}
        assert store.write(VIEW, FP, first) == 7
        mixed = {f"u{i}": StoredEntity(b"v%d-%d" % (4 + i % 3, i), 4 + i % 3, i) for i in range(9)}  # 4, 5, 6, ...
        assert store.write(VIEW, FP, mixed) == 4  # u2, u5 newer (6); u7, u8 new; nothing older or equal
        got = store.get_raw(VIEW, FP, [f"u{i}" for i in range(9)])
        assert [row.version for row in got] == [5, 5, 6, 5, 5, 6, 5, 5, 6]
        assert got[2].state == b"v6-2" and got[0].state == b"v5-0" and got[7].state == b"v5-7"


@pytest.mark.parametrize("rows_per_call", [1, 2, 500])
def test_reads_at_a_time_skip_only_covered_state(redis_url: str, redis_prefix: str, rows_per_call: int) -> None:
    """Reads for a time leave out the state of rows whose values cover it, in chunks or one by one."""
    cached = CachedValues(b'{"n":1}', 100, 200)
    rows = {f"u{i}": StoredEntity(b"s%d" % i, 5, i, cached if i % 2 else None) for i in range(5)}
    with RedisStore(redis_url, key_prefix=redis_prefix, rows_per_call=rows_per_call) as store:
        store.write(VIEW, FP, rows)
        names = ["u0", "nobody", "u1", "u2", "u3", "u4"]
        for at in (99, 200):
            assert store.get_raw(VIEW, FP, names, at=at) == [rows["u0"], None, *[rows[f"u{i}"] for i in range(1, 5)]]
        got = store.get_raw(VIEW, FP, names, at=150)
        assert [row.cached if row else None for row in got] == [None, None, cached, None, cached, None]
        for row, name in zip(got, names):
            if row is not None and row.cached is None:
                assert row == rows[name]
            elif row is not None:
                assert row.state in (None, rows[name].state) and row.version == 5
        if rows_per_call > 1:  # the read script leaves covered states out
            assert got[2].state is None and got[4].state is None


def test_rows_from_before_the_meta_field_are_read(redis_url: str, redis_prefix: str, client: redis.Redis) -> None:
    """A hash written as ``s``, ``v``, ``t`` (the first layout) reads as that row, and a
    newer write replaces it with the current layout."""
    with RedisStore(redis_url, key_prefix=redis_prefix) as store:
        key = store.key(VIEW, FP, "old")
        client.hset(key, mapping={"s": b"old-state", "v": b"2", "t": b"1767225600000"})
        expected = StoredEntity(b"old-state", 2, 1767225600000)
        assert store.get_raw(VIEW, FP, ["old"]) == [expected]
        assert store.get_raw(VIEW, FP, ["old"], at=5) == [expected]
        cached = CachedValues(b'{"n":1}', 10, 20)
        assert store.write(VIEW, FP, {"old": StoredEntity(b"new", 3, 7, cached)}) == 1
        assert store.get_raw(VIEW, FP, ["old"]) == [StoredEntity(b"new", 3, 7, cached)]
