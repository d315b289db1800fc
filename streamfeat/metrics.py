"""Prometheus metrics and structured progress logs of the streaming runtime.

Metrics (served on ``--metrics-port`` at ``/metrics``):

* ``streamfeat_records_total{topic,partition}`` — records read;
* ``streamfeat_accepted_total{view}``, ``streamfeat_late_total{view}`` — per view;
* ``streamfeat_dead_letters_total{topic}`` — records sent to the dead-letter topic;
* ``streamfeat_online_writes_total`` — entity rows written to the online store;
* ``streamfeat_consumer_lag{topic,partition}`` — records behind the partition's end;
* ``streamfeat_freshness_seconds{topic,partition}`` — wall clock minus the newest
  arrival time processed (how stale the online values are);
* ``streamfeat_state_bytes{topic,partition}`` — RocksDB state size on disk;
* ``streamfeat_batch_seconds`` — time to process one batch (histogram).
"""

from __future__ import annotations

import logging
import sys
import time

import orjson
from prometheus_client import Counter, Gauge, Histogram, start_http_server

__all__ = ["RuntimeMetrics", "json_logger", "serve_metrics"]

RECORDS = Counter("streamfeat_records", "Records read", ["topic", "partition"])
ACCEPTED = Counter("streamfeat_accepted", "Events accepted and applied", ["view"])
LATE = Counter("streamfeat_late", "Late events (counted, changed nothing)", ["view"])
DEAD_LETTERS = Counter("streamfeat_dead_letters", "Records sent to the dead-letter topic", ["topic"])
ONLINE_WRITES = Counter("streamfeat_online_writes", "Entity rows written to the online store")
LAG = Gauge("streamfeat_consumer_lag", "Records behind the end of the partition", ["topic", "partition"])
FRESHNESS = Gauge(
    "streamfeat_freshness_seconds", "Wall clock minus the newest arrival time processed", ["topic", "partition"]
)
STATE_BYTES = Gauge("streamfeat_state_bytes", "State size on disk", ["topic", "partition"])
COMMITTED = Gauge(
    "streamfeat_committed_offset",
    "Next offset committed with the state (a restart resumes here; records read after it are replayed)",
    ["topic", "partition"],
)
ONLINE_PENDING = Gauge(
    "streamfeat_online_pending_rows",
    "Online rows handed to this process's background writer and not yet taken to be written",
)
ONLINE_ROWS_BY_PLACE = Gauge(
    "streamfeat_online_rows_by_place",
    "Rows this process wrote to the embedded online store since it opened it: over the stored row "
    "(in_place), moved having outgrown their room (moved), or new",
    ["place"],
)
BATCH_SECONDS = Histogram("streamfeat_batch_seconds", "Seconds to process one batch")


def serve_metrics(port: int) -> None:
    """Serve ``/metrics`` on ``port`` (all interfaces) from a background thread."""
    start_http_server(port)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        return orjson.dumps(payload).decode()


def json_logger(name: str = "streamfeat") -> logging.Logger:
    """A logger writing one JSON object per line to stderr."""
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


class RuntimeMetrics:
    """Updates the metrics for one topic-partition after each batch."""

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = str(partition)
        self._records = RECORDS.labels(topic, self.partition)
        self._lag = LAG.labels(topic, self.partition)
        self._freshness = FRESHNESS.labels(topic, self.partition)
        self._state = STATE_BYTES.labels(topic, self.partition)
        self._committed = COMMITTED.labels(topic, self.partition)
        self._dead = DEAD_LETTERS.labels(topic)

    def batch(self, report, seconds: float, lag: int | None, newest_arrival: int | None) -> None:  # type: ignore[no-untyped-def]
        self._records.inc(report.records - report.skipped)
        for view, count in report.accepted.items():
            ACCEPTED.labels(view).inc(count)
        for late in report.late:
            LATE.labels(late.view).inc()
        self._dead.inc(len(report.dead_letters))
        ONLINE_WRITES.inc(report.published)
        BATCH_SECONDS.observe(seconds)
        if lag is not None:
            self._lag.set(lag)
        if newest_arrival is not None:
            self._freshness.set(max(0.0, time.time() - newest_arrival / 1000))

    def state_size(self, size: int) -> None:
        self._state.set(size)

    def committed(self, offset: int | None) -> None:
        if offset is not None:
            self._committed.set(offset)

    @staticmethod
    def online_rows_by_place(in_place: int, moved: int, new: int) -> None:
        """The embedded store's writer: rows written in place, moved, new (one writer per process)."""
        for place, rows in (("in_place", in_place), ("moved", moved), ("new", new)):
            ONLINE_ROWS_BY_PLACE.labels(place).set(rows)

    @staticmethod
    def online_pending(rows: int) -> None:
        """Rows waiting in the process's background writer (one per process)."""
        ONLINE_PENDING.set(rows)
