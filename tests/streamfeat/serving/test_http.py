"""The HTTP transport: keep-alive, pipelining, 100-continue, HTTP/1.0, metrics, OpenAPI."""

from __future__ import annotations

import orjson

from tests.streamfeat.serving.conftest import OTHER, VIEW, Served
from tests.streamfeat.serving.test_errors import exchange, get, post


def test_pipelined_requests_are_answered_in_order_on_one_connection(served: Served) -> None:
    raw = b"".join([
        get(f"/v1/features/{VIEW.name}/alice"),
        post(f"/v1/features/{VIEW.name}", b'{"entities": ["bob", "alice"]}'),
        get(f"/v1/features/{VIEW.name}/bob?features=count_lifetime"),
        get("/healthz"),
        get(f"/v1/features/{VIEW.name}/nobody"),
        get("/nope"),
        get(f"/v1/features/{VIEW.name}/alice"),
    ])
    responses = exchange(served.url, raw)
    assert [r[0] for r in responses] == [200, 200, 200, 200, 200, 404, 200]
    bodies = [orjson.loads(r[2]) for r in responses]
    assert bodies[0]["entity"] == "alice" and bodies[0]["values"]["count_lifetime"] == 3
    assert [r["entity"] for r in bodies[1]["results"]] == ["bob", "alice"]
    assert bodies[2] == {**bodies[2], "entity": "bob", "values": {"count_lifetime": 2}}
    assert bodies[4]["entity"] == "nobody" and bodies[6] == bodies[0]
    assert all("connection" not in r[1] for r in responses)  # kept alive


def test_response_carries_values_event_time_and_as_of(served: Served) -> None:
    status, headers, body = exchange(served.url, get(f"/v1/features/{VIEW.name}/alice"))[0]
    assert status == 200 and headers["content-type"] == "application/json" and "date" in headers
    answer = orjson.loads(body)
    assert answer == {"view": VIEW.name, "entity": "alice", "values": served.reader.get(VIEW.name, "alice").values,
                      "event_time": answer["event_time"], "as_of": served.clock.now_ms()}


def test_expect_100_continue(served: Served) -> None:
    body = b'{"entities": ["alice"]}'
    raw = (f"POST /v1/features/{VIEW.name} HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode()
    import socket

    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(raw)
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")


def test_http_1_0_closes_after_the_answer(served: Served) -> None:
    responses = exchange(served.url, b"GET /healthz HTTP/1.0\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n")
    assert len(responses) == 1 and responses[0][1]["connection"] == "close"
    responses = exchange(served.url, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n")
    assert len(responses) == 1


def test_metrics_count_requests_latency_and_entities(served: Served) -> None:
    served.client.get(VIEW.name, "alice")
    served.client.get_many(VIEW.name, ["alice", "bob", "carol"])
    exchange(served.url, get("/v1/features/nope/alice"))
    status, headers, body = exchange(served.url, get("/metrics"))[0]
    text = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain")
    for line in (
        'streamfeat_serving_requests_total{code="200",route="features"} 1.0',
        'streamfeat_serving_requests_total{code="200",route="batch"} 1.0',
        'streamfeat_serving_requests_total{code="404",route="features"} 1.0',
        f'streamfeat_serving_entities_total{{view="{VIEW.name}"}} 4.0',
        'streamfeat_serving_request_seconds_count{route="features"} 2.0',
        'streamfeat_serving_request_seconds_bucket{le="0.001",route="batch"}',
        "streamfeat_serving_connections",
        "streamfeat_serving_store_errors_total",
    ):
        assert line in text, line


def test_openapi_describes_the_served_views(served: Served) -> None:
    status, _, body = exchange(served.url, get("/openapi.json"))[0]
    doc = orjson.loads(body)
    assert status == 200 and doc["openapi"].startswith("3.1")
    single = doc["paths"]["/v1/features/{view}/{entity}"]["get"]
    assert single["parameters"][0]["schema"]["enum"] == [VIEW.name, OTHER.name]
    batch = doc["paths"]["/v1/features/{view}"]["post"]
    assert batch["requestBody"]["content"]["application/json"]["schema"]["properties"]["entities"]["maxItems"] == 1000
    assert {"/healthz", "/readyz", "/metrics", "/v1/views"} <= doc["paths"].keys()
