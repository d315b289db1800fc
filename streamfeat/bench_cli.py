"""``streamfeat bench NAME [ARGS...]``: run one of the repository's benchmarks.

The benchmarks live in the source checkout (``benchmarks/``, not in the installed
package); this command runs ``python -m benchmarks.NAME ARGS`` from the checkout root, so
``streamfeat bench peers --quick`` and ``python -m benchmarks.peers --quick`` are the same.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

__all__ = ["BENCHMARKS", "add_command"]

BENCHMARKS: dict[str, str] = {
    "strategies": "window strategies: cost (events/s, state) and accuracy against the exact window",
    "peers": "streamfeat vs bytewax windows, Quix Streams and a plain-Python ceiling on one Kafka topic",
    "operators_batch": "operator batch-update events/s and state bytes per strategy",
    "streaming": "Kafka end to end: events/s against consume ceilings, RSS, freshness, store write ceiling",
    "backfill": "W1 from Parquet through the features, a spine joined: events/s and peak RSS",
    "serving": "the HTTP feature server and in-process reads: latency and throughput",
}


def _checkout() -> Path | None:
    root = Path(__file__).resolve().parents[1]
    return root if (root / "benchmarks" / "__init__.py").is_file() else None


def _cmd_bench(args: argparse.Namespace) -> int:
    from streamfeat.errors import StreamfeatError

    root = _checkout()
    if root is None:
        raise StreamfeatError(
            "the benchmarks live in the source checkout (benchmarks/): install streamfeat from a clone "
            "(python3 -m pip install -e '.[bench]') to run them"
        )
    command = [sys.executable, "-m", f"benchmarks.{args.name}", *args.args]
    return subprocess.run(command, cwd=root, check=False).returncode


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``bench`` to the ``streamfeat`` parser."""
    listing = "\n".join(f"  {name:<16} {what}" for name, what in BENCHMARKS.items())
    bench = commands.add_parser(
        "bench",
        help="run a benchmark (strategies, peers, streaming, backfill, serving, operators_batch)",
        description=(
            "Run one of the benchmarks in benchmarks/ — the same as `python -m benchmarks.NAME ARGS` from the "
            "checkout. Each prints its figures and writes them with the machine description to "
            "benchmarks/results/ (never typed by hand); most have --quick for a smoke run. Pass `NAME --help` "
            f"for a benchmark's own options.\n\nbenchmarks:\n{listing}"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("name", choices=sorted(BENCHMARKS), metavar="NAME", help="which benchmark")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="options passed to the benchmark (e.g. --quick)")
    bench.set_defaults(func=_cmd_bench)
