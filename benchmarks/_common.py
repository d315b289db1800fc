"""What every benchmark shares: the machine description and writing the results files."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"


def git(*args: str) -> str | None:
    """Output of a git command in the repository, or None where git is unavailable."""
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=True, cwd=REPO)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def machine() -> dict[str, Any]:
    """CPU, cores, Python, load average at the start (other work skews figures on a shared
    machine) and the git commit measured, with whether the measured code had uncommitted changes."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    changed = git("status", "--porcelain", "--", "operators", "streamfeat")
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty": None if changed is None else bool(changed),
    }


def write_results(name: str, report: dict[str, Any], markdown: Callable[[dict[str, Any]], str], out_dir: Path) -> None:
    """``{out_dir}/{name}.json`` and ``{name}.md``, both written by the run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / f"{name}.md").write_text(markdown(report))
