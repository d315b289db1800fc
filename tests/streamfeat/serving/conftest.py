"""Fixtures of the serving tests: a served view over a real store (embedded SQLite or a
real redis-server), with a hand-moved clock.

Timeline of the entities written (days after T0, amounts in brackets), then never again:

    day      0     1     2                       9
    alice   [10]  [20]  [30]                         7d sum at day 2: 60, at day 8: 50, at day 9: 30
    bob                 [5] [7]  (day 2 - 30 min, day 2)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamfeat import Count, Entity, FeatureView, Lifetime, ManualClock, Sliding, Source, Sum, build_view
from streamfeat.clock import DAY_MS, MINUTE_MS
from streamfeat.online import EmbeddedStore, FeatureReader, OnlineStore, RedisStore, StoredEntity
from streamfeat.serving.client import Client
from streamfeat.serving.server import FeatureServer
from streamfeat.serving.service import FeatureService
from tests.services.fixtures import redis_prefix, redis_url  # noqa: F401  (pytest finds fixtures by name)

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z

VIEW = FeatureView(
    "user_txn",
    entity=Entity("user", key="user_id"),
    source=Source("transactions", timestamp="ts", schema={"user_id": str, "amount": int, "ts": int}),
    features=[Sum("amount", window=Sliding("7d")), Count(window=Lifetime()), Count(window=Sliding("1h"))],
)
OTHER = FeatureView("user_other", entity=VIEW.entity, source=VIEW.source, features=[Count(window=Lifetime())])
EVENTS = {
    "alice": [(T0, 10), (T0 + DAY_MS, 20), (T0 + 2 * DAY_MS, 30)],
    "bob": [(T0 + 2 * DAY_MS - 30 * MINUTE_MS, 5), (T0 + 2 * DAY_MS, 7)],
}


def write_entities(store: OnlineStore, events: dict[str, list[tuple[int, int]]] = EVENTS) -> None:
    """Apply (event time, amount) events arriving at their event time, and store each entity."""
    op = build_view(VIEW)
    rows = {}
    for entity, items in events.items():
        state = op.new_state()
        for ts, amount in items:
            op.apply(state, ts, ts, [amount, None, None])
        rows[entity] = StoredEntity.of(op, state)
    store.write(VIEW.name, VIEW.fingerprint(), rows)


@dataclass
class Served:
    """A running server, a client of it, and the in-process reader of the same store and clock."""

    server: FeatureServer
    client: Client
    reader: FeatureReader
    clock: ManualClock
    store: OnlineStore

    @property
    def url(self) -> str:
        return self.server.url



@pytest.fixture(params=["embedded", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    """A store holding :data:`EVENTS`, of the kind the test is parametrized with."""
    if request.param == "embedded":
        opened: OnlineStore = EmbeddedStore(tmp_path / "online.sqlite")
    else:
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
        opened = RedisStore(url, key_prefix=prefix)
    write_entities(opened)
    yield opened
    opened.close()


def start(store: OnlineStore, *, token: str | None = None, views: list[FeatureView] | None = None) -> Served:
    clock = ManualClock(T0 + 2 * DAY_MS)
    views = [VIEW, OTHER] if views is None else views
    service = FeatureService(store, views, clock=clock, token=token)
    server = FeatureServer(service, port=0).start_in_thread()
    return Served(server, Client(server.url, token=token), FeatureReader(store, views, clock), clock, store)


@pytest.fixture
def served(store: OnlineStore) -> Iterator[Served]:
    running = start(store)
    yield running
    running.client.close()
    running.server.stop()
