"""Bad requests get clear 4xx answers; the store being down gets 503s; nothing crashes the server."""

from __future__ import annotations

import socket
from urllib.parse import quote

import orjson
import pytest

from streamfeat.online import RedisStore
from streamfeat.serving.client import Client, ServingError
from streamfeat.serving.service import MAX_BATCH, MAX_BODY_BYTES, MAX_KEY_BYTES
from tests.streamfeat.serving.conftest import OTHER, VIEW, Served, start


def exchange(url: str, raw: bytes, *, timeout: float = 5.0) -> list[tuple[int, dict[str, str], bytes]]:
    """Send raw bytes on one connection; read every response until the server closes or goes quiet."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    responses = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        responses.append((int(lines[0].split(" ")[1]), headers, rest[:length]))
        data = rest[length:]
    return responses


def status_of(url: str, raw: bytes) -> tuple[int, dict]:
    status, _, body = exchange(url, raw)[0]
    return status, orjson.loads(body)


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()


def post(path: str, body: bytes, extra: str = "") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def test_unknown_view_lists_known_views(served: Served) -> None:
    with pytest.raises(ServingError) as raised:
        served.client.get("nope", "alice")
    assert raised.value.status == 404 and raised.value.code == "unknown_view"
    assert raised.value.detail["known_views"] == sorted([VIEW.name, OTHER.name])
    with pytest.raises(ServingError) as raised:
        served.client.get_many("nope", ["alice"])
    assert raised.value.status == 404 and raised.value.detail["known_views"] == sorted([VIEW.name, OTHER.name])


def test_unknown_feature_lists_known_features(served: Served) -> None:
    for call in (lambda: served.client.get(VIEW.name, "alice", features=["count_lifetime", "nope"]),
                 lambda: served.client.get_many(VIEW.name, ["alice"], features=["nope"])):
        with pytest.raises(ServingError) as raised:
            call()
        assert raised.value.status == 404 and raised.value.code == "unknown_feature"
        assert raised.value.detail["known_features"] == list(VIEW.feature_names)


def test_oversized_batch_is_413(served: Served) -> None:
    with pytest.raises(ServingError) as raised:
        served.client.get_many(VIEW.name, [f"u{i}" for i in range(MAX_BATCH + 1)])
    assert raised.value.status == 413 and raised.value.code == "batch_too_large"
    assert len(served.client.get_many(VIEW.name, [f"u{i}" for i in range(MAX_BATCH)])) == MAX_BATCH


def test_body_over_the_limit_is_413_before_it_is_read(served: Served) -> None:
    raw = f"POST /v1/features/{VIEW.name} HTTP/1.1\r\nHost: t\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
    status, body = status_of(served.url, raw.encode())
    assert status == 413 and body["error"] == "body_too_large"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "malformed_json"),
        (b"[1, 2]", "bad_request"),
        (b'{"entities": []}', "bad_request"),
        (b'{"entities": "alice"}', "bad_request"),
        (b'{"entities": ["alice", 3]}', "bad_entity"),
        (b'{"entities": [""]}', "bad_entity"),
        (b'{"entities": ["alice"], "at": "yesterday"}', "bad_at"),
        (b'{"entities": ["alice"], "at": true}', "bad_at"),
        (b'{"entities": ["alice"], "at": -1}', "bad_at"),
        (b'{"entities": ["alice"], "features": "count_lifetime"}', "bad_features"),
        (b'{"entities": ["alice"], "code": "import os"}', "bad_request"),
    ],
)
def test_malformed_batches_are_400(served: Served, body: bytes, code: str) -> None:
    status, answer = status_of(served.url, post(f"/v1/features/{VIEW.name}", body))
    assert (status, answer["error"]) == (400, code)
    assert answer["message"]


def test_over_long_key_is_400(served: Served) -> None:
    longest = "k" * MAX_KEY_BYTES
    assert served.client.get(VIEW.name, longest).entity == longest
    for call in (lambda: served.client.get(VIEW.name, longest + "k"),
                 lambda: served.client.get(VIEW.name, "é" * (MAX_KEY_BYTES // 2 + 1)),  # 2 bytes each in UTF-8
                 lambda: served.client.get_many(VIEW.name, ["alice", longest + "k"])):
        with pytest.raises(ServingError) as raised:
            call()
        assert raised.value.status == 400 and raised.value.code == "key_too_long"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        (f"/v1/features/{VIEW.name}/alice?at=soon", 400, "bad_at"),
        (f"/v1/features/{VIEW.name}/alice?at=-5", 400, "bad_at"),
        (f"/v1/features/{VIEW.name}/alice?limit=10", 400, "bad_query"),
        (f"/v1/features/{VIEW.name}/alice?at=1&at=2", 400, "bad_query"),
        (f"/v1/features/{VIEW.name}/alice?features=", 404, "unknown_feature"),
        (f"/v1/features/{VIEW.name}/%FF%FE", 400, "bad_entity"),
        (f"/v1/features/{VIEW.name}/a/b", 404, "not_found"),
        (f"/v1/features/{VIEW.name}", 404, "not_found"),
        ("/v1/entities", 404, "not_found"),
        ("/", 404, "not_found"),
    ],
)
def test_bad_paths_and_queries(served: Served, path: str, status: int, code: str) -> None:
    got, answer = status_of(served.url, get(path))
    assert (got, answer["error"]) == (status, code)


def test_wrong_methods_are_405_with_allow(served: Served) -> None:
    status, headers, _ = exchange(served.url, f"DELETE /v1/features/{VIEW.name}/alice HTTP/1.1\r\n\r\n".encode())[0]
    assert status == 405 and headers["allow"] == "GET, POST"
    status, headers, _ = exchange(served.url, post("/healthz", b"{}"))[0]
    assert status == 405 and headers["allow"] == "GET"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"garbage\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
        (b"POST /v1/features/user_txn HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
        (b"GET /healthz HTTP/1.1\r\nX-Big: " + b"x" * 20_000 + b"\r\n\r\n", 431),
        (b"GET /" + b"x" * 9_000 + b" HTTP/1.1\r\n\r\n", 414),
    ],
)
def test_unparseable_requests_close_the_connection(served: Served, raw: bytes, status: int) -> None:
    responses = exchange(served.url, raw)
    assert [r[0] for r in responses] == [status]
    assert responses[0][1]["connection"] == "close"
    assert served.client.get(VIEW.name, "alice").entity == "alice"  # the server carries on


def test_bearer_token(store) -> None:  # type: ignore[no-untyped-def]
    running = start(store, token="s3cret")
    try:
        assert running.client.get(VIEW.name, "alice").values["count_lifetime"] == 3
        for client in (Client(running.url), Client(running.url, token="wrong")):
            with pytest.raises(ServingError) as raised:
                client.get(VIEW.name, "alice")
            assert raised.value.status == 401
            with pytest.raises(ServingError):
                client.get_many(VIEW.name, ["alice"])
            with pytest.raises(ServingError):
                client.views()
        status, headers, _ = exchange(running.url, get("/metrics"))[0]
        assert status == 401 and headers["www-authenticate"] == "Bearer"
        assert exchange(running.url, get("/healthz"))[0][0] == 200  # probes need no token
        assert exchange(running.url, get("/readyz"))[0][0] == 200
    finally:
        running.server.stop()


def test_store_down_is_503_and_counted(redis_url: str) -> None:  # noqa: ARG001 - a real server exists
    """A Redis store on a port nothing listens on: reads fail fast with 503, the server stays up."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    dead = RedisStore(f"redis://127.0.0.1:{free_port}/0", socket_timeout=0.5)
    running = start(dead)
    try:
        with pytest.raises(ServingError) as raised:
            running.client.get(VIEW.name, "alice")
        assert raised.value.status == 503 and raised.value.code == "store_unavailable"
        with pytest.raises(ServingError) as raised:
            running.client.get_many(VIEW.name, ["alice", "bob"])
        assert raised.value.status == 503
        assert exchange(running.url, get("/readyz"))[0][0] == 503
        assert exchange(running.url, get("/healthz"))[0][0] == 200
        metrics = exchange(running.url, get("/metrics"))[0][2].decode()
        assert f'streamfeat_serving_store_errors_total{{view="{VIEW.name}"}} 2.0' in metrics  # /readyz probed user_other
        assert 'streamfeat_serving_requests_total{code="503",route="features"} 1.0' in metrics
    finally:
        running.server.stop()
        dead.close()


def test_percent_encoded_view_name(served: Served) -> None:
    status, answer = status_of(served.url, get(f"/v1/features/{quote(VIEW.name)}/alice"))
    assert status == 200 and answer["values"]["count_lifetime"] == 3
