"""What the feature server answers, independent of HTTP parsing.

:class:`FeatureService` turns one request (method, target, bearer token, body) into
a status and a JSON body. It reads through :class:`~streamfeat.online.FeatureReader`
— the same finalise-at-read-time code as ``streamfeat get`` and the in-process
reader — so a served value is the value of ``docs/semantics.md`` as of the request
time. Every request is one keyed store round trip at most: a path names one view and
one entity, a batch at most :data:`MAX_BATCH` entities; nothing a client sends can
list or scan the store, and nothing it sends is executed.

Routes (``streamfeat serve --help`` and ``GET /openapi.json`` describe them):

* ``GET /v1/features/{view}/{entity}[?at=MS][&features=a,b]`` — one entity;
* ``POST /v1/features/{view}`` with ``{"entities": [...], "features"?: [...], "at"?: MS}``;
* ``GET /v1/views`` — the served views and their features;
* ``GET /healthz`` (the process answers), ``GET /readyz`` (the store answers a keyed
  read), ``GET /metrics`` (Prometheus), ``GET /openapi.json``.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson

from streamfeat.clock import Clock
from streamfeat.definitions import FeatureView
from streamfeat.errors import OnlineStoreError, ReadTimeError, StateError
from streamfeat.online import FeatureReader, FeatureValues, OnlineStore, ServedLog
from streamfeat.serving.metrics import ServingMetrics
from streamfeat.serving.openapi import openapi_document

__all__ = ["MAX_BATCH", "MAX_BODY_BYTES", "MAX_KEY_BYTES", "FeatureService", "Reply", "SingleRead"]

log = logging.getLogger("streamfeat.serving")

#: Most entities one batch request may name.
MAX_BATCH = 1_000
#: Longest entity key, in UTF-8 bytes.
MAX_KEY_BYTES = 256
#: Largest request body: a full batch of the longest keys, JSON-escaped, fits.
MAX_BODY_BYTES = 2 * 1024 * 1024
#: Largest ``at`` accepted: 9999-12-31T23:59:59.999Z.
MAX_AT_MS = 253_402_300_799_999

_FEATURES_PREFIX = "/v1/features/"
_JSON = "application/json"
_PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"
_READY_PROBE_KEY = "\x00streamfeat-readyz"


@dataclass(frozen=True, slots=True)
class Reply:
    """A response: HTTP status, body, content type, the route label metrics count it under."""

    status: int
    body: bytes
    content_type: str = _JSON
    route: str = "other"
    allow: str | None = None  # the Allow header of a 405


@dataclass(frozen=True, slots=True)
class _View:
    name: str
    features: tuple[str, ...]
    feature_set: frozenset[str]


@dataclass(frozen=True, slots=True)
class SingleRead:
    """A checked single-entity read: view, entity, explicit ``at`` or None, feature subset or None."""

    view: _View
    entity: str
    at: int | None
    features: tuple[str, ...] | None


class _RequestError(Exception):
    """A client error: answered with ``status`` and a JSON body ``{"error", "message", ...}``."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.extra = status, code, extra

    def reply(self, route: str) -> Reply:
        body = orjson.dumps({"error": self.code, "message": str(self), **self.extra})
        return Reply(self.status, body, route=route)


def _error(status: int, code: str, message: str, route: str, **extra: Any) -> Reply:
    return _RequestError(status, code, message, **extra).reply(route)


