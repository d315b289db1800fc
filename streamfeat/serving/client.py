"""A Python client of the feature server (standard library ``http.client`` + orjson).

:class:`Client` answers with the same :class:`~streamfeat.online.FeatureValues` as
the in-process :class:`~streamfeat.online.FeatureReader`, so code can switch
between reading over HTTP and reading the store directly::

    from streamfeat import Client
    client = Client("http://127.0.0.1:8000", token=None)
    client.get("user_txn", "u1").values["amount_sum_7d"]
    [v.values for v in client.get_many("user_txn", ["u1", "u2"], features=["count_1h"])]

One keep-alive connection per client, reopened once when the server has closed it
(reads are idempotent, so a retry is safe). A client may be shared by threads; its
requests then take turns on the connection.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlencode, urlsplit

import orjson

from streamfeat.errors import StreamfeatError
from streamfeat.online import FeatureValues

__all__ = ["Client", "ServingError"]


class ServingError(StreamfeatError):
    """The feature server answered an error (``status`` >= 400, ``code`` such as
    ``unknown_view``, ``detail`` the whole JSON body) or could not be reached
    (``status`` is ``None``, the cause chained)."""

    def __init__(self, message: str, *, status: int | None, code: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.detail = detail or {}


class Client:
    """Reads features from the server at ``url`` (``http://host:port``).

    ``token``: sent as ``Authorization: Bearer TOKEN``. ``timeout``: seconds per request.
    """

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ServingError(f"the feature server URL must be http://host:port, not {url!r}", status=None,
                               code="bad_url")
        self.url = url.rstrip("/")
        self._host, self._port = parts.hostname, parts.port or 80
        self._base = parts.path.rstrip("/")
        self._timeout = timeout
        self._headers = {"Accept": "application/json"}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None

    def get(
        self, view: str, entity: str, *, at: int | None = None, features: Sequence[str] | None = None
    ) -> FeatureValues:
        """The features of ``entity`` as of ``at`` (default: the server's request time)."""
        query: dict[str, str] = {}
        if at is not None:
            query["at"] = str(at)
        if features is not None:
            query["features"] = ",".join(features)
        path = f"{self._base}/v1/features/{quote(view, safe='')}/{quote(entity, safe='')}"
        if query:
            path += "?" + urlencode(query)
        found = self._request("GET", path, None)
        return FeatureValues(view=found["view"], entity=found["entity"], values=found["values"],
                             event_time=found["event_time"], as_of=found["as_of"])

    def get_many(
        self, view: str, entities: Sequence[str], *, at: int | None = None, features: Sequence[str] | None = None
    ) -> list[FeatureValues]:
        """The features of each of ``entities`` (at most 1,000), in order, from one request."""
        request: dict[str, Any] = {"entities": list(entities)}
        if at is not None:
            request["at"] = at
        if features is not None:
            request["features"] = list(features)
        found = self._request("POST", f"{self._base}/v1/features/{quote(view, safe='')}", orjson.dumps(request))
        name = found["view"]
        return [FeatureValues(view=name, entity=r["entity"], values=r["values"], event_time=r["event_time"],
                              as_of=r["as_of"]) for r in found["results"]]

    def views(self) -> list[dict[str, Any]]:
        """The served views: name, entity, key and feature names."""
        return self._request("GET", f"{self._base}/v1/views", None)["views"]

    def _request(self, method: str, path: str, body: bytes | None) -> dict[str, Any]:
        headers = self._headers if body is None else {**self._headers, "Content-Type": "application/json"}
        with self._lock:
            for attempt in (1, 2):
                conn = self._conn
                if conn is None:
                    conn = self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
                try:
                    conn.request(method, path, body=body, headers=headers)
                    response = conn.getresponse()
                    status, data = response.status, response.read()
                    if response.will_close:
                        conn.close()
                        self._conn = None
                    break
                except (http.client.HTTPException, OSError) as exc:
                    conn.close()
                    self._conn = None
                    # A kept-alive connection the server closed fails on first use: retry once on a new one.
                    if attempt == 2 or isinstance(exc, TimeoutError):
                        raise ServingError(f"cannot reach the feature server at {self.url}: {exc}", status=None,
                                           code="unreachable") from exc
        try:
            decoded = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ServingError(f"the feature server answered {status} with a body that is not JSON",
                               status=status, code="bad_response") from exc
        if status >= 400:
            code = decoded.get("error", "error") if isinstance(decoded, dict) else "error"
            message = decoded.get("message", "") if isinstance(decoded, dict) else ""
            raise ServingError(f"{status} {code}: {message}", status=status, code=code,
                               detail=decoded if isinstance(decoded, dict) else None)
        return decoded

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"
