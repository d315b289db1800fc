"""`streamfeat bench NAME` runs `python -m benchmarks.NAME` from the checkout."""

from __future__ import annotations

import subprocess
import sys

from streamfeat.bench_cli import BENCHMARKS


def test_every_benchmark_is_reachable_and_passes_its_options():
    for name in BENCHMARKS:
        done = subprocess.run(
            [sys.executable, "-m", "streamfeat.cli", "bench", name, "--help"], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert f"python -m benchmarks.{name}" in done.stdout  # the benchmark's own --help


def test_unknown_benchmark_lists_the_known_ones():
    done = subprocess.run([sys.executable, "-m", "streamfeat.cli", "bench", "nope"], capture_output=True, text=True)
    assert done.returncode == 2 and "strategies" in done.stderr and "peers" in done.stderr
