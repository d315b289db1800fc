"""Replay records from files through the pipeline: the embedded input path.

A JSON Lines file is treated as one partition of the source's topic: line ``n``
(0-based) is offset ``n``. Arrival times come from an integer field of each record
(default ``arrival``; the event time when absent). Every line — blank or broken ones
too — is a record, so a bad line becomes a dead letter, never a silent skip.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from streamfeat.errors import StreamfeatError
from streamfeat.ingest import DeadLetter
from streamfeat.pipeline import BatchReport, FeaturePipeline, LateRecord

__all__ = ["ReplaySummary", "iter_jsonl_batches", "replay_jsonl"]


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


def _write_jsonl(sink: BinaryIO | None, items: list[DeadLetter] | list[LateRecord], encode: Callable) -> None:
    if sink is not None and items:
        sink.write(b"".join(encode(item) + b"\n" for item in items))


def replay_jsonl(
    pipeline: FeaturePipeline,
    topic: str,
    path: str | Path,
    *,
    batch_size: int = 50_000,
    dead_letter_sink: BinaryIO | None = None,
    late_sink: BinaryIO | None = None,
    on_batch: Callable[[ReplaySummary], None] | None = None,
) -> ReplaySummary:
    """Replay ``path`` as partition 0 of ``topic``; resumes after the committed offset.

    Dead letters and late events are appended as JSON lines to the sinks given."""
    import orjson

    summary = ReplaySummary()
    started = time.perf_counter()
    start = pipeline.next_offset(topic, 0) or 0
    summary.skipped = start
    for offsets, payloads in iter_jsonl_batches(path, batch_size, start=start):
        report = pipeline.process(topic, 0, offsets, payloads, [None] * len(offsets))
        summary.add(report)
        _write_jsonl(dead_letter_sink, report.dead_letters, DeadLetter.to_json)
        _write_jsonl(late_sink, report.late, lambda late: orjson.dumps({k: getattr(late, k) for k in late.__slots__}))
        summary.seconds = time.perf_counter() - started
        if on_batch is not None:
            on_batch(summary)
    summary.seconds = time.perf_counter() - started
    return summary
