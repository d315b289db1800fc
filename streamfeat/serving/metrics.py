"""Prometheus metrics of the feature server, in a registry of its own.

* ``streamfeat_serving_requests_total{route,code}`` — requests answered, by route and status;
* ``streamfeat_serving_request_seconds{route}`` — time from a request fully read to its
  response handed to the socket (histogram, sub-millisecond buckets);
* ``streamfeat_serving_entities_total{view}`` — entities answered;
* ``streamfeat_serving_store_errors_total{view}`` — online-store failures (answered 503);
* ``streamfeat_serving_connections`` — open client connections.

Each server has its own :class:`~prometheus_client.CollectorRegistry` (several servers
in one process — tests — never collide), and label children are resolved once and
cached, so counting a request costs a dict lookup and two increments.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["LATENCY_BUCKETS", "ROUTES", "ServingMetrics"]

#: Route labels; a request that matches none is counted as ``other``.
ROUTES = ("features", "batch", "views", "healthz", "readyz", "metrics", "openapi", "other")

LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05,
    0.1, 0.25, 1.0, 2.5,
)


class ServingMetrics:
    """The server's counters; :meth:`render` is the ``/metrics`` body."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "streamfeat_serving_requests", "Requests answered, by route and HTTP status", ["route", "code"],
            registry=self.registry,
        )
        latency = Histogram(
            "streamfeat_serving_request_seconds",
            "Seconds from a request fully read to its response written",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._entities = Counter(
            "streamfeat_serving_entities", "Entities answered, by view", ["view"], registry=self.registry
        )
        self._store_errors = Counter(
            "streamfeat_serving_store_errors", "Online-store failures, by view", ["view"], registry=self.registry
        )
        self.connections = Gauge("streamfeat_serving_connections", "Open client connections", registry=self.registry)
        self._latency = {route: latency.labels(route) for route in ROUTES}
        self._by_code: dict[tuple[str, int], Counter] = {}
        self._entities_by_view: dict[str, Counter] = {}

    def observe(self, route: str, code: int, seconds: float) -> None:
        key = (route, code)
        child = self._by_code.get(key)
        if child is None:
            child = self._by_code[key] = self._requests.labels(route, str(code))
        child.inc()
        self._latency[route].observe(seconds)

    def entities(self, view: str, count: int) -> None:
        child = self._entities_by_view.get(view)
        if child is None:
            child = self._entities_by_view[view] = self._entities.labels(view)
        child.inc(count)

    def store_error(self, view: str) -> None:
        self._store_errors.labels(view).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
