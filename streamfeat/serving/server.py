"""The feature server's HTTP/1.1 transport: one asyncio event loop, no framework.

Why not ``http.server`` or a web framework: serving is CPU-bound Python, and the
per-request cost is what the latency targets measure. ``BaseHTTPRequestHandler``
parses headers with the ``email`` package and runs a thread per connection, whose
GIL hand-offs (every 5 ms by default) put multi-millisecond stalls into p99. This
module parses only what the routes need (request line, ``Content-Length``,
``Connection``, ``Authorization``, ``Expect``) with ``bytes`` methods on one thread,
keeps connections alive (HTTP/1.1 default), answers pipelined requests in order, and
writes each response with one ``transport.write``.

Store reads run on the loop thread, inline: one keyed round trip per request (tens of
microseconds on SQLite, one loopback round trip on Redis) costs less than handing it
to a thread pool. The Redis store is opened with a short socket timeout
(``--store-timeout``) so a dead server turns into prompt 503s. One process uses one
core; run one server per core behind a load balancer to use more.

Limits, each answered with a clear status and the connection closed: request head
over 16 KiB (431), request target over 8 KiB (414), body over
:data:`~streamfeat.serving.service.MAX_BODY_BYTES` (413), chunked bodies (411: send
``Content-Length``), malformed request line (400). Idle keep-alive connections are
closed after ``keepalive_timeout`` seconds, half-sent requests after ``request_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Any, Self

import orjson

from streamfeat.serving.service import MAX_BODY_BYTES, FeatureService, Reply, SingleRead

__all__ = ["FeatureServer"]

log = logging.getLogger("streamfeat.serving")

MAX_HEAD_BYTES = 16 * 1024
MAX_TARGET_BYTES = 8 * 1024

_REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
    411: "Length Required", 413: "Content Too Large", 414: "URI Too Long", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 503: "Service Unavailable", 505: "HTTP Version Not Supported",
}
_STATUS_LINES = {code: f"HTTP/1.1 {code} {reason}\r\n".encode() for code, reason in _REASONS.items()}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_UNAUTHORIZED_EXTRA = b"WWW-Authenticate: Bearer\r\n"
_FEATURES_PREFIX = "/v1/features/"
_INTERNAL = Reply(500, b'{"error":"internal","message":"unexpected server error; see the server log"}')


class _Dates:
    """The ``Date`` header, formatted once per second."""

    __slots__ = ("second", "header")

    def __init__(self) -> None:
        self.second = -1
        self.header = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.header = f"Date: {formatdate(now, usegmt=True)}\r\n".encode()
        return self.header


def _response(reply: Reply, date: bytes, close: bool) -> bytes:
    extra = b""
    if reply.status == 401:
        extra = _UNAUTHORIZED_EXTRA
    elif reply.allow is not None:
        extra = f"Allow: {reply.allow}\r\n".encode()
    if close:
        extra += b"Connection: close\r\n"
    body = reply.body
    return b"".join((
        _STATUS_LINES[reply.status], date, b"Content-Type: ", reply.content_type.encode(), b"\r\nContent-Length: ",
        str(len(body)).encode(), b"\r\n", extra, b"\r\n", body,
    ))


class _Connection(asyncio.Protocol):
    """One client connection: parse requests from the buffer, answer them in order."""

    __slots__ = ("server", "transport", "buffer", "last_active", "closing", "writing_paused", "continued", "waiting", "eof")

    def __init__(self, server: FeatureServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.last_active = time.monotonic()
        self.closing = False
        self.writing_paused = False
        self.continued = False  # "100 Continue" sent for the request being read
        self.waiting = False  # a single read of this connection awaits the gathered store read
        self.eof = False  # the client has finished sending (half-close): answer what it sent, then close

    # -- asyncio callbacks -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server._connections.add(self)
        self.server.service.metrics.connections.inc()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server._connections.discard(self)
        self.server.service.metrics.connections.dec()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.last_active = time.monotonic()
        if not self.writing_paused and not self.waiting:
            self._answer_buffered()

    def eof_received(self) -> bool:
        self.eof = True
        if not self.waiting and not self.writing_paused:
            self._answer_buffered()
        return True  # keep the transport open to answer; _answer_buffered closes it

    def pause_writing(self) -> None:  # the client does not read its responses: stop reading requests
        self.writing_paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()
            if not self.waiting:
                self._answer_buffered()

    # -- parsing ---------------------------------------------------------------------------

    def _answer_buffered(self) -> None:
        self._parse_and_answer()
        if self.eof and not self.waiting and not self.closing:
            self._close()  # whatever is left in the buffer is an incomplete request

    def _parse_and_answer(self) -> None:
        buffer = self.buffer
        while buffer and not self.closing and not self.writing_paused and not self.waiting:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    self._fail(431, "request_head_too_large", f"the request head exceeds {MAX_HEAD_BYTES} bytes")
                return
            if end > MAX_HEAD_BYTES:
                self._fail(431, "request_head_too_large", f"the request head exceeds {MAX_HEAD_BYTES} bytes")
                return
            head = buffer[:end].decode("latin-1")
            lines = head.split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                if len(parts) == 3 and parts[2].startswith("HTTP/"):
                    self._fail(505, "http_version", "only HTTP/1.0 and HTTP/1.1 are served")
                else:
                    self._fail(400, "bad_request_line", "malformed HTTP request line")
                return
            method, target, version = parts
            if len(target) > MAX_TARGET_BYTES:
                self._fail(414, "target_too_long", f"the request target exceeds {MAX_TARGET_BYTES} bytes")
                return
            length = 0
            keep_alive = version == "HTTP/1.1"
            authorization: bytes | None = None
            expect_continue = False
            for line in lines[1:]:
                name, colon, value = line.partition(":")
                if not colon:
                    self._fail(400, "bad_header", "malformed header line")
                    return
                name = name.lower()
                if name == "content-length":
                    value = value.strip()
                    if not value.isdigit():
                        self._fail(400, "bad_content_length", "Content-Length must be a number")
                        return
                    length = int(value)
                elif name == "authorization":
                    authorization = value.strip().encode("latin-1")
                elif name == "connection":
                    tokens = value.lower()
                    if "close" in tokens:
                        keep_alive = False
                    elif "keep-alive" in tokens:
                        keep_alive = True
                elif name == "transfer-encoding":
                    self._fail(411, "length_required", "chunked bodies are not accepted; send Content-Length")
                    return
                elif name == "expect":
                    expect_continue = value.strip().lower() == "100-continue"
            if length > MAX_BODY_BYTES:
                self._fail(413, "body_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
                return
            start = end + 4
            if len(buffer) < start + length:
                if expect_continue and not self.continued and self.transport is not None:
                    self.continued = True
                    self.transport.write(_CONTINUE)
                return
            body = bytes(buffer[start : start + length])
            del buffer[: start + length]
            self.continued = False
            started = time.perf_counter()
            if method == "GET" and target.startswith(_FEATURES_PREFIX):
                read = self._call(self.server.service.single_read, target, authorization)
                if isinstance(read, SingleRead):
                    # Answered with the other reads that arrive in this loop iteration, from one
                    # store round trip; this connection's next request waits (responses stay in order).
                    self.waiting = True
                    self.server._gather(self, read, keep_alive, started)
                    return
                self.respond(read, keep_alive, started)
            else:
                reply = self._call(self.server.service.handle, method, target, authorization, body)
                self.respond(reply, keep_alive, started)

    @staticmethod
    def _call(function: Callable[..., Any], *args: Any) -> Any:
        try:
            return function(*args)
        except Exception:  # a bug, not a client error: log it whole, answer 500, keep serving
            log.exception("unexpected error answering %s", str(args[:2])[:300])
            return _INTERNAL

    def respond(self, reply: Reply, keep_alive: bool, started: float) -> None:
        transport = self.transport
        if transport is None or self.closing:
            return
        transport.write(_response(reply, self.server._dates.get(), not keep_alive))
        self.server.service.metrics.observe(reply.route, reply.status, time.perf_counter() - started)
        if not keep_alive:
            self._close()

    def resume(self) -> None:
        """Continue with the requests buffered behind an answered single read."""
        self.waiting = False
        if not self.closing and not self.writing_paused:
            self._answer_buffered()

    def _fail(self, status: int, code: str, message: str) -> None:
        """Answer a request that cannot be parsed or read, then close the connection."""
        reply = Reply(status, orjson.dumps({"error": code, "message": message}))
        self.server.service.metrics.observe("other", status, 0.0)
        if self.transport is not None:
            self.transport.write(_response(reply, self.server._dates.get(), True))
        self._close()

    def _close(self) -> None:
        self.closing = True
        self.buffer.clear()
        if self.transport is not None:
            self.transport.close()


class FeatureServer:
    """Serves ``service`` over HTTP/1.1 on ``host:port`` (port 0: any free port).

    Use :meth:`serve_forever` in a program (``streamfeat serve``), or
    :meth:`start_in_thread` / :meth:`stop` to run it beside other code (tests)::

        with FeatureServer(service, port=0).start_in_thread() as server:
            Client(server.url).get("user_txn", "u1")
    """

    def __init__(
        self,
        service: FeatureService,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        keepalive_timeout: float = 75.0,
        request_timeout: float = 10.0,
        backlog: int = 1024,
    ) -> None:
        self.service = service
        self.host = host
        self.port = port
        self.keepalive_timeout = keepalive_timeout
        self.request_timeout = request_timeout
        self.backlog = backlog
        self._connections: set[_Connection] = set()
        self._dates = _Dates()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._gathered: list[tuple[_Connection, SingleRead, bool, float]] = []

    def _gather(self, connection: _Connection, read: SingleRead, keep_alive: bool, started: float) -> None:
        if not self._gathered:
            assert self._loop is not None
            self._loop.call_soon(self._answer_gathered)
        self._gathered.append((connection, read, keep_alive, started))

    def _answer_gathered(self) -> None:
        """Answer every single read gathered since the last call: under load, requests that
        arrive together share one store round trip (and one call's fixed costs)."""
        gathered, self._gathered = self._gathered, []
        replies = _Connection._call(self.service.answer_singles, [read for _, read, _, _ in gathered])
        if not isinstance(replies, list):
            replies = [replies] * len(gathered)
        for (connection, _, keep_alive, started), reply in zip(gathered, replies):
            connection.respond(reply, keep_alive, started)
        for connection, _, _, _ in gathered:
            connection.resume()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def serve(self, on_listening: Callable[[FeatureServer], None] | None = None) -> None:
        """Listen and answer until :meth:`stop`."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stopped = asyncio.Event()
        sock = socket.create_server(
            (self.host, self.port), family=socket.AF_INET6 if ":" in self.host else socket.AF_INET,
            backlog=self.backlog, reuse_port=False,
        )
        server = await loop.create_server(lambda: _Connection(self), sock=sock, backlog=self.backlog)
        self.port = sock.getsockname()[1]
        sweeper = loop.create_task(self._sweep())
        try:
            if on_listening is not None:
                on_listening(self)
            self._ready.set()
            await self._stopped.wait()
        finally:
            sweeper.cancel()
            server.close()
            for connection in list(self._connections):
                connection._close()
            await server.wait_closed()

    async def _sweep(self) -> None:
        """Close idle keep-alive connections and half-sent requests, once a second."""
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for connection in list(self._connections):
                idle = now - connection.last_active
                limit = self.request_timeout if connection.buffer else self.keepalive_timeout
                if idle > limit:
                    connection._close()

    def serve_forever(self, on_listening: Callable[[FeatureServer], None] | None = None) -> None:
        """Run the server on a new event loop in this thread until :meth:`stop` (or a signal handler calls it)."""
        asyncio.run(self.serve(on_listening))

    def stop(self) -> None:
        """Stop listening and close every connection; thread-safe. Joins the thread of :meth:`start_in_thread`."""
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopped.set)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
            self._thread = None

    def start_in_thread(self) -> Self:
        """Serve from a daemon thread; returns once listening (:attr:`url` is then set)."""

        def run() -> None:
            try:
                self.serve_forever()
            except BaseException as exc:  # handed to the starting thread, which raises it
                self._failure = exc
                self._ready.set()

        self._thread = threading.Thread(target=run, name="streamfeat-serve", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._failure is not None:
            raise self._failure
        return self

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
