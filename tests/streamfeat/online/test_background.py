"""BackgroundWriter: coalesced writes on a thread end in the same store contents as
writing each batch at once; flush is the barrier; failures are retried, then sticky."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamfeat.errors import OnlineStoreError, PublishFailedError
from streamfeat.online import BackgroundWriter, EmbeddedStore, StoredEntity
from streamfeat.online.base import CachedValues

VIEW, FP = "user_txn", "0123456789abcdef"


class GatedStore:
    """Wraps a store: each write first waits for ``gate`` (set: writes go through), and
    every write's rows are recorded."""

    def __init__(self, inner: EmbeddedStore) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.gate.set()
        self.writes: list[dict[str, StoredEntity]] = []
        self.entered = threading.Event()

    def write(self, view: str, fingerprint: str, rows: Mapping[str, StoredEntity]) -> int:
        self.entered.set()
        assert self.gate.wait(10), "the test never opened the gate"
        self.writes.append(dict(rows))
        return self.inner.write(view, fingerprint, rows)

    def get_raw(
        self, view: str, fingerprint: str, entities: Sequence[str], *, at: int | None = None
    ) -> list[StoredEntity | None]:
        return self.inner.get_raw(view, fingerprint, entities, at=at)

    def close(self) -> None:
        self.inner.close()


class FailingStore(GatedStore):
    """Fails the first ``failures`` writes."""

    def __init__(self, inner: EmbeddedStore, failures: int) -> None:
        super().__init__(inner)
        self.failures = failures

    def write(self, view: str, fingerprint: str, rows: Mapping[str, StoredEntity]) -> int:
        if self.failures:
            self.failures -= 1
            raise OnlineStoreError("store down (test)")
        return super().write(view, fingerprint, rows)


def full(version: int) -> StoredEntity:
    return StoredEntity(f"state-{version}".encode(), version, 1_000 + version, CachedValues(b'{"n":1}', version, 99))


def values_only(version: int) -> StoredEntity:
    return StoredEntity(None, version, 1_000 + version, CachedValues(f'{{"n":{version}}}'.encode(), version, 99))


# One batch: entity -> (full row?, hold the writer before this batch?).
batches_strategy = st.lists(
    st.tuples(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.booleans(), min_size=1), st.booleans()),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=batches_strategy)
def test_coalesced_background_writes_equal_writing_each_batch(tmp_path_factory, batches) -> None:
    """Whatever the writer merged while it was held, the store ends as if every batch
    had been written in order (values-only rows after full rows of older versions)."""
    folder: Path = tmp_path_factory.mktemp("bg")
    reference = EmbeddedStore(folder / "reference.db")
    gated = GatedStore(EmbeddedStore(folder / "background.db"))
    writer = BackgroundWriter(gated)
    versions: dict[str, int] = {}
    try:
        for entities, hold in batches:
            if hold:
                gated.gate.clear()
            else:
                gated.gate.set()
            rows = {}
            for entity, is_full in entities.items():
                version = versions[entity] = versions.get(entity, 0) + 1
                # A values-only row needs an earlier full row in the store to land on.
                rows[entity] = full(version) if is_full or version == 1 else values_only(version)
            reference.write(VIEW, FP, rows)
            assert writer.write(VIEW, FP, rows) == len(rows)
        gated.gate.set()
        writer.flush()
        entities = sorted(versions)
        assert gated.get_raw(VIEW, FP, entities) == reference.get_raw(VIEW, FP, entities)
    finally:
        gated.gate.set()
        writer.close()
        reference.close()


def test_rows_handed_over_while_the_writer_is_busy_are_merged_per_entity(tmp_path) -> None:
    gated = GatedStore(EmbeddedStore(tmp_path / "online.db"))
    gated.gate.clear()
    with BackgroundWriter(gated) as writer:
        writer.write(VIEW, FP, {"a": full(1)})
        assert gated.entered.wait(10)  # the thread holds batch 1 at the gate
        for version in range(2, 6):
            writer.write(VIEW, FP, {"a": full(version), f"e{version}": full(1)})
        assert writer.pending_rows == 5  # a, e2..e5: merged per entity
        gated.gate.set()
        writer.flush()
        assert [sorted(rows) for rows in gated.writes] == [["a"], ["a", "e2", "e3", "e4", "e5"]]
        assert gated.writes[1]["a"] == full(5)
        assert writer.get_raw(VIEW, FP, ["a"]) == [full(5)]


