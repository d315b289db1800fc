"""Training/serving parity, measured: compare what was served with what backfill computes.

A :class:`~streamfeat.online.FeatureReader` (and so the feature server) given a
served log writes one JSON line per answer — view, entity, the time it was evaluated
at (``as_of``), values. :func:`check_parity` replays the history through the backfill
(:func:`streamfeat.backfill.point_in_time`) at exactly those ``(entity, as_of)``
points and compares every value. Values are compared as JSON (what the log holds):
exact equality, floats included — serving and backfill run the same operators over
the same events in the same order, so there is nothing to tolerate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from streamfeat.backfill import REPLAY_BATCH_SIZE, BackfillReport, PointInTimeRequest, point_in_time
from streamfeat.definitions import FeatureView
from streamfeat.errors import DefinitionError, HistoryError
from streamfeat.history import History

__all__ = ["ParityReport", "ServedAnswer", "check_parity", "read_served_log"]


@dataclass(frozen=True, slots=True)
class ServedAnswer:
    """One logged answer."""

    view: str
    entity: str
    as_of: int
    values: dict[str, Any]


@dataclass(slots=True)
class ParityReport:
    """Per feature (``view:feature``): answers compared and mismatches; a few examples."""

    compared: dict[str, int] = field(default_factory=dict)
    mismatches: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    answers: int = 0
    replay: BackfillReport | None = None

    @property
    def ok(self) -> bool:
        return self.answers > 0 and not any(self.mismatches.values())

    @property
    def total_mismatches(self) -> int:
        return sum(self.mismatches.values())

    def render(self) -> str:
        lines = [f"parity: {self.answers:,} served answers replayed"]
        width = max((len(name) for name in self.compared), default=10)
        for name, compared in self.compared.items():
            wrong = self.mismatches.get(name, 0)
            lines.append(f"  {name:<{width}}  {compared:>9,} compared  {wrong:>7,} mismatch{'es' if wrong != 1 else ''}")
        if self.examples:
            lines.append("examples:")
            for example in self.examples:
                lines.append("  " + orjson.dumps(example).decode())
        if self.answers == 0:
            lines.append("FAIL: the served log holds no answers")
        else:
            lines.append("OK: zero mismatches" if self.ok else f"FAIL: {self.total_mismatches:,} mismatches")
        return "\n".join(lines)


def _parse(line: bytes, where: str) -> ServedAnswer:
    try:
        record = orjson.loads(line)
        return ServedAnswer(str(record["view"]), str(record["entity"]), int(record["as_of"]), dict(record["values"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise HistoryError(f"{where}: not a served-log line ({exc}): {line[:200]!r}") from exc


def read_served_log(paths: Sequence[str | Path]) -> list[ServedAnswer]:
    """Every answer of JSON Lines served logs, in file order."""
    answers: list[ServedAnswer] = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise HistoryError(f"served log {str(path)!r} does not exist")
        with path.open("rb") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    answers.append(_parse(line, f"{path}:{number}"))
    return answers


def read_served_topic(bootstrap: str, topic: str) -> list[ServedAnswer]:
    """Every answer a :class:`~streamfeat.kafka_io.KafkaServedLog` wrote to ``topic``."""
    from streamfeat.history import KafkaHistory
    from streamfeat.kafka_io import read_range

    span = KafkaHistory(bootstrap, topic)
    answers: list[ServedAnswer] = []
    for partition in span.partitions:
        for batch in read_range(bootstrap, topic, partition, span.starts[partition], span.ends[partition], 10_000):
            answers.extend(_parse(p, f"{topic}/{partition}@{o}") for o, p in zip(batch.offsets, batch.payloads))
    return answers


def _as_json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def check_parity(
    views: Sequence[FeatureView],
    served: Iterable[ServedAnswer],
    history: History,
    *,
    max_examples: int = 10,
    batch_size: int = REPLAY_BATCH_SIZE,
    cache_entities: int = 200_000,
    progress: bool = False,
) -> ParityReport:
    """Replay ``history`` at every served ``(view, entity, as_of)`` and compare values."""
    by_name = {view.name: view for view in views}
    grouped: dict[str, list[ServedAnswer]] = {}
    for answer in served:
        if answer.view not in by_name:
            raise DefinitionError(f"the served log names view {answer.view!r}; the definitions have {sorted(by_name)}")
        grouped.setdefault(answer.view, []).append(answer)
    report = ParityReport()
    if not grouped:
        return report
    requests = [
        PointInTimeRequest(by_name[name], [a.entity for a in answers], [a.as_of for a in answers])
        for name, answers in grouped.items()
    ]
    results, report.replay = point_in_time(
        requests, history, batch_size=batch_size, cache_entities=cache_entities, progress=progress
    )
    for (name, answers), columns in zip(grouped.items(), results, strict=True):
        for i, answer in enumerate(answers):
            report.answers += 1
            for feature, served_value in answer.values.items():
                key = f"{name}:{feature}"
                report.compared[key] = report.compared.get(key, 0) + 1
                report.mismatches.setdefault(key, 0)
                if feature not in columns:
                    replayed: Any = "<no such feature in the definitions>"
                else:
                    replayed = _as_json(columns[feature][i])
                if replayed != served_value:
                    report.mismatches[key] += 1
                    if len(report.examples) < max_examples:
                        report.examples.append(
                            {
                                "view": name,
                                "entity": answer.entity,
                                "as_of": answer.as_of,
                                "feature": feature,
                                "served": served_value,
                                "backfill": replayed,
                            }
                        )
    return report
