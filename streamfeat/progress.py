"""A progress line for long work: done/total, rate and ETA.

In an interactive terminal it redraws one line on stderr; otherwise it writes a plain
line every ``log_every_s`` seconds (for logs of batch jobs) and a last one at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """``75`` -> ``1:15``; ``3725`` -> ``1:02:05``."""
    seconds = max(0, int(seconds + 0.5))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _si(value: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}"


class Progress:
    """Counts units of work; ``total`` ``None`` shows a count and rate without ETA."""

    def __init__(
        self,
        total: int | None,
        *,
        unit: str = "events",
        label: str = "",
        stream: TextIO | None = None,
        interactive: bool | None = None,
        enabled: bool = True,
        log_every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.unit = unit
        self.label = label
        self.done = 0
        self.stream = sys.stderr if stream is None else stream
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.enabled = enabled
        self.log_every_s = log_every_s
        self._clock = clock
        self.started = clock()
        self._last_draw = -1e18 if self.interactive else self.started
        self._width = 0

    def update(self, n: int, *, suffix: str = "") -> None:
        """Add ``n`` units done; redraws at most 10 times a second."""
        self.done += n
        if not self.enabled:
            return
        now = self._clock()
        interval = 0.1 if self.interactive else self.log_every_s
        if now - self._last_draw >= interval:
            self._last_draw = now
            self._draw(now, suffix)

    def line(self, now: float | None = None, suffix: str = "") -> str:
        """The progress text (without redraw control characters)."""
        now = self._clock() if now is None else now
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        parts = [self.label] if self.label else []
        if self.total:
            fraction = min(1.0, self.done / self.total)
            filled = int(fraction * 20)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            parts.append(f"[{'#' * filled}{'.' * (20 - filled)}] {fraction:6.1%}")
            parts.append(f"{_si(self.done)}/{_si(self.total)} {self.unit}")
            parts.append(f"{_si(rate)} {self.unit}/s")
            parts.append(f"ETA {format_seconds(eta)}" if eta != float("inf") else "ETA ?")
        else:
            parts.append(f"{_si(self.done)} {self.unit}")
            parts.append(f"{_si(rate)} {self.unit}/s")
        parts.append(f"elapsed {format_seconds(elapsed)}")
        if suffix:
            parts.append(suffix)
        return "  ".join(parts)

    def _draw(self, now: float, suffix: str) -> None:
        text = self.line(now, suffix)
        if self.interactive:
            pad = max(0, self._width - len(text))
            self._width = len(text)
            self.stream.write("\r" + text + " " * pad)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self, suffix: str = "") -> None:
        """Draw the final state (and end the redrawn line)."""
        if not self.enabled:
            return
        self._draw(self._clock(), suffix)
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