def test_a_values_only_row_keeps_the_full_row_it_superseded(tmp_path) -> None:
    gated = GatedStore(EmbeddedStore(tmp_path / "online.db"))
    with BackgroundWriter(gated) as writer:
        writer.write(VIEW, FP, {"a": full(1)})
        writer.flush()
        gated.gate.clear()
        writer.write(VIEW, FP, {"b": full(1)})
        assert gated.entered.wait(10)
        writer.write(VIEW, FP, {"a": full(2)})
        writer.write(VIEW, FP, {"a": values_only(3)})
        gated.gate.set()
        writer.flush()
        (stored,) = writer.get_raw(VIEW, FP, ["a"])
        assert stored is not None
        assert (stored.version, stored.state, stored.state_version) == (3, b"state-2", 2)


def test_flush_waits_for_rows_handed_over_before_it(tmp_path) -> None:
    gated = GatedStore(EmbeddedStore(tmp_path / "online.db"))
    gated.gate.clear()
    with BackgroundWriter(gated) as writer:
        writer.write(VIEW, FP, {"a": full(1)})
        flushed = threading.Event()
        waiter = threading.Thread(target=lambda: (writer.flush(), flushed.set()))
        waiter.start()
        assert not flushed.wait(0.3)
        gated.gate.set()
        waiter.join(10)
        assert flushed.is_set()
        assert gated.get_raw(VIEW, FP, ["a"]) == [full(1)]


def test_written_through_counts_the_writes_whose_rows_are_in_the_store(tmp_path) -> None:
    """What the pipeline's commit relies on: rows of the n-th write are in the store once
    written_through >= n; a write still in the thread's hands is not counted."""
    gated = GatedStore(EmbeddedStore(tmp_path / "online.db"))
    gated.gate.clear()
    with BackgroundWriter(gated) as writer:
        assert (writer.submitted, writer.written_through) == (0, 0)
        writer.write(VIEW, FP, {"a": full(1)})
        writer.write(VIEW, FP, {"b": full(1)})
        assert gated.entered.wait(10)
        assert writer.submitted == 2 and writer.written_through == 0
        assert gated.inner.get_raw(VIEW, FP, ["a", "b"]) == [None, None]
        gated.gate.set()
        writer.flush()
        assert writer.written_through == writer.submitted == 2
        assert gated.inner.get_raw(VIEW, FP, ["a", "b"]) == [full(1), full(1)]


def test_a_full_queue_blocks_the_caller_until_the_writer_takes_it(tmp_path) -> None:
    gated = GatedStore(EmbeddedStore(tmp_path / "online.db"))
    gated.gate.clear()
    with BackgroundWriter(gated, max_pending_rows=2) as writer:
        writer.write(VIEW, FP, {"a": full(1)})
        assert gated.entered.wait(10)  # taken by the thread: nothing pending
        writer.write(VIEW, FP, {"b": full(1), "c": full(1)})  # 2 pending: the limit
        done = threading.Event()
        caller = threading.Thread(target=lambda: (writer.write(VIEW, FP, {"d": full(1)}), done.set()))
        caller.start()
        assert not done.wait(0.3)
        gated.gate.set()
        caller.join(10)
        assert done.is_set()
        writer.flush()
        assert None not in gated.get_raw(VIEW, FP, ["a", "b", "c", "d"])


def test_failed_writes_are_retried_with_backoff(tmp_path) -> None:
    sleeps: list[float] = []
    failing = FailingStore(EmbeddedStore(tmp_path / "online.db"), failures=3)
    with BackgroundWriter(failing, sleep=sleeps.append) as writer:
        writer.write(VIEW, FP, {"a": full(1)})
        writer.flush()
        assert sleeps == [0.05, 0.1, 0.2]
        assert writer.get_raw(VIEW, FP, ["a"]) == [full(1)]


def test_a_writer_that_gave_up_raises_on_every_later_call(tmp_path) -> None:
    failing = FailingStore(EmbeddedStore(tmp_path / "online.db"), failures=10**9)
    writer = BackgroundWriter(failing, retry_for_s=0.0, sleep=lambda s: None)
    writer.write(VIEW, FP, {"a": full(1)})
    with pytest.raises(PublishFailedError, match="store down"):
        writer.flush()
    with pytest.raises(PublishFailedError):
        writer.write(VIEW, FP, {"b": full(1)})
    with pytest.raises(PublishFailedError):  # rows were handed over and never written
        writer.close()
    with pytest.raises(OnlineStoreError):
        writer.write(VIEW, FP, {"b": full(1)})
    writer.close()  # once closed, closing again does nothing


def test_an_older_row_handed_over_later_never_replaces_a_newer_pending_one(tmp_path) -> None:
    gated = GatedStore(EmbeddedStore(tmp_path / "online.db"))
    gated.gate.clear()
    with BackgroundWriter(gated) as writer:
        writer.write(VIEW, FP, {"b": full(1)})
        assert gated.entered.wait(10)
        writer.write(VIEW, FP, {"a": full(5)})
        writer.write(VIEW, FP, {"a": full(4)})
        gated.gate.set()
        writer.flush()
        assert gated.writes[1] == {"a": full(5)}
