"""Serving latency and throughput: ``streamfeat serve`` over loopback, and the in-process reader.

Run ``python -m benchmarks.serving [--events N] [--seconds S] [--quick] [--redis URL] [--out DIR]``.

One run:

1. applies the first N events of W1 (arrival order; times shifted so the last arrival
   is one second before the run starts, so reads "as of now" see live windows) with
   the example features' operator, and writes every entity's state to a fresh
   embedded store (SQLite, in a temporary folder) and to Redis under a key prefix of
   its own (``--redis`` / ``STREAMFEAT_REDIS_URL``, else ``deploy/local/redis.sh`` on
   port 16479), deleted at the end;
2. in-process reads: ``FeatureReader.get`` of stored entities drawn uniformly (seeded),
   timed one by one in a fresh process holding only the reader — embedded, Redis, and
   embedded rows without published values (the decode path);
3. for each store, starts ``streamfeat serve`` in a subprocess (port 0) and drives it
   from this process with its own load generator (:class:`LoadGenerator`: raw asyncio
   sockets, keep-alive connections, pre-built requests):

   * single entity, open loop at ``--rate`` requests/s (default 2,000) for S seconds;
   * single entity, closed loop (each of C connections sends its next request when its
     answer arrives): the most requests/s the server answers;
   * batch of 100 entities, open loop at ``--batch-rate`` requests/s, and closed loop.

   Latency is measured by the generator, from the moment a request is due (its slot in
   the open-loop schedule, or when its predecessor answered in the closed loop) to the
   last byte of its answer: queueing on a busy connection counts; the generator's own
   timer granularity (the event loop sleeps in whole milliseconds) does not, and is
   reported as the schedule lag. Non-200 answers are counted and fail the run;
4. writes ``benchmarks/results/serving.{json,md}`` (written by the run, never by hand).

The generator and the server are two processes, one core each on a two-core machine;
other work on the machine shows in the load average the report records.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from benchmarks._common import REPO, RESULTS_DIR, machine, write_results
from streamfeat.build import build_view
from streamfeat.clock import DAY_MS
from streamfeat.definitions import FeatureView
from streamfeat.loader import EXAMPLE_FEATURES, load_views
from streamfeat.online import FeatureReader, LmdbStore, OnlineStore, RedisStore, StoredEntity, open_embedded_store
from streamfeat.workload import W1, WorkloadSpec, generate

DEFAULT_EVENTS = 1_000_000
QUICK_EVENTS = 20_000
DEFAULT_SECONDS = 10.0
QUICK_SECONDS = 1.0
SINGLE_RATE = 2_000  # requests/s, the target's rate
BATCH_RATE = 50  # batch-100 requests/s (5,000 entities/s)
BATCH_SIZE = 100
CONNECTIONS = 8  # open-loop connection pool
CLOSED_CONNECTIONS = 4
IN_PROCESS_READS = 20_000
QUICK_IN_PROCESS_READS = 2_000
REQUEST_POOL = 4_096  # distinct pre-built requests, cycled
REDIS_PORT = 16479  # the benchmark's own local Redis, when none is given (tests use 16379)
REDIS_SH = REPO / "deploy" / "local" / "redis.sh"
SEED = 11
TARGETS = {"single_p99_ms": 2.0, "single_rate": SINGLE_RATE, "batch100_p99_ms": 10.0, "in_process_p99_us": 50.0}


# -- data ----------------------------------------------------------------------------------


def build_states(
    view: FeatureView, events: int, end_ms: int, *, publish_values: bool = True
) -> tuple[dict[str, StoredEntity], dict[str, Any]]:
    """Every entity's stored row after the first ``events`` events of W1, times shifted to end at ``end_ms``
    (with its values as of ``end_ms``, as the pipeline publishes them, unless ``publish_values`` is off)."""
    probe = generate(W1, limit=events)
    shift = (end_ms - int(probe.arrival.max())) // DAY_MS * DAY_MS  # whole days: tiles and refreshes stay aligned
    spec = WorkloadSpec(**{**{f: getattr(W1, f) for f in W1.__dataclass_fields__}, "start_ms": W1.start_ms + shift})
    batch = generate(spec, limit=events)
    op = build_view(view)
    users = batch.user_ids()
    columns = {"user_id": users, "merchant_id": batch.merchant_ids(), "amount": batch.amount.tolist()}
    states: dict[Any, Any] = {}
    started = time.perf_counter()
    op.apply_batch(states, users, batch.event_time.tolist(), batch.arrival.tolist(), op.columns_for(columns))
    at = end_ms if publish_values else None
    rows = {str(entity): StoredEntity.of(op, state, at=at) for entity, state in states.items()}
    sizes = sorted(len(r.state) for r in rows.values())
    info = {
        "events": events,
        "entities": len(rows),
        "time_shift_days": shift // DAY_MS,
        "last_arrival_ms": int(batch.arrival.max()),
        "event_time_span_days": round((int(batch.event_time.max()) - int(batch.event_time.min())) / DAY_MS, 1),
        "apply_s": round(time.perf_counter() - started, 2),
        "state_bytes": {"p50": sizes[len(sizes) // 2], "p99": sizes[int(len(sizes) * 0.99)], "max": sizes[-1],
                        "mean": round(sum(sizes) / len(sizes))},
    }
    return rows, info


def write_rows(store: OnlineStore, view: FeatureView, rows: dict[str, StoredEntity]) -> None:
    items = list(rows.items())
    for start in range(0, len(items), 5_000):
        store.write(view.name, view.fingerprint(), dict(items[start : start + 5_000]))


# -- measurements --------------------------------------------------------------------------


def percentiles(samples_s: Sequence[float]) -> dict[str, float]:
    """p50 / p99 / p999 / max in milliseconds."""
    if not samples_s:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "p999_ms": float("nan"), "max_ms": float("nan")}
    ordered = sorted(samples_s)
    n = len(ordered)

    def at(q: float) -> float:
        return round(ordered[min(n - 1, int(q * n))] * 1000, 3)

    return {"p50_ms": at(0.5), "p99_ms": at(0.99), "p999_ms": at(0.999), "max_ms": round(ordered[-1] * 1000, 3)}


def in_process_figures(samples: list[float], entities: list[str], rows: dict[str, StoredEntity]) -> dict[str, Any]:
    """Latency figures of :func:`timed_reads`, and how many of its reads the published
    values covered."""
    reads = len(samples)
    rng = random.Random(SEED)
    picks = [rng.choice(entities) for _ in range(reads)]
    now = time.time_ns() // 1_000_000
    covered = sum(1 for e in picks if (c := rows[e].cached) is not None and c.valid_from <= now < c.valid_until)
    stats = percentiles(samples)
    return {"reads": reads, "p50_us": round(stats["p50_ms"] * 1000, 1), "p99_us": round(stats["p99_ms"] * 1000, 1),
            "p999_us": round(stats["p999_ms"] * 1000, 1), "mean_us": round(sum(samples) / len(samples) * 1e6, 1),
            "from_published_values_percent": round(100 * covered / reads, 2)}


def timed_reads(reader: FeatureReader, view: str, entities: list[str], reads: int) -> list[float]:
    """Seconds per read of ``reads`` seeded uniform draws, after as many warm-up reads."""
    warm = random.Random(SEED + 1)
    for _ in range(reads):
        reader.get(view, warm.choice(entities))
    rng = random.Random(SEED)
    picks = [rng.choice(entities) for _ in range(reads)]
    clock = time.perf_counter
    samples = []
    get = reader.get
    for entity in picks:
        t0 = clock()
        get(view, entity)
        samples.append(clock() - t0)
    return samples


def in_process_child(store_spec: str, prefix: str, entities: list[str], reads: int) -> list[float]:
    """:func:`timed_reads` in a fresh process holding nothing but the reader, as a serving
    process would (this one holds the benchmark's data, whose garbage collection would
    otherwise land in the timings)."""
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as handle:
        handle.write(orjson.dumps(entities))
    code = (
        "import sys, orjson\n"
        "from benchmarks.serving import child_reads\n"
        "sys.stdout.buffer.write(orjson.dumps(child_reads(*sys.argv[1:4], int(sys.argv[4]))))\n"
    )
    try:
        done = subprocess.run([sys.executable, "-c", code, store_spec, prefix, handle.name, str(reads)],
                              capture_output=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                              timeout=600, check=False)
    finally:
        os.unlink(handle.name)
    if done.returncode != 0:
        raise SystemExit(f"in-process reader failed: {done.stderr.decode()[-2000:]}")
    return orjson.loads(done.stdout)


def child_reads(store_spec: str, prefix: str, entities_path: str, reads: int) -> list[float]:
    """The reading process of :func:`in_process_child`."""
    view = load_views(EXAMPLE_FEATURES)[0]
    entities = orjson.loads(Path(entities_path).read_bytes())
    if store_spec.startswith("redis"):
        store: OnlineStore = RedisStore(store_spec, key_prefix=prefix)
    else:
        store = open_embedded_store(store_spec, readonly=True)
    with store:
        return timed_reads(FeatureReader(store, [view]), view.name, entities, reads)


class _Conn(asyncio.Protocol):
    """One keep-alive client connection; reports each whole response (Content-Length framed)
    to its generator by callback: no task or future per request, so the generator stays cheap."""

    def __init__(self, generator: LoadGenerator) -> None:
        self.generator = generator
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.due = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, data: bytes, due: float) -> None:
        self.due = due
        assert self.transport is not None
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        at = buffer.find(b"Content-Length: ", 0, end)
        length = int(buffer[at + 16 : buffer.find(b"\r\n", at, end + 2)]) if at >= 0 else 0
        if len(buffer) < end + 4 + length:
            return
        status = int(buffer[9:12])
        del buffer[: end + 4 + length]
        self.generator._answered(self, status, time.perf_counter() - self.due)

    def connection_lost(self, exc: Exception | None) -> None:
        self.generator._lost(exc)


class LoadGenerator:
    """Drives an HTTP server on ``host:port`` with pre-built ``requests`` (cycled), from one
    asyncio loop: an open-loop schedule or closed-loop connections."""

    def __init__(self, host: str, port: int, requests: list[bytes]) -> None:
        self.host, self.port, self.requests = host, port, requests
        self._reset()

    def _reset(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self._idle: list[_Conn] = []
        self._backlog: collections.deque[tuple[bytes, float]] = collections.deque()
        self._expected = 0
        self._closed_loop_until: float | None = None
        self._next = 0
        self._finished: asyncio.Future[None] | None = None

    async def _connect(self, count: int) -> list[_Conn]:
        loop = asyncio.get_running_loop()
        conns = []
        for _ in range(count):
            _, conn = await loop.create_connection(lambda: _Conn(self), self.host, self.port)
            conns.append(conn)
        return conns

    def _answered(self, conn: _Conn, status: int, latency: float) -> None:
        self.latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if self._closed_loop_until is not None:
            now = time.perf_counter()
            if now < self._closed_loop_until:
                conn.send(self.requests[self._next % len(self.requests)], now)
                self._next += 1
                return
        elif self._backlog:
            conn.send(*self._backlog.popleft())
            return
        self._idle.append(conn)
        done = len(self.latencies) >= self._expected if self._closed_loop_until is None else \
            len(self._idle) == self._connections
        if done and self._finished is not None and not self._finished.done():
            self._finished.set_result(None)

    def _lost(self, exc: Exception | None) -> None:
        if self._finished is not None and not self._finished.done():
            self._finished.set_exception(ConnectionError(f"the server closed a connection: {exc}"))

    async def open_loop(self, rate: float, seconds: float, connections: int) -> dict[str, Any]:
        """Requests due at a fixed rate; each goes out on an idle connection, or waits for one."""
        self._reset()
        conns = await self._connect(connections)
        self._connections = connections
        self._idle = list(conns)
        self._finished = asyncio.get_running_loop().create_future()
        total = self._expected = int(rate * seconds)
        lags: list[float] = []
        requests, clock, idle, backlog = self.requests, time.perf_counter, self._idle, self._backlog
        interval = 1.0 / rate
        start = clock() + 0.05
        sent = 0
        while sent < total:
            now = clock()
            # every request whose slot has come; its latency runs from when the generator woke for it
            while sent < total and start + sent * interval <= now:
                lags.append(now - (start + sent * interval))
                data = requests[sent % len(requests)]
                if idle:
                    idle.pop().send(data, now)
                else:
                    backlog.append((data, now))
                sent += 1
            if sent < total:
                await asyncio.sleep(max(0.0, start + sent * interval - clock()))
        await self._finished
        elapsed = clock() - start
        self._close(conns)
        return {"mode": "open loop", "target_rate": rate, "connections": connections, "requests": total,
                "achieved_rate": round(total / elapsed), "statuses": {str(k): v for k, v in self.statuses.items()},
                **percentiles(self.latencies), "schedule_lag_p99_ms": percentiles(lags)["p99_ms"]}

    async def closed_loop(self, seconds: float, connections: int) -> dict[str, Any]:
        """Each connection sends its next request as soon as its answer arrives."""
        self._reset()
        conns = await self._connect(connections)
        self._connections = connections
        self._finished = asyncio.get_running_loop().create_future()
        clock = time.perf_counter
        started = clock()
        self._closed_loop_until = started + seconds
        for conn in conns:
            conn.send(self.requests[self._next % len(self.requests)], clock())
            self._next += 1
        await self._finished
        elapsed = clock() - started
        self._close(conns)
        return {"mode": "closed loop", "connections": connections, "requests": len(self.latencies),
                "achieved_rate": round(len(self.latencies) / elapsed), "statuses": {str(k): v for k, v in self.statuses.items()},
                **percentiles(self.latencies)}

    def _close(self, conns: list[_Conn]) -> None:
        self._finished = None
        for conn in conns:
            assert conn.transport is not None
            conn.transport.close()


def single_requests(view: str, entities: list[str], rng: random.Random) -> list[bytes]:
    return [f"GET /v1/features/{view}/{rng.choice(entities)} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
            for _ in range(REQUEST_POOL)]


def batch_requests(view: str, entities: list[str], rng: random.Random, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        body = orjson.dumps({"entities": rng.sample(entities, BATCH_SIZE)})
        out.append(f"POST /v1/features/{view} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return out


@contextmanager
def serve_process(store_args: list[str]) -> Iterator[tuple[str, int, subprocess.Popen[str]]]:
    """``streamfeat serve`` on a free loopback port; yields (host, port, process)."""
    command = [sys.executable, "-m", "streamfeat.cli", "serve", str(EXAMPLE_FEATURES), "--port", "0", *store_args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"listening on http://([\d.]+):(\d+)", line)
        if found is None:
            proc.kill()
            raise SystemExit(f"streamfeat serve did not start: {line}{proc.communicate()[1][-2000:]}")
        yield found.group(1), int(found.group(2)), proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def scrape_histogram(host: str, port: int, route: str) -> dict[float, float]:
    """The server's own latency histogram for ``route`` (cumulative counts by bucket bound), from /metrics."""
    import urllib.request

    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    pattern = re.compile(r'streamfeat_serving_request_seconds_bucket\{le="([^"]+)",route="' + route + r'"\} (\S+)')
    return {float(le): float(n) for le, n in pattern.findall(text)}


