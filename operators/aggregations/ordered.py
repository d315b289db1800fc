"""First, last and last-N values by event time.

Events are ordered by ``(event_time, seq)``: equal event times are broken by the
entity's arrival sequence, so the event that arrived later counts as later.
"""

from __future__ import annotations

from typing import Any

from operators.codec import Reader, Writer

_VERSION = 1

Stamped = tuple[int, int, Any]  # (event_time, seq, value)


def _write_stamped(w: Writer, item: Stamped) -> None:
    w.i64(item[0])
    w.i64(item[1])
    w.value(item[2])


def _read_stamped(r: Reader) -> Stamped:
    return (r.i64(), r.i64(), r.value())


class _Single:
    name = "single"
    invertible = False

    def init(self) -> Stamped | None:
        return None

    def value(self, acc: Stamped | None) -> Any:
        return None if acc is None else acc[2]

    def retract(self, acc, value, event_time: int, seq: int):
        raise NotImplementedError(f"{self.name} cannot retract; use a non-subtracting strategy")

    def to_bytes(self, acc: Stamped | None) -> bytes:
        w = Writer()
        w.u8(_VERSION)
        w.u8(0 if acc is None else 1)
        if acc is not None:
            _write_stamped(w, acc)
        return w.getvalue()

    def from_bytes(self, data: bytes) -> Stamped | None:
        r = Reader(data)
        r.version(_VERSION, self.name)
        acc = _read_stamped(r) if r.u8() else None
        r.done()
        return acc


class First(_Single):
    """Value of the earliest event. Empty value: ``None``."""

    name = "first"

    def add(self, acc, value, event_time: int, seq: int):
        if acc is None or (event_time, seq) < (acc[0], acc[1]):
            return (event_time, seq, value)
        return acc

    def merge(self, a, b):
        if a is None:
            return b
        if b is None:
            return a
        return b if (b[0], b[1]) < (a[0], a[1]) else a


class Last(_Single):
    """Value of the latest event. Empty value: ``None``."""

    name = "last"

    def add(self, acc, value, event_time: int, seq: int):
        if acc is None or (event_time, seq) >= (acc[0], acc[1]):
            return (event_time, seq, value)
        return acc

    def merge(self, a, b):
        if a is None:
            return b
        if b is None:
            return a
        return b if (b[0], b[1]) > (a[0], a[1]) else a


class LastN:
    """The ``n`` latest values, oldest first. Intermediate: a sorted tuple of
    ``(event_time, seq, value)``. Empty value: ``[]``."""

    invertible = False

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError("LastN needs n >= 1")
        self.n = n
        self.name = f"last{n}"

    def init(self) -> tuple[Stamped, ...]:
        return ()

    def add(self, acc, value, event_time: int, seq: int):
        item = (event_time, seq, value)
        if len(acc) < self.n:
            if not acc or (event_time, seq) >= (acc[-1][0], acc[-1][1]):
                return acc + (item,)
        elif (event_time, seq) <= (acc[0][0], acc[0][1]):
            return acc
        elif (event_time, seq) >= (acc[-1][0], acc[-1][1]):
            return acc[1:] + (item,)
        merged = sorted(acc + (item,), key=_stamp_key)
        return tuple(merged[-self.n :])

    def merge(self, a, b):
        if not b:
            return a
        if not a:
            return b
        return tuple(sorted(a + b, key=_stamp_key)[-self.n :])

    def retract(self, acc, value, event_time: int, seq: int):
        raise NotImplementedError(f"{self.name} cannot retract; use a non-subtracting strategy")

    def value(self, acc) -> list[Any]:
        return [item[2] for item in acc]

    def to_bytes(self, acc) -> bytes:
        w = Writer()
        w.u8(_VERSION)
        w.u32(len(acc))
        for item in acc:
            _write_stamped(w, item)
        return w.getvalue()

    def from_bytes(self, data: bytes):
        r = Reader(data)
        r.version(_VERSION, self.name)
        acc = tuple(_read_stamped(r) for _ in range(r.u32()))
        r.done()
        return acc


def _stamp_key(item: Stamped) -> tuple[int, int]:
    return (item[0], item[1])
