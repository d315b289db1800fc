"""Replay records from files through the pipeline: the embedded input path.

A JSON Lines file is treated as one partition of the source's topic: line ``n``
(0-based) is offset ``n``. Arrival times come from an integer field of each record
(default ``arrival``; the event time when absent). Every line — blank or broken ones
too — is a record, so a bad line becomes a dead letter, never a silent skip.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from streamfeat.errors import RejectSinkError, StreamfeatError
from streamfeat.ingest import DeadLetter
from streamfeat.pipeline import BatchReport, FeaturePipeline, LateRecord

__all__ = ["JsonlRejectSink", "ReplaySummary", "iter_jsonl_batches", "late_to_json", "replay_jsonl"]


@dataclass(slots=True)
class ReplaySummary:
    records: int = 0
    skipped: int = 0
    accepted: dict[str, int] = field(default_factory=dict)
    late: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)  # by reason
    published: int = 0
    seconds: float = 0.0

    def add(self, report: BatchReport) -> None:
        self.records += report.records
        self.skipped += report.skipped
        for view, count in report.accepted.items():
            self.accepted[view] = self.accepted.get(view, 0) + count
        self.late += len(report.late)
        for dead in report.dead_letters:
            self.dead_letters[dead.reason] = self.dead_letters.get(dead.reason, 0) + 1
        self.published += report.published


def iter_jsonl_batches(path: str | Path, batch_size: int, *, start: int = 0) -> Iterator[tuple[list[int], list[bytes]]]:
    """``(offsets, payloads)`` batches of a JSON Lines file, from line ``start`` on."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    path = Path(path)
    if not path.is_file():
        raise StreamfeatError(f"input file {str(path)!r} does not exist")
    with path.open("rb") as handle:
        offsets: list[int] = []
        payloads: list[bytes] = []
        for number, line in enumerate(handle):
            if number < start:
                continue
            offsets.append(number)
            payloads.append(line.rstrip(b"\r\n"))
            if len(offsets) == batch_size:
                yield offsets, payloads
                offsets, payloads = [], []
        if offsets:
            yield offsets, payloads


def late_to_json(late: LateRecord) -> bytes:
    """A late event as a JSON object."""
    import orjson

    return orjson.dumps({name: getattr(late, name) for name in late.__slots__})


class JsonlRejectSink:
    """Dead letters and late events appended to two JSON Lines files (flushed per batch)."""

    def __init__(self, dead_letter_path: str | Path, late_path: str | Path) -> None:
        self._dead = Path(dead_letter_path).open("ab")
        self._late = Path(late_path).open("ab")

    def write(self, dead_letters: Sequence[DeadLetter], late: Sequence[LateRecord]) -> None:
        try:
            if dead_letters:
                self._dead.write(b"".join(d.to_json() + b"\n" for d in dead_letters))
                self._dead.flush()
            if late:
                self._late.write(b"".join(late_to_json(r) + b"\n" for r in late))
                self._late.flush()
        except OSError as exc:
            raise RejectSinkError(f"cannot append rejects: {exc}") from exc

    def close(self) -> None:
        self._dead.close()
        self._late.close()

    def __enter__(self) -> JsonlRejectSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def replay_jsonl(
    pipeline: FeaturePipeline,
    topic: str,
    path: str | Path,
    *,
    batch_size: int = 50_000,
    on_batch: Callable[[ReplaySummary], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ReplaySummary:
    """Replay ``path`` as partition 0 of ``topic``; resumes after the committed offset.

    Dead letters and late events go to the pipeline's reject sink. ``should_stop``,
    asked after each batch: end there, with what was processed committed."""
    summary = ReplaySummary()
    started = time.perf_counter()
    start = pipeline.next_offset(topic, 0) or 0
    summary.skipped = start
    for offsets, payloads in iter_jsonl_batches(path, batch_size, start=start):
        report = pipeline.process(topic, 0, offsets, payloads, [None] * len(offsets))
        summary.add(report)
        summary.seconds = time.perf_counter() - started
        if on_batch is not None:
            on_batch(summary)
        if should_stop is not None and should_stop():
            break
    pipeline.commit(final=True)  # a no-op unless the pipeline commits on an interval
    summary.seconds = time.perf_counter() - started
    return summary
