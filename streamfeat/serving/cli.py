"""``streamfeat serve``: the HTTP feature server's command."""

from __future__ import annotations

import argparse
import os

__all__ = ["TOKEN_ENV", "add_command"]

#: Environment variable holding the bearer token when ``--token`` is not given.
TOKEN_ENV = "STREAMFEAT_SERVE_TOKEN"

_DESCRIPTION = f"""\
Serve the feature values of FEATURES.py's views over HTTP, read from the online store
the pipeline (`streamfeat run`) writes, each finalised as of the request time by the
same code streaming and backfill run (docs/semantics.md).

routes:
  GET  /v1/features/VIEW/ENTITY[?at=MS][&features=a,b]   one entity (ENTITY percent-encoded)
  POST /v1/features/VIEW   {{"entities": [...], "features"?: [...], "at"?: MS}}   up to 1,000 entities
  GET  /v1/views           served views and their features
  GET  /healthz            the process answers;  GET /readyz: the store answers a keyed read
  GET  /metrics            Prometheus: requests, latency histogram, store errors, connections
  GET  /openapi.json       the OpenAPI 3.1 description

A response carries each value, "event_time" (the event time of the entity's last
update) and "as_of" (the time the values were evaluated at). Errors are JSON
{{"error", "message"}}: unknown view or feature -> 404 listing the known ones; malformed
JSON, empty or over-long (256-byte) keys, bad parameters -> 400; over 1,000 entities or
an oversized body -> 413; online store down -> 503. Requests are keyed reads only:
nothing a client sends can scan the store or run code.

Auth: with --token (or ${TOKEN_ENV}) every route but /healthz and /readyz needs
"Authorization: Bearer TOKEN".

One process serves from one event loop on one core; the embedded store is opened
read-only, so it can run beside the writer. In Python: streamfeat.Client(URL).get(VIEW, ENTITY).
"""


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``serve`` to the ``streamfeat`` parser."""
    serve = commands.add_parser(
        "serve",
        help="serve feature values over HTTP (single and batch reads, health, metrics, OpenAPI)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("features", metavar="FEATURES.py", help="Python file defining the FeatureView objects to serve")
    serve.add_argument(
        "--online-store",
        metavar="PATH|redis://HOST:PORT/DB",
        help="embedded store file written by `streamfeat run` (default: STATE_DIR/online.lmdb) or a Redis URL",
    )
    serve.add_argument("--state-dir", default="streamfeat-state", help="where the default embedded store lives")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1; 0.0.0.0: all)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on; 0 picks a free one (default: 8000)")
    serve.add_argument(
        "--token",
        help=f"require 'Authorization: Bearer TOKEN' (default: ${TOKEN_ENV} if set; prefer the variable, "
        "command lines are visible to other users)",
    )
    serve.add_argument(
        "--redis-key-prefix", default="sf", help="key prefix of the Redis store, as the writer uses it (default: sf)"
    )
    serve.add_argument(
        "--store-timeout",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="Redis socket timeout: a dead server turns into 503s after this long (default: 1.0)",
    )
    serve.add_argument(
        "--keepalive-timeout", type=float, default=75.0, metavar="SECONDS",
        help="close idle keep-alive connections after this long (default: 75)",
    )
    serve.add_argument(
        "--log-served",
        metavar="PATH",
        help="append every answer (view, entity, as_of, values) to this JSON Lines file, for `streamfeat parity` "
        "to compare with a backfill of the same history (buffered; flushed every 1,000 answers and at exit)",
    )
    serve.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    import gc
    import signal
    import sys
    from pathlib import Path

    from streamfeat.errors import StreamfeatError
    from streamfeat.loader import load_views
    from streamfeat.online import (
        JsonlServedLog,
        OnlineStore,
        RedisStore,
        is_redis_target,
        online_store_target,
        open_embedded_store,
    )
    from streamfeat.serving.server import FeatureServer
    from streamfeat.serving.service import FeatureService

    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
    if token is not None and not token.strip():
        raise StreamfeatError("the bearer token is empty")
    views = load_views(args.features)
    target = online_store_target(args.online_store, args.state_dir)
    store: OnlineStore
    if is_redis_target(target):
        store = RedisStore(target, key_prefix=args.redis_key_prefix, socket_timeout=args.store_timeout)
    else:
        if not Path(target).is_file():
            raise StreamfeatError(f"no embedded online store at {target}; run `streamfeat run` first or give "
                                  "--online-store")
        store = open_embedded_store(target, readonly=True)
    served_log = None if args.log_served is None else JsonlServedLog(args.log_served)
    try:
        service = FeatureService(store, views, token=token, served_log=served_log)
        server = FeatureServer(service, host=args.host, port=args.port, keepalive_timeout=args.keepalive_timeout)

        def listening(srv: FeatureServer) -> None:
            import asyncio

            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, srv.stop)
            names = ", ".join(v.name for v in views)
            print(f"streamfeat serve: listening on {srv.url} (views: {names}; store: {target}; "
                  f"auth: {'bearer token' if token else 'none'})", flush=True)

        gc.freeze()  # definitions and operators are long-lived: keep them out of every collection
        try:
            server.serve_forever(listening)
        except OSError as exc:
            raise StreamfeatError(f"cannot listen on {args.host}:{args.port}: {exc}") from exc
    finally:
        store.close()
        if served_log is not None:
            served_log.close()
    print("streamfeat serve: stopped", file=sys.stderr)
    return 0
