"""Durations: everything is integer milliseconds inside streamfeat.

Users may write ``"500ms"``, ``"30s"``, ``"5m"``, ``"2h"``, ``"7d"``, ``"1w"``, an ``int``
of milliseconds, or a :class:`datetime.timedelta`.
"""

from __future__ import annotations

import re
from datetime import timedelta

from streamfeat.errors import DefinitionError

__all__ = ["Duration", "format_duration", "parse_duration"]

Duration = str | int | timedelta

_UNITS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PATTERN = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$")


def parse_duration(value: Duration, *, what: str, allow_zero: bool = False) -> int:
    """Milliseconds of ``value``; raises DefinitionError naming ``what`` when invalid."""
    if isinstance(value, bool):
        raise DefinitionError(f"{what}: expected a duration like '5m', got {value!r}")
    if isinstance(value, timedelta):
        ms = value // timedelta(milliseconds=1)
    elif isinstance(value, int):
        ms = value
    elif isinstance(value, str):
        match = _PATTERN.match(value)
        if match is None:
            raise DefinitionError(
                f"{what}: cannot read duration {value!r}; write a whole number and a unit "
                f"(ms, s, m, h, d, w), e.g. '30s', '5m', '7d'"
            )
        ms = int(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise DefinitionError(f"{what}: expected a duration like '5m', got {type(value).__name__}")
    if ms < 0 or (ms == 0 and not allow_zero):
        raise DefinitionError(f"{what}: duration must be {'>= 0' if allow_zero else 'positive'}, got {value!r}")
    return ms


def format_duration(ms: int) -> str:
    """Shortest exact label: 86400000 -> '1d', 90000 -> '90s'."""
    if ms == 0:
        return "0s"
    for unit in ("d", "h", "m", "s"):  # no weeks: '7d' reads better than '1w' in names
        size = _UNITS[unit]
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
