"""Compact, versioned byte encoding for operator state. No pickle, ever.

Every serialised blob written by an aggregator or a window strategy starts with
a version byte so that a changed layout can never be misread; readers reject
unknown versions with :class:`StateFormatError`.

Raw event values (ints, floats, strings, booleans, None) use a one-byte type tag.
"""

from __future__ import annotations

import struct
from typing import Any

__all__ = [
    "StateFormatError",
    "Reader",
    "Writer",
]

_Q = struct.Struct(">q")
_D = struct.Struct(">d")
_I = struct.Struct(">I")

_TAG_NONE = 0
_TAG_FALSE = 1
_TAG_TRUE = 2
_TAG_INT = 3
_TAG_FLOAT = 4
_TAG_STR = 5
_TAG_BIGINT = 6

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class StateFormatError(ValueError):
    """Bytes that are not a valid encoding of the expected state."""


class Writer:
    """Append-only byte builder."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def u8(self, value: int) -> None:
        self._parts.append(bytes((value,)))

    def i64(self, value: int) -> None:
        self._parts.append(_Q.pack(value))

    def f64(self, value: float) -> None:
        self._parts.append(_D.pack(value))

    def u32(self, value: int) -> None:
        self._parts.append(_I.pack(value))

    def raw(self, data: bytes) -> None:
        self._parts.append(data)

    def blob(self, data: bytes) -> None:
        self._parts.append(_I.pack(len(data)))
        self._parts.append(data)

    def value(self, value: Any) -> None:
        """A raw event value with a type tag."""
        if value is None:
            self._parts.append(b"\x00")
        elif value is True:
            self._parts.append(b"\x02")
        elif value is False:
            self._parts.append(b"\x01")
        elif isinstance(value, int):
            if _INT64_MIN <= value <= _INT64_MAX:
                self._parts.append(b"\x03" + _Q.pack(value))
            else:
                raw = str(value).encode()
                self._parts.append(b"\x06" + _I.pack(len(raw)) + raw)
        elif isinstance(value, float):
            self._parts.append(b"\x04" + _D.pack(value))
        elif isinstance(value, str):
            raw = value.encode("utf-8")
            self._parts.append(b"\x05" + _I.pack(len(raw)) + raw)
        else:
            raise TypeError(f"cannot encode value of type {type(value).__name__}")

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    """Cursor over bytes written by :class:`Writer`; raises StateFormatError on truncation."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def _take(self, size: int) -> memoryview:
        end = self._pos + size
        if end > len(self._data):
            raise StateFormatError(f"truncated state: wanted {size} bytes at offset {self._pos}")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def u8(self) -> int:
        return self._take(1)[0]

    def i64(self) -> int:
        return _Q.unpack(self._take(8))[0]

    def f64(self) -> float:
        return _D.unpack(self._take(8))[0]

    def u32(self) -> int:
        return _I.unpack(self._take(4))[0]

    def raw(self, size: int) -> bytes:
        return bytes(self._take(size))

    def blob(self) -> bytes:
        return bytes(self._take(self.u32()))

    def value(self) -> Any:
        tag = self.u8()
        if tag == _TAG_NONE:
            return None
        if tag == _TAG_TRUE:
            return True
        if tag == _TAG_FALSE:
            return False
        if tag == _TAG_INT:
            return self.i64()
        if tag == _TAG_FLOAT:
            return self.f64()
        if tag == _TAG_STR:
            return bytes(self._take(self.u32())).decode("utf-8")
        if tag == _TAG_BIGINT:
            return int(bytes(self._take(self.u32())).decode())
        raise StateFormatError(f"unknown value tag {tag}")

    def version(self, expected: int, what: str) -> None:
        got = self.u8()
        if got != expected:
            raise StateFormatError(f"{what}: state format version {got}, this code reads {expected}")

    def done(self) -> None:
        if self._pos != len(self._data):
            raise StateFormatError(f"{len(self._data) - self._pos} trailing bytes in state")