def server_side(before: dict[float, float], after: dict[float, float]) -> dict[str, Any]:
    """Bucket bounds (ms) under which 50 % / 99 % of the run's requests were processed, server side:
    from the request read to its response written, excluding the network, kernel and generator."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0

    def bound(q: float) -> float | None:
        for b, n in zip(bounds, counts):
            if n >= q * total:
                return None if b == float("inf") else round(b * 1000, 3)
        return None

    return {"server_requests": int(total), "server_p50_ms_at_most": bound(0.5), "server_p99_ms_at_most": bound(0.99)}


def _server_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_runs(store_args: list[str], view: str, entities: list[str], seconds: float, rate: int,
              batch_rate: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    singles = single_requests(view, entities, rng)
    batches = batch_requests(view, entities, rng, max(64, int(batch_rate * seconds) + 1))
    out: dict[str, Any] = {}
    with serve_process(store_args) as (host, port, proc):
        single_gen, batch_gen = LoadGenerator(host, port, singles), LoadGenerator(host, port, batches)

        async def measure(name: str, coro_factory: Any) -> None:
            route = "batch" if name.startswith("batch") else "features"
            histogram = scrape_histogram(host, port, route)
            cpu0, t0 = _server_cpu_s(proc.pid), time.perf_counter()
            result = await coro_factory()
            result["server_cpu_percent"] = round(100 * (_server_cpu_s(proc.pid) - cpu0) / (time.perf_counter() - t0))
            result.update(server_side(histogram, scrape_histogram(host, port, route)))
            out[name] = result
            print(f"  {name}: {result['achieved_rate']:,} req/s, p50 {result['p50_ms']} ms, "
                  f"p99 {result['p99_ms']} ms, statuses {result['statuses']}", flush=True)

        async def run_all() -> None:
            await single_gen.closed_loop(min(1.0, seconds), 2)  # warm up
            await measure("single_open", lambda: single_gen.open_loop(rate, seconds, CONNECTIONS))
            await measure("single_closed", lambda: single_gen.closed_loop(seconds, CLOSED_CONNECTIONS))
            await measure("batch100_open", lambda: batch_gen.open_loop(batch_rate, seconds, CONNECTIONS))
            await measure("batch100_closed", lambda: batch_gen.closed_loop(seconds, 1))

        asyncio.run(run_all())
    for name, result in out.items():
        bad = {s: n for s, n in result["statuses"].items() if s != "200"}
        if bad:
            raise SystemExit(f"{name}: the server answered non-200 statuses {bad}")
    return out


# -- report --------------------------------------------------------------------------------


def _verdict(value: float, limit: float) -> str:
    return "meets" if value <= limit else "misses"


def markdown(r: dict[str, Any]) -> str:
    m, d = r["machine"], r["data"]
    lines = [
        "# serving benchmark (streamfeat serve and the in-process reader)",
        "",
        f"Written by `{r['command']}` on {r['timestamp']} — do not edit by hand.",
        "",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, {m['python']}; load average at start "
        f"{m['load_average_at_start']}, at end {r['load_average_at_end']}; git {m['git_commit']}"
        + (" (with uncommitted changes to operators/ or streamfeat/)" if m["git_dirty"] else ""),
        f"- data: first {d['events']:,} events of W1 (times shifted {d['time_shift_days']} days to end now), "
        f"{d['entities']:,} entities, example features (7, view user_txn); state bytes per entity p50 "
        f"{d['state_bytes']['p50']:,}, p99 {d['state_bytes']['p99']:,}, max {d['state_bytes']['max']:,}",
        f"- requests: entities drawn uniformly from the stored ones (seed {SEED}); load generator in this process "
        f"(asyncio, keep-alive), server `streamfeat serve` in another; {r['parameters']['seconds']} s per run",
        "",
        "## In-process reads (`FeatureReader.get`)",
        "",
        "| store | rows | reads | answered from published values | p50 µs | p99 µs | p99.9 µs | mean µs | "
        "target p99 ≤ 50 µs |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, res in r["in_process"].items():
        store, _, kind = name.partition(" ")
        rows = "state only" if kind else "state + values"
        lines.append(f"| {store} | {rows} | {res['reads']:,} | {res['from_published_values_percent']} % | "
                     f"{res['p50_us']} | {res['p99_us']} | {res['p999_us']} | {res['mean_us']} | "
                     f"{_verdict(res['p99_us'], TARGETS['in_process_p99_us'])} |")
    lines += [
        "",
        "Rows hold what the pipeline publishes: each entity's state and its values as of the write, with the span "
        "they hold for (`ViewOperator.next_change`; here the daily-refreshed count's next publication bounds most "
        "spans). Reads inside the span answer from the values; others decode the state. The state-only rows "
        "(`streamfeat run --no-publish-values`) show the decode path on the same data in the same run. Each "
        "store's reads run in a fresh process that holds only the reader, as a serving process would, after "
        "as many warm-up reads of another seeded draw.",
    ]
    lines += [
        "",
        "## HTTP (`streamfeat serve` over loopback)",
        "",
        "| store | request | mode | req/s | entities/s | p50 ms | p99 ms | p99.9 ms | max ms | server-side p50 / p99 ms "
        "(≤ bucket) | server CPU % | target |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for store, runs in r["http"].items():
        for name, res in runs.items():
            per = BATCH_SIZE if name.startswith("batch") else 1
            mode = (f"open, {res['target_rate']:,}/s due, {res['connections']} conns"
                    if res["mode"] == "open loop" else f"closed, {res['connections']} conns")
            if name == "single_open":
                target = f"p99 ≤ 2 ms at {SINGLE_RATE:,}/s: {_verdict(res['p99_ms'], TARGETS['single_p99_ms'])}"
            elif name.startswith("batch"):
                target = f"p99 ≤ 10 ms: {_verdict(res['p99_ms'], TARGETS['batch100_p99_ms'])}"
            else:
                target = "most req/s"
            lines.append(
                f"| {store} | {'batch of 100' if per > 1 else 'single'} | {mode} | {res['achieved_rate']:,} | "
                f"{res['achieved_rate'] * per:,} | {res['p50_ms']} | {res['p99_ms']} | {res['p999_ms']} | "
                f"{res['max_ms']} | {res['server_p50_ms_at_most']} / {res['server_p99_ms_at_most']} | "
                f"{res['server_cpu_percent']} | {target} |"
            )
    lines += [
        "",
        "Latency is measured by the load generator, from when a request is due to the last byte of its answer "
        "(queueing for a busy connection included). Server-side: the server's own histogram "
        "(`streamfeat_serving_request_seconds`, scraped before and after each run) — request read to response "
        "written, without the network, the kernel or the generator; given as the bucket bound it falls under. "
        "Open-loop schedule lag p99 (generator timer granularity, not "
        "counted in latency): "
        + ", ".join(f"{store} {name} {res['schedule_lag_p99_ms']} ms" for store, runs in r["http"].items()
                    for name, res in runs.items() if "schedule_lag_p99_ms" in res)
        + ".",
        "",
    ]
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------


@contextmanager
def redis_address(given: str | None) -> Iterator[dict[str, Any]]:
    from benchmarks.streaming import local_service

    with local_service(REDIS_SH, given, "redis", REDIS_PORT, extra=["--maxmemory", "4gb"]) as info:
        yield info


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=None, help=f"W1 prefix (default {DEFAULT_EVENTS:,})")
    parser.add_argument("--seconds", type=float, default=None, help=f"per HTTP run (default {DEFAULT_SECONDS})")
    parser.add_argument("--rate", type=int, default=SINGLE_RATE, help="single-entity open-loop requests/s")
    parser.add_argument("--batch-rate", type=int, default=BATCH_RATE, help="batch-100 open-loop requests/s")
    parser.add_argument("--reads", type=int, default=None, help="in-process reads per store")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EVENTS:,} events, {QUICK_SECONDS} s runs")
    parser.add_argument("--redis", default=None, help="Redis URL (default: $STREAMFEAT_REDIS_URL, else local)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory (default benchmarks/results)")
    args = parser.parse_args(argv)
    if args.events is None:
        args.events = QUICK_EVENTS if args.quick else DEFAULT_EVENTS
    if args.seconds is None:
        args.seconds = QUICK_SECONDS if args.quick else DEFAULT_SECONDS
    if args.reads is None:
        args.reads = QUICK_IN_PROCESS_READS if args.quick else IN_PROCESS_READS
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    command = "python -m benchmarks.serving " + " ".join(sys.argv[1:] if argv is None else argv)
    info = machine()
    view = load_views(EXAMPLE_FEATURES)[0]
    rows, data = build_states(view, args.events, time.time_ns() // 1_000_000 - 1_000)
    entities = sorted(rows)
    print(f"data: {data['entities']:,} entities from {data['events']:,} events", flush=True)
    prefix = f"bench-serving-{uuid.uuid4().hex[:10]}"
    report: dict[str, Any] = {
        "command": command, "timestamp": datetime.now(UTC).isoformat(timespec="seconds"), "machine": info,
        "parameters": {"events": args.events, "seconds": args.seconds, "rate": args.rate,
                       "batch_rate": args.batch_rate, "batch_size": BATCH_SIZE, "connections": CONNECTIONS,
                       "closed_connections": CLOSED_CONNECTIONS, "seed": SEED},
        "targets": TARGETS, "data": data, "in_process": {}, "http": {},
    }
    given = args.redis or os.environ.get("STREAMFEAT_REDIS_URL", "").strip() or None
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp, redis_address(given) as redis_info:
        path = Path(tmp) / "online.lmdb"
        url = redis_info["address"]
        report["redis"] = {"source": redis_info["source"]}
        state_only = {e: dataclasses.replace(row, cached=None) for e, row in rows.items()}
        with LmdbStore(path) as embedded, RedisStore(url, key_prefix=prefix) as redis_store, \
                LmdbStore(Path(tmp) / "state-only.lmdb") as embedded_state_only:
            write_rows(embedded, view, rows)
            write_rows(redis_store, view, rows)
            write_rows(embedded_state_only, view, state_only)
            try:
                for name, spec, stored in (("embedded", str(path), rows), ("redis", url, rows),
                                           ("embedded state-only", str(Path(tmp) / "state-only.lmdb"), state_only)):
                    samples = in_process_child(spec, prefix, entities, args.reads)
                    report["in_process"][name] = res = in_process_figures(samples, entities, stored)
                    print(f"in-process {name}: p50 {res['p50_us']} µs, p99 {res['p99_us']} µs, "
                          f"{res['from_published_values_percent']} % from published values", flush=True)
                for name, store_args in (("embedded", ["--online-store", str(path)]),
                                         ("redis", ["--online-store", url, "--redis-key-prefix", prefix])):
                    print(f"http {name}:", flush=True)
                    report["http"][name] = http_runs(store_args, view.name, entities, args.seconds, args.rate,
                                                     args.batch_rate)
            finally:
                _delete_prefix(url, prefix)
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write_results("serving", report, markdown, args.out)
    print(f"wrote {args.out / 'serving.md'}", flush=True)
    return report


def _delete_prefix(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=prefix + ":*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    finally:
        client.close()


if __name__ == "__main__":
    main()
