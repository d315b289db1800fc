"""Session fixtures that hand tests a real Kafka broker and a real Redis server.

Each fixture returns an address and gets it, in this order, from:

1. an environment variable: ``STREAMFEAT_KAFKA_BOOTSTRAP`` (``host:port``) or
   ``STREAMFEAT_REDIS_URL`` (``redis://host:port/db``): used as is, never stopped;
2. testcontainers (``KafkaContainer`` / ``RedisContainer``) when a Docker engine
   answers a ping within a few seconds;
3. the local scripts ``deploy/local/kafka.sh`` / ``deploy/local/redis.sh``, which
   run the real servers as plain processes on 127.0.0.1 (Kafka from Maven Central
   jars, Redis from Debian's ``redis-server``). A server this session started is
   stopped at the end of the session; one that was already running is reused
   and left running.

``STREAMFEAT_SERVICES=docker`` or ``=local`` restricts step 2/3 to one way (default
``auto``: both, in order). ``STREAMFEAT_KAFKA_PORT`` / ``STREAMFEAT_REDIS_PORT``
choose the local scripts' ports (defaults 19092 / 16379).

A service that cannot be had fails the test (``pytest.fail``) with what was tried:
these tests are never skipped.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = REPO_ROOT / "deploy" / "local" / "kafka.sh"
REDIS_SH = REPO_ROOT / "deploy" / "local" / "redis.sh"

# The first local Kafka start fetches ~45 MB of jars with Maven; later ones take seconds.
KAFKA_START_TIMEOUT_S = float(os.environ.get("STREAMFEAT_KAFKA_START_TIMEOUT", "900"))
# A first local Redis start may apt-get install redis-server.
REDIS_START_TIMEOUT_S = float(os.environ.get("STREAMFEAT_REDIS_START_TIMEOUT", "600"))
DOCKER_PING_TIMEOUT_S = 3.0


def _mode() -> str:
    mode = os.environ.get("STREAMFEAT_SERVICES", "auto").strip().lower() or "auto"
    if mode not in {"auto", "docker", "local"}:
        pytest.fail(f"STREAMFEAT_SERVICES must be auto, docker or local, not {mode!r}", pytrace=False)
    return mode


@functools.cache
def docker_engine() -> tuple[bool, str]:
    """(True, version) when a Docker engine answers a ping quickly, else (False, why)."""
    try:
        import docker  # testcontainers depends on the docker SDK
    except ImportError as exc:
        return False, f"docker SDK not importable ({exc})"
    try:
        client = docker.from_env(timeout=DOCKER_PING_TIMEOUT_S)
        try:
            client.ping()
            version = client.version().get("Version", "?")
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return False, f"no Docker engine answered ({first_line[:200]})"
    return True, f"Docker engine {version}"


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _run_script(script: Path, args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(script), *args],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextlib.contextmanager
def _local_service(script: Path, env: dict[str, str], timeout: float, tried: list[str]) -> Iterator[str | None]:
    """The address printed by ``script start`` (None on failure, the reason appended to ``tried``).

    Stops the service afterwards only when this call started it.
    """
    name = script.name
    if not script.is_file():
        tried.append(f"{script}: not found")
        yield None
        return
    status = _run_script(script, ["status"], env, timeout=30)
    already_running = status.returncode == 0
    try:
        started = _run_script(script, ["start"], env, timeout=timeout)
    except subprocess.TimeoutExpired:
        tried.append(f"{name} start: no answer within {timeout:.0f}s")
        if not already_running:
            _run_script(script, ["stop"], env, timeout=60)
        yield None
        return
    lines = started.stdout.strip().splitlines()
    if started.returncode != 0 or not lines:
        tried.append(f"{name} start exited {started.returncode}:\n{_tail(started.stderr + started.stdout)}")
        if not already_running:  # e.g. a broker that started but never answered
            _run_script(script, ["stop"], env, timeout=60)
        yield None
        return
    try:
        yield lines[-1].strip()
    finally:
        if not already_running:
            stopped = _run_script(script, ["stop"], env, timeout=120)
            if stopped.returncode != 0:
                warnings.warn(f"{name} stop exited {stopped.returncode}: {_tail(stopped.stderr)}", stacklevel=1)


def _fail(service: str, tried: list[str], hint: str) -> None:
    pytest.fail(
        f"no {service} for the service tests; tried, in order:\n- " + "\n- ".join(tried) + f"\n{hint}",
        pytrace=False,
    )


def _import_container(kind: str):
    """testcontainers >= 4.10 moved the modules to testcontainers.community.*."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if kind == "kafka":
            try:
                from testcontainers.community.kafka import KafkaContainer
            except ImportError:
                from testcontainers.kafka import KafkaContainer
            return KafkaContainer
        try:
            from testcontainers.community.redis import RedisContainer
        except ImportError:
            from testcontainers.redis import RedisContainer
        return RedisContainer


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of a real Kafka broker (see the module docstring for where it comes from)."""
    env_value = os.environ.get("STREAMFEAT_KAFKA_BOOTSTRAP", "").strip()
    if env_value:
        yield env_value
        return
    tried = ["STREAMFEAT_KAFKA_BOOTSTRAP: not set"]
    mode = _mode()

    if mode in {"auto", "docker"}:
        ok, why = docker_engine()
        if ok:
            try:
                KafkaContainer = _import_container("kafka")
                image = os.environ.get("STREAMFEAT_KAFKA_IMAGE", "confluentinc/cp-kafka:7.6.0")
                # Keep every record: tests replay events stamped years ago, which time-based
                # retention (by record timestamp) would delete mid-run.
                container = KafkaContainer(image).with_kraft().with_env("KAFKA_LOG_RETENTION_MS", "-1")
                container.start()
            except Exception as exc:  # noqa: BLE001
                tried.append(f"testcontainers KafkaContainer on {why}: {type(exc).__name__}: {exc}")
            else:
                try:
                    yield container.get_bootstrap_server()
                finally:
                    container.stop()
                return
        else:
            tried.append(f"testcontainers: {why}")
    else:
        tried.append("testcontainers: not tried (STREAMFEAT_SERVICES=local)")

    if mode in {"auto", "local"}:
        env = {}
        if os.environ.get("STREAMFEAT_KAFKA_PORT"):
            env["KAFKA_PORT"] = os.environ["STREAMFEAT_KAFKA_PORT"]
        with _local_service(KAFKA_SH, env, KAFKA_START_TIMEOUT_S, tried) as address:
            if address is not None:
                yield address
                return
    else:
        tried.append(f"{KAFKA_SH.name}: not tried (STREAMFEAT_SERVICES=docker)")
    _fail(
        "Kafka broker",
        tried,
        "Set STREAMFEAT_KAFKA_BOOTSTRAP=host:port to use a running broker, or STREAMFEAT_KAFKA_PORT "
        "to run the local one on another port; its log is in /tmp/streamfeat-kafka-PORT/.",
    )


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``redis://host:port/db`` of a real Redis server (see the module docstring)."""
    env_value = os.environ.get("STREAMFEAT_REDIS_URL", "").strip()
    if env_value:
        yield env_value
        return
    tried = ["STREAMFEAT_REDIS_URL: not set"]
    mode = _mode()

    if mode in {"auto", "docker"}:
        ok, why = docker_engine()
        if ok:
            try:
                RedisContainer = _import_container("redis")
                image = os.environ.get("STREAMFEAT_REDIS_IMAGE", "redis:7")
                container = RedisContainer(image)
                container.start()
            except Exception as exc:  # noqa: BLE001
                tried.append(f"testcontainers RedisContainer on {why}: {type(exc).__name__}: {exc}")
            else:
                try:
                    host = container.get_container_host_ip()
                    port = container.get_exposed_port(6379)
                    yield f"redis://{host}:{port}/0"
                finally:
                    container.stop()
                return
        else:
            tried.append(f"testcontainers: {why}")
    else:
        tried.append("testcontainers: not tried (STREAMFEAT_SERVICES=local)")

    if mode in {"auto", "local"}:
        env = {}
        if os.environ.get("STREAMFEAT_REDIS_PORT"):
            env["REDIS_PORT"] = os.environ["STREAMFEAT_REDIS_PORT"]
        with _local_service(REDIS_SH, env, REDIS_START_TIMEOUT_S, tried) as address:
            if address is not None:
                yield address
                return
    else:
        tried.append(f"{REDIS_SH.name}: not tried (STREAMFEAT_SERVICES=docker)")
    _fail(
        "Redis server",
        tried,
        "Set STREAMFEAT_REDIS_URL=redis://host:port/0 to use a running server, or STREAMFEAT_REDIS_PORT "
        "to run the local one on another port.",
    )


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A Redis key prefix no other test uses; its keys are deleted afterwards."""
    import uuid

    import redis

    prefix = f"sf-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + ":*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