class FeatureService:
    """Answers feature requests for ``views`` from ``store``.

    ``token``: when set, every route but ``/healthz`` and ``/readyz`` needs the header
    ``Authorization: Bearer TOKEN`` (compared in constant time). ``clock`` supplies
    the request time of reads without ``at`` (default: the wall clock). ``served_log``
    receives every answer (view, entity, as_of, values), for ``streamfeat parity``.
    """

    def __init__(
        self,
        store: OnlineStore,
        views: Sequence[FeatureView],
        *,
        clock: Clock | None = None,
        token: str | None = None,
        metrics: ServingMetrics | None = None,
        served_log: ServedLog | None = None,
    ) -> None:
        self.reader = FeatureReader(store, views, clock, served_log=served_log)
        self.metrics = ServingMetrics() if metrics is None else metrics
        self._store = store
        self._views = {v.name: _View(v.name, v.feature_names, frozenset(v.feature_names)) for v in views}
        self._fingerprints = {v.name: v.fingerprint() for v in views}
        self._known_views = sorted(self._views)
        self._token = None if token is None else ("Bearer " + token).encode()
        self._openapi = orjson.dumps(openapi_document(views))
        self._catalogue = orjson.dumps(
            {"views": [{"name": v.name, "entity": v.entity.name, "key": v.entity.key, "features": list(v.feature_names)}
                       for v in views]}
        )

    # -- entry point -----------------------------------------------------------------------

    def handle(self, method: str, target: str, authorization: bytes | None, body: bytes) -> Reply:
        """The reply to one request; never raises for anything a client can send."""
        path, _, query = target.partition("?")
        if path.startswith(_FEATURES_PREFIX):
            route = "features" if method == "GET" else "batch"
            if not self._authorized(authorization):
                return self._unauthorized(route)
            try:
                if method == "GET":
                    return self._answer_one(self._parse_single(path, query))
                if method == "POST":
                    return self._batch(path, query, body)
                return Reply(405, b'{"error":"method_not_allowed","message":"use GET (one entity) or POST '
                             b'(a batch)"}', route=route, allow="GET, POST")
            except _RequestError as exc:
                return exc.reply(route)
        return self._other(method, path, authorization)

    def _other(self, method: str, path: str, authorization: bytes | None) -> Reply:
        if path == "/healthz":
            return Reply(200, b'{"status":"ok"}', route="healthz") if method == "GET" else self._not_get("healthz")
        if path == "/readyz":
            return self._ready() if method == "GET" else self._not_get("readyz")
        route = {"/metrics": "metrics", "/openapi.json": "openapi", "/v1/views": "views"}.get(path, "other")
        if not self._authorized(authorization):
            return self._unauthorized(route)
        if route == "other":
            return _error(404, "not_found", f"no route {path!r}; see /openapi.json", route,
                          routes=["/v1/features/{view}/{entity}", "/v1/features/{view}", "/v1/views", "/healthz",
                                  "/readyz", "/metrics", "/openapi.json"])
        if method != "GET":
            return self._not_get(route)
        if route == "metrics":
            return Reply(200, self.metrics.render(), _PROMETHEUS, route)
        if route == "openapi":
            return Reply(200, self._openapi, route=route)
        return Reply(200, self._catalogue, route=route)

    # -- features --------------------------------------------------------------------------

    def single_read(self, target: str, authorization: bytes | None) -> SingleRead | Reply:
        """A ``GET /v1/features/{view}/{entity}`` parsed and checked, or the error reply.

        The server gathers the reads that arrive together and answers them with
        :meth:`answer_singles`: one store round trip for all of them."""
        if not self._authorized(authorization):
            return self._unauthorized("features")
        path, _, query = target.partition("?")
        try:
            return self._parse_single(path, query)
        except _RequestError as exc:
            return exc.reply("features")

    def answer_singles(self, reads: Sequence[SingleRead]) -> list[Reply]:
        """The replies to ``reads``, in order. Reads of one view as of the request time are
        answered from one ``get_many`` (one store round trip); reads with an explicit ``at``
        one by one (each may be refused as too early on its own)."""
        if len(reads) == 1:
            return [self._answer_one(reads[0])]
        replies: list[Reply | None] = [None] * len(reads)
        groups: dict[str, list[int]] = {}
        for i, read in enumerate(reads):
            if read.at is None:
                groups.setdefault(read.view.name, []).append(i)
            else:
                replies[i] = self._answer_one(read)
        for indexes in groups.values():
            view = reads[indexes[0]].view
            try:
                found = self._read(view, [reads[i].entity for i in indexes], None)
            except _RequestError as exc:
                if exc.status == 503:  # the store is down: every read of the group fails alike
                    for i in indexes:
                        replies[i] = exc.reply("features")
                    continue
                found = None  # one entity's state is unreadable: answer each alone, so only it fails
            for k, i in enumerate(indexes):
                replies[i] = self._answer_one(reads[i]) if found is None else self._reply_single(reads[i], found[k])
        return replies  # type: ignore[return-value]

    def _answer_one(self, read: SingleRead) -> Reply:
        try:
            return self._reply_single(read, self._read(read.view, [read.entity], read.at)[0])
        except _RequestError as exc:
            return exc.reply("features")

    def _reply_single(self, read: SingleRead, found: FeatureValues) -> Reply:
        return Reply(200, orjson.dumps(self._entity_json(found, read.features, with_view=True)), route="features")

    def _parse_single(self, path: str, query: str) -> SingleRead:
        view_name, sep, raw_entity = path[len(_FEATURES_PREFIX) :].partition("/")
        if not sep or not raw_entity or "/" in raw_entity:
            raise _RequestError(404, "not_found", "single-entity reads are GET /v1/features/{view}/{entity}")
        view = self._view(unquote(view_name))
        try:
            entity = self._entity(unquote(raw_entity, errors="strict"))
        except UnicodeDecodeError:
            raise _RequestError(400, "bad_entity", "the entity key is not percent-encoded UTF-8") from None
        at, features = self._query(query, view)
        return SingleRead(view, entity, at, features)

    def _batch(self, path: str, query: str, body: bytes) -> Reply:
        view_name = path[len(_FEATURES_PREFIX) :]
        if not view_name or "/" in view_name:
            raise _RequestError(404, "not_found", "batch reads are POST /v1/features/{view}")
        view = self._view(unquote(view_name))
        if query:
            raise _RequestError(400, "bad_query", "a batch takes its parameters in the JSON body, not the query")
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise _RequestError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
        if not isinstance(request, dict):
            raise _RequestError(400, "bad_request", 'the body must be a JSON object {"entities": [...]}')
        unknown = set(request) - {"entities", "features", "at"}
        if unknown:
            raise _RequestError(400, "bad_request", f"unknown body fields {sorted(unknown)}; "
                                "allowed: entities, features, at")
        entities = request.get("entities")
        if not isinstance(entities, list) or not entities:
            raise _RequestError(400, "bad_request", '"entities" must be a non-empty list of entity keys')
        if len(entities) > MAX_BATCH:
            raise _RequestError(413, "batch_too_large", f"{len(entities):,} entities in one batch; at most "
                                f"{MAX_BATCH:,} are allowed", max_batch=MAX_BATCH)
        for entity in entities:
            self._entity(entity)
        features = self._features(request.get("features"), view)
        at = self._at(request.get("at"))
        found = self._read(view, entities, at)
        results = [self._entity_json(values, features, with_view=False) for values in found]
        return Reply(200, orjson.dumps({"view": view.name, "results": results}), route="batch")

    def _read(self, view: _View, entities: list[str], at: int | None) -> list[FeatureValues]:
        try:
            found = self.reader.get_many(view.name, entities, at=at)
        except ReadTimeError as exc:
            raise _RequestError(400, "read_time_too_early", str(exc)) from None
        except OnlineStoreError as exc:
            self.metrics.store_error(view.name)
            log.warning("online store read failed: %s", exc)
            raise _RequestError(503, "store_unavailable", f"the online store failed: {exc}") from None
        except StateError as exc:
            log.error("stored state unreadable: %s", exc)
            raise _RequestError(500, "state_unreadable", str(exc)) from None
        self.metrics.entities(view.name, len(found))
        return found

    @staticmethod
    def _entity_json(found: FeatureValues, features: tuple[str, ...] | None, *, with_view: bool) -> dict[str, Any]:
        values = found.values if features is None else {name: found.values[name] for name in features}
        out: dict[str, Any] = {"entity": found.entity, "values": values, "event_time": found.event_time,
                               "as_of": found.as_of}
        if with_view:
            out = {"view": found.view, **out}
        return out

    # -- validation ------------------------------------------------------------------------

    def _view(self, name: str) -> _View:
        view = self._views.get(name)
        if view is None:
            raise _RequestError(404, "unknown_view", f"unknown feature view {name!r}", known_views=self._known_views)
        return view

    @staticmethod
    def _entity(entity: Any) -> str:
        if not isinstance(entity, str):
            raise _RequestError(400, "bad_entity", f"entity keys are strings, not {type(entity).__name__}")
        if not entity:
            raise _RequestError(400, "bad_entity", "an entity key cannot be empty")
        if len(entity) * 4 > MAX_KEY_BYTES and len(entity.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            raise _RequestError(400, "key_too_long", f"entity key longer than {MAX_KEY_BYTES} bytes (UTF-8)",
                                max_key_bytes=MAX_KEY_BYTES)
        return entity

    def _query(self, query: str, view: _View) -> tuple[int | None, tuple[str, ...] | None]:
        if not query:
            return None, None
        at: int | None = None
        features: tuple[str, ...] | None = None
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True, max_num_fields=8)
        except ValueError as exc:
            raise _RequestError(400, "bad_query", f"malformed query string: {exc}") from None
        for name, value in pairs:
            if name == "at" and at is None:
                if not value.isdigit() or not value.isascii():
                    raise _RequestError(400, "bad_at", f"at must be a time in UTC milliseconds, not {value!r}")
                at = self._at(int(value))
            elif name == "features" and features is None:
                features = self._features(value.split(","), view)
            else:
                raise _RequestError(400, "bad_query", f"unexpected query parameter {name!r}; "
                                    "allowed once each: at, features")
        return at, features

    @staticmethod
    def _at(at: Any) -> int | None:
        if at is None:
            return None
        if not isinstance(at, int) or isinstance(at, bool) or not 0 <= at <= MAX_AT_MS:
            raise _RequestError(400, "bad_at", f"at must be a time in UTC milliseconds (0..{MAX_AT_MS}), not {at!r}")
        return at

    @staticmethod
    def _features(names: Any, view: _View) -> tuple[str, ...] | None:
        if names is None:
            return None
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise _RequestError(400, "bad_features", "features must be a non-empty list of feature names")
        unknown = [n for n in names if n not in view.feature_set]
        if unknown:
            raise _RequestError(404, "unknown_feature", f"view {view.name!r} has no feature {unknown[0]!r}",
                                known_features=list(view.features))
        return tuple(dict.fromkeys(names))

    # -- auth and probes -------------------------------------------------------------------

    def _authorized(self, authorization: bytes | None) -> bool:
        if self._token is None:
            return True
        return authorization is not None and hmac.compare_digest(authorization, self._token)

    @staticmethod
    def _unauthorized(route: str) -> Reply:
        return _error(401, "unauthorized", "this server needs the header Authorization: Bearer TOKEN", route)

    @staticmethod
    def _not_get(route: str) -> Reply:
        return Reply(405, b'{"error":"method_not_allowed","message":"use GET"}', route=route, allow="GET")

    def _ready(self) -> Reply:
        """Ready when the store answers one keyed read (of a key no entity has)."""
        if not self._views:
            return Reply(200, b'{"status":"ready"}', route="readyz")
        name = self._known_views[0]
        started = time.perf_counter()
        try:
            self._store.get_raw(name, self._fingerprints[name], [_READY_PROBE_KEY])
        except OnlineStoreError as exc:
            self.metrics.store_error(name)
            return _error(503, "store_unavailable", f"the online store failed: {exc}", "readyz")
        ms = round((time.perf_counter() - started) * 1000, 3)
        return Reply(200, orjson.dumps({"status": "ready", "store_ms": ms}), route="readyz")
