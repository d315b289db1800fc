"""``streamfeat run -p N``: a bytewax cluster of N processes on this machine, started and
watched by the command itself (:func:`run_local_cluster`).

Why processes and not only threads (``-w``): the workers of one process share its GIL.
The native core applies, encodes and publishes without it, but what is left — decoding
into Python lists, the cache's bookkeeping, RocksDB's ``write`` at each commit (rocksdict
holds the GIL for the whole write) — stops every other worker of the process while it
runs. A commit of a partition took 60.6 ms at the median in a traced run at 134,000
events/s (stop 37), and the four partitions' commits filled 24 % of the run's wall time.
With one worker per process, a partition's commit holds up only the partitions of its
own process. Measured at stop 37 (``benchmarks/results/freshness_134000_s37_processes/``):
the same paced stream, one process with two workers against two processes with one
worker each, alternated — the figures are in that directory's README and in
docs/operations.md ("Processes or workers").

What this module adds over starting the processes by hand with ``-i``/``-a``: free local
addresses, each member's own ``--metrics-port`` (the given port plus its index), signals
forwarded once (the members run in their own process group, so a Ctrl-C in the terminal
reaches them only through this process: one clean stop, not two signals, the second of
which would end them at once), and one exit status — a member that fails stops the
others cleanly and its status is the command's.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from types import FrameType

__all__ = ["free_local_addresses", "member_argv", "run_local_cluster", "supervise"]

#: How long the members have to commit and end after being asked to stop, before they are killed.
STOP_GRACE_S = 60.0

#: Set in each member's environment: its progress goes to the log, not to a live status line
#: that N processes would overwrite in one terminal.
MEMBER_ENV = "STREAMFEAT_LOCAL_CLUSTER_MEMBER"


def free_local_addresses(count: int) -> list[str]:
    """``count`` addresses ``127.0.0.1:PORT`` free now (the sockets are held until all are chosen)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [f"127.0.0.1:{sock.getsockname()[1]}" for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _without_option(argv: Sequence[str], long: str, short: str | None = None) -> tuple[list[str], str | None]:
    """``argv`` without every occurrence of an option that takes a value (``--long V``,
    ``--long=V``, ``-s V``, ``-sV``), and its last value (``None`` when absent)."""
    out: list[str] = []
    value = None
    at = 0
    while at < len(argv):
        token = argv[at]
        if token == "--":
            out.extend(argv[at:])
            break
        if token == long or (short is not None and token == short):
            value = argv[at + 1] if at + 1 < len(argv) else None
            at += 2
            continue
        if token.startswith(long + "="):
            value = token[len(long) + 1 :]
        elif short is not None and token.startswith(short) and not token.startswith("--") and len(token) > len(short):
            value = token[len(short) :]
        else:
            out.append(token)
        at += 1
    return out, value


def member_argv(argv: Sequence[str], index: int, addresses: Sequence[str]) -> list[str]:
    """The ``streamfeat`` arguments of member ``index``: ``argv`` (a ``run`` command line)
    without ``-p``/``--processes``, with ``-i INDEX -a ADDRESSES`` and, when ``argv`` has a
    ``--metrics-port P``, its own port ``P + index``."""
    rest, _ = _without_option(argv, "--processes", "-p")
    rest, metrics = _without_option(rest, "--metrics-port")
    extra = ["-i", str(index), "-a", ";".join(addresses)]
    if metrics is not None:
        extra += ["--metrics-port", str(int(metrics) + index)]
    if "--" in rest:  # options after the separator would be taken as positional
        at = rest.index("--")
        return [*rest[:at], *extra, *rest[at:]]
    return [*rest, *extra]


def supervise(
    commands: Sequence[Sequence[str]],
    *,
    env: dict[str, str] | None = None,
    stop_grace_s: float = STOP_GRACE_S,
    poll_s: float = 0.1,
    on_started: Callable[[list[int]], None] | None = None,
) -> int:
    """Run ``commands`` as child processes until every one has ended; returns 0 when all
    exited 0, else the exit status of the first that did not (128 + N for one ended by
    signal N, as a shell reports it).

    SIGINT and SIGTERM to this process are passed on to every child (a second one is
    passed on again). When a child fails, the others get SIGTERM, and those still running
    ``stop_grace_s`` later are killed."""
    children: list[subprocess.Popen[bytes]] = []
    failed: int | None = None
    stopping_since: float | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping_since
        if stopping_since is None:
            stopping_since = time.monotonic()
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        for command in commands:
            # Their own process group: a terminal's Ctrl-C reaches them only through `forward`.
            children.append(subprocess.Popen(list(command), env=env, process_group=0))
        if on_started is not None:
            on_started([child.pid for child in children])
        while True:
            codes = [child.poll() for child in children]
            for code in codes:
                if code is not None and code != 0 and failed is None:
                    failed = code
                    if stopping_since is None:
                        stopping_since = time.monotonic()
                        for child in children:
                            if child.poll() is None:
                                child.terminate()
            if all(code is not None for code in codes):
                if failed is None:
                    return 0
                return 128 - failed if failed < 0 else failed
            if stopping_since is not None and time.monotonic() - stopping_since > stop_grace_s:
                for child in children:
                    if child.poll() is None:
                        child.kill()
            time.sleep(poll_s)
    finally:
        for child in children:  # only after an exception in this process: never leave members behind
            if child.poll() is None:
                child.kill()
                child.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_local_cluster(argv: Sequence[str], processes: int) -> int:
    """Start ``processes`` members of ``streamfeat run`` (``argv``, its arguments) as one
    bytewax cluster on 127.0.0.1 and wait for them (:func:`supervise`)."""
    addresses = free_local_addresses(processes)
    commands = [
        [sys.executable, "-m", "streamfeat.cli", *member_argv(argv, index, addresses)] for index in range(processes)
    ]
    env = {**os.environ, MEMBER_ENV: "1"}

    def started(pids: list[int]) -> None:
        print(f"streamfeat run: {processes} processes (pids {', '.join(map(str, pids))}) share the topic's "
              "partitions; SIGTERM or Ctrl-C here stops them all cleanly", file=sys.stderr, flush=True)

    return supervise(commands, env=env, on_started=started)
