"""`streamfeat serve` as a process: embedded and Redis stores, token from the environment, clean stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from streamfeat.online import EmbeddedStore, RedisStore
from streamfeat.serving.client import Client, ServingError
from tests.streamfeat.serving.conftest import VIEW, write_entities

REPO = Path(__file__).resolve().parents[3]
FEATURES = f"""
from streamfeat import Count, Entity, FeatureView, Lifetime, Sliding, Source, Sum
user_txn = FeatureView(
    "user_txn",
    entity=Entity("user", key="user_id"),
    source=Source("transactions", timestamp="ts", schema={{"user_id": str, "amount": int, "ts": int}}),
    features=[Sum("amount", window=Sliding("7d")), Count(window=Lifetime()), Count(window=Sliding("1h"))],
)
assert user_txn.fingerprint() == {VIEW.fingerprint()!r}
"""


@contextmanager
def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    features = tmp_path / "features.py"
    features.write_text(FEATURES)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamfeat.cli", "serve", str(features), "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"listening on (http://\S+)", line)
        assert found, line + proc.communicate(timeout=10)[1]
        yield found.group(1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_embedded_with_token_from_the_environment(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path / "online.sqlite") as writer:
        write_entities(writer)
        with serve(tmp_path, "--online-store", str(tmp_path / "online.sqlite"), "--log-served",
                   str(tmp_path / "served.jsonl"), env={"STREAMFEAT_SERVE_TOKEN": "tok"}) as url:
            got = Client(url, token="tok").get("user_txn", "alice")
            assert got.values["count_lifetime"] == 3 and got.event_time is not None
            with pytest.raises(ServingError) as raised:
                Client(url).get("user_txn", "alice")
            assert raised.value.status == 401
            # the writer keeps writing while the server reads (read-only, WAL)
            write_entities(writer, {"carol": [(got.event_time, 4)]})
            assert Client(url, token="tok").get("user_txn", "carol").values["count_lifetime"] == 1
    logged = [orjson.loads(line) for line in (tmp_path / "served.jsonl").read_bytes().splitlines()]
    assert [(r["entity"], r["values"]["count_lifetime"]) for r in logged] == [("alice", 3), ("carol", 1)]


def test_serve_redis(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    with RedisStore(redis_url, key_prefix=redis_prefix) as writer:
        write_entities(writer)
    with serve(tmp_path, "--online-store", redis_url, "--redis-key-prefix", redis_prefix) as url:
        assert [v.values["count_lifetime"] for v in Client(url).get_many("user_txn", ["alice", "bob", "x"])] == [3, 2, 0]


def test_missing_embedded_store_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "features.py").write_text(FEATURES)
    done = subprocess.run(
        [sys.executable, "-m", "streamfeat.cli", "serve", str(tmp_path / "features.py"),
         "--online-store", str(tmp_path / "absent.sqlite")],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60,
    )
    assert done.returncode == 1 and "no embedded online store" in done.stderr
