"""Compact, versioned byte encoding for operator state. No pickle, ever.

Every serialised blob written by an aggregator or a window strategy starts with
a version byte so that a changed layout can never be misread; readers reject
unknown versions with :class:`StateFormatError`.

Raw event values (ints, floats, strings, booleans, None) use a one-byte type tag
(:func:`encode_value`). Runs of values and lists of events are packed in bulk
(:func:`encode_values`, :func:`encode_events`): homogeneous runs — all floats, all
int64 ints, all ``None`` or all strings — take one ``struct`` call instead of one
per value, anything else falls back to tagged values.

Decoders work on an integer cursor over the original buffer (``unpack_from``) rather
than slicing it field by field. Helpers that read at an offset return
``(result, new_offset)``; they raise :class:`StateFormatError` for bad tags and
short strings, and let ``struct.error`` escape for reads past the end, which the
public ``from_bytes`` methods turn into :class:`StateFormatError` (see
:data:`DECODE_ERRORS` and :func:`corrupt`).
"""

from __future__ import annotations

import struct
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

__all__ = [
    "DECODE_ERRORS",
    "StateFormatError",
    "Reader",
    "Writer",
    "bad_version",
    "check_end",
    "corrupt",
    "decode_events",
    "decode_value",
    "decode_values",
    "decode_varints",
    "encode_blob",
    "encode_events",
    "encode_length",
    "encode_value",
    "encode_values",
    "encode_varints",
    "float_array",
    "int_array",
    "read_blob",
    "read_length",
    "unpack_floats",
    "unpack_ints",
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

#: Layout of a run of values (:func:`encode_values`): one kind byte, then
_RUN_TAGGED = 0  # one tagged value after another (the general case)
_RUN_FLOAT = 1  # ``n`` big-endian float64
_RUN_INT = 2  # ``n`` big-endian int64 (no bools, every value within int64)
_RUN_NONE = 3  # nothing: every value is None
_RUN_STR = 4  # u32 byte length, then the UTF-8 of the strings joined by "\x00" (none contains one)

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

_NoneType = type(None)
_JUST_FLOAT = {float}
_first = itemgetter(0)
_second = itemgetter(1)
_third = itemgetter(2)
_fourth = itemgetter(3)


class StateFormatError(ValueError):
    """Bytes that are not a valid encoding of the expected state."""


#: What decoding malformed bytes can raise besides :class:`StateFormatError`: reads past
#: the end (``struct.error``), an index past the end (``IndexError``), bad UTF-8
#: (``UnicodeDecodeError``). ``from_bytes`` methods convert them with :func:`corrupt`.
#: (:class:`StateFormatError` itself is not among them, so it passes through unchanged.)
DECODE_ERRORS = (struct.error, IndexError, UnicodeDecodeError)


def corrupt(what: str, exc: BaseException) -> StateFormatError:
    """The :class:`StateFormatError` for an exception out of :data:`DECODE_ERRORS`."""
    if isinstance(exc, (struct.error, IndexError)):
        return StateFormatError(f"{what}: truncated state ({exc})")
    return StateFormatError(f"{what}: corrupt state ({exc})")


def bad_version(data: bytes, expected: int, what: str) -> StateFormatError:
    """The error for a blob whose first byte is not ``expected`` (or that is empty)."""
    if not len(data):
        return StateFormatError(f"{what}: empty state, expected format version {expected}")
    return StateFormatError(f"{what}: state format version {data[0]}, this code reads {expected}")


def check_end(data: bytes, pos: int, what: str) -> None:
    """Raise unless ``pos`` is exactly the end of ``data``."""
    if pos != len(data):
        if pos > len(data):
            raise StateFormatError(f"{what}: truncated state: needs {pos} bytes, has {len(data)}")
        raise StateFormatError(f"{what}: {len(data) - pos} trailing bytes in state")


# -- arrays of fixed-width numbers ---------------------------------------------------------

_INT_ARRAYS: dict[int, struct.Struct] = {}
_FLOAT_ARRAYS: dict[int, struct.Struct] = {}
_U32_ARRAYS: dict[int, struct.Struct] = {}


def int_array(n: int) -> struct.Struct:
    """``struct.Struct`` of ``n`` big-endian int64 (memoised)."""
    s = _INT_ARRAYS.get(n)
    if s is None:
        s = struct.Struct(f">{n}q")
        if n <= 4096:
            _INT_ARRAYS[n] = s
    return s


def float_array(n: int) -> struct.Struct:
    """``struct.Struct`` of ``n`` big-endian float64 (memoised)."""
    s = _FLOAT_ARRAYS.get(n)
    if s is None:
        s = struct.Struct(f">{n}d")
        if n <= 4096:
            _FLOAT_ARRAYS[n] = s
    return s


def _u32_array(n: int) -> struct.Struct:
    s = _U32_ARRAYS.get(n)
    if s is None:
        s = struct.Struct(f">{n}I")
        if n <= 4096:
            _U32_ARRAYS[n] = s
    return s


def unpack_ints(data: bytes, pos: int, n: int) -> tuple[tuple[int, ...], int]:
    """``n`` int64 at ``pos``; struct.error when short."""
    return int_array(n).unpack_from(data, pos), pos + 8 * n


def unpack_floats(data: bytes, pos: int, n: int) -> tuple[tuple[float, ...], int]:
    """``n`` float64 at ``pos``; struct.error when short."""
    return float_array(n).unpack_from(data, pos), pos + 8 * n


# -- zigzag varints ------------------------------------------------------------------------

_MASK64 = (1 << 64) - 1
_SIGN64 = 1 << 63


def encode_varints(values: list[int] | tuple[int, ...], *, deltas: bool = False) -> bytes:
    """int64 values as zigzag LEB128 varints (1 byte for -64..63, at most 10), each the
    difference from the one before when ``deltas`` (the first from 0; differences wrap as
    int64 arithmetic does, so any int64 sequence round-trips). Small or slowly changing
    numbers — tile indices, counts — take 1-2 bytes instead of 8."""
    out = bytearray()
    previous = 0
    for value in values:
        if deltas:
            value, previous = value - previous, value
        value &= _MASK64
        if value >= _SIGN64:
            value -= 1 << 64
        unsigned = ((value << 1) ^ (value >> 63)) & _MASK64
        while unsigned >= 0x80:
            out.append((unsigned & 0x7F) | 0x80)
            unsigned >>= 7
        out.append(unsigned)
    return bytes(out)


def decode_varints(data: bytes, pos: int, n: int, *, deltas: bool = False) -> tuple[list[int], int]:
    """``n`` values written by :func:`encode_varints` at ``pos``; IndexError when short,
    StateFormatError for a varint longer than 64 bits."""
    out = []
    previous = 0
    for _ in range(n):
        unsigned = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            if shift == 63 and byte > 1:
                raise StateFormatError("varint: longer than 64 bits")
            unsigned |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
        value = (unsigned >> 1) ^ -(unsigned & 1)
        if deltas:
            value = ((previous + value + _SIGN64) & _MASK64) - _SIGN64
            previous = value
        out.append(value)
    return out, pos


_ONE_BYTE_LENGTHS = [bytes((n << 1,)) for n in range(64)]


def encode_length(n: int) -> bytes:
    """A length (>= 0) as one :func:`encode_varints` varint: one byte below 64."""
    return _ONE_BYTE_LENGTHS[n] if n < 64 else encode_varints((n,))


def read_length(data: bytes, pos: int, what: str) -> tuple[int, int]:
    """A length written by :func:`encode_length` at ``pos`` and the position after it;
    StateFormatError when negative, IndexError when short."""
    byte = data[pos]
    if byte < 0x80:  # one byte: the common case
        size = (byte >> 1) ^ -(byte & 1)
        pos += 1
    else:
        (size,), pos = decode_varints(data, pos, 1)
    if size < 0:
        raise StateFormatError(f"{what}: negative length {size}")
    return size, pos


# -- blobs ---------------------------------------------------------------------------------


def encode_blob(data: bytes) -> bytes:
    """u32 length + ``data``."""
    return _I.pack(len(data)) + data


def read_blob(data: bytes, pos: int) -> tuple[bytes, int]:
    """A length-prefixed blob at ``pos`` (a copy); StateFormatError when short."""
    size = _I.unpack_from(data, pos)[0]
    start = pos + 4
    end = start + size
    if end > len(data):
        raise StateFormatError(f"truncated state: blob of {size} bytes at offset {start}, {len(data) - start} left")
    return bytes(data[start:end]), end


# -- single tagged values ------------------------------------------------------------------

_NONE_BYTES = b"\x00"
_FALSE_BYTES = b"\x01"
_TRUE_BYTES = b"\x02"
_INT_TAG = b"\x03"
_FLOAT_TAG = b"\x04"
_STR_TAG = b"\x05"
_BIGINT_TAG = b"\x06"
_TAG_Q = struct.Struct(">Bq")
_TAG_D = struct.Struct(">Bd")
_TAG_I = struct.Struct(">BI")


def encode_value(value: Any) -> bytes:
    """A raw event value with a one-byte type tag."""
    cls = type(value)
    if cls is float:
        return _TAG_D.pack(_TAG_FLOAT, value)
    if cls is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return _TAG_Q.pack(_TAG_INT, value)
        raw = str(value).encode()
        return _TAG_I.pack(_TAG_BIGINT, len(raw)) + raw
    if cls is str:
        raw = value.encode("utf-8")
        return _TAG_I.pack(_TAG_STR, len(raw)) + raw
    if value is None:
        return _NONE_BYTES
    if value is True:
        return _TRUE_BYTES
    if value is False:
        return _FALSE_BYTES
    # Subclasses (IntEnum, numpy.float64, ...) encode as their base type.
    if isinstance(value, int):
        return encode_value(int(value))
    if isinstance(value, float):
        return encode_value(float(value))
    if isinstance(value, str):
        return encode_value(str(value))
    raise TypeError(f"cannot encode value of type {cls.__name__}")


def decode_value(data: bytes, pos: int) -> tuple[Any, int]:
    """The tagged value at ``pos`` and the offset after it."""
    tag = data[pos]
    if tag == _TAG_FLOAT:
        return _D.unpack_from(data, pos + 1)[0], pos + 9
    if tag == _TAG_INT:
        return _Q.unpack_from(data, pos + 1)[0], pos + 9
    if tag == _TAG_NONE:
        return None, pos + 1
    if tag == _TAG_TRUE:
        return True, pos + 1
    if tag == _TAG_FALSE:
        return False, pos + 1
    if tag == _TAG_STR or tag == _TAG_BIGINT:
        size = _I.unpack_from(data, pos + 1)[0]
        start = pos + 5
        end = start + size
        if end > len(data):
            raise StateFormatError(f"truncated state: string of {size} bytes at offset {start}")
        text = str(data[start:end], "utf-8")
        return (text if tag == _TAG_STR else _parse_bigint(text)), end
    raise StateFormatError(f"unknown value tag {tag} at offset {pos}")


def _parse_bigint(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise StateFormatError(f"bad big integer {text[:40]!r}") from None
    if _INT64_MIN <= value <= _INT64_MAX or text != str(value):
        raise StateFormatError(f"non-canonical big integer {text!r}")
    return value


# -- runs of values ------------------------------------------------------------------------


def _run_kind(classes: set[type]) -> int:
    """The run kind for values of these classes (the set is consumed)."""
    if len(classes) == 1:
        cls = classes.pop()
        if cls is float:
            return _RUN_FLOAT
        if cls is int:
            return _RUN_INT
        if cls is _NoneType:
            return _RUN_NONE
        if cls is str:
            return _RUN_STR
        classes.add(cls)
    # Subclasses (numpy.float64, IntEnum, ...) are stored as their base type, exactly as
    # tagged values are, so a decoded run re-encodes to the same bytes.
    if all(issubclass(c, float) for c in classes):
        return _RUN_FLOAT
    if all(issubclass(c, int) and not issubclass(c, bool) for c in classes):
        return _RUN_INT
    if all(issubclass(c, str) for c in classes):
        return _RUN_STR
    return _RUN_TAGGED


def encode_values(values: list[Any] | tuple[Any, ...]) -> bytes:
    """A run of ``len(values)`` values (the count is not included: callers store it).

    An empty run is empty bytes; otherwise a kind byte (see ``_RUN_*``) and the values.
    """
    n = len(values)
    if not n:
        return b""
    if n == 1 and type(values[0]) is float:
        return _TAG_D.pack(_RUN_FLOAT, values[0])
    classes = set(map(type, values))
    if classes == _JUST_FLOAT:  # the common case first
        return b"\x01" + (_FLOAT_ARRAYS.get(n) or float_array(n)).pack(*values)
    kind = _run_kind(classes)
    if kind == _RUN_FLOAT:
        return b"\x01" + float_array(n).pack(*values)
    if kind == _RUN_INT:
        try:
            return b"\x02" + int_array(n).pack(*values)
        except struct.error:  # an int beyond int64: tagged (big-int fallback)
            pass
    elif kind == _RUN_NONE:
        return b"\x03"
    elif kind == _RUN_STR:
        joined = "\x00".join(values)
        if joined.count("\x00") == n - 1:  # no string contains the separator
            raw = joined.encode("utf-8")
            return _TAG_I.pack(_RUN_STR, len(raw)) + raw
    return b"\x00" + b"".join(map(encode_value, values))


def decode_values(data: bytes, pos: int, n: int) -> tuple[list[Any] | tuple[Any, ...], int]:
    """A run of ``n`` values written by :func:`encode_values`, and the offset after it
    (a list or a tuple). Callers check ``n`` is plausible first (a run of ``None`` takes
    one byte whatever ``n``), e.g. by having read ``n`` int64s it belongs to."""
    if not n:
        return (), pos
    kind = data[pos]
    pos += 1
    if kind == _RUN_FLOAT:
        return float_array(n).unpack_from(data, pos), pos + 8 * n
    if kind == _RUN_INT:
        return int_array(n).unpack_from(data, pos), pos + 8 * n
    if kind == _RUN_NONE:
        return (None,) * n, pos
    if kind == _RUN_STR:
        size = _I.unpack_from(data, pos)[0]
        start = pos + 4
        end = start + size
        if end > len(data):
            raise StateFormatError(f"truncated state: {size} bytes of strings at offset {start}")
        values = str(data[start:end], "utf-8").split("\x00")
        if len(values) != n:
            raise StateFormatError(f"string run holds {len(values)} values, expected {n}")
        return values, end
    if kind != _RUN_TAGGED:
        raise StateFormatError(f"unknown value run kind {kind} at offset {pos - 1}")
    out: list[Any] = []
    append = out.append
    unpack_d = _D.unpack_from
    unpack_q = _Q.unpack_from
    for _ in range(n):
        tag = data[pos]
        if tag == _TAG_FLOAT:
            append(unpack_d(data, pos + 1)[0])
            pos += 9
        elif tag == _TAG_INT:
            append(unpack_q(data, pos + 1)[0])
            pos += 9
        else:
            value, pos = decode_value(data, pos)
            append(value)
    return out, pos


# -- event lists ---------------------------------------------------------------------------


def encode_events(events: list[tuple[Any, ...]] | tuple[tuple[Any, ...], ...], fourth: bool = False) -> bytes:
    """Events ``(event_time, seq, value, ...)``: u32 count, then all event times (int64),
    all seqs (int64) and the value run; with ``fourth``, a second value run of the
    events' fourth fields (otherwise fields after the value are not stored)."""
    n = len(events)
    if not n:
        return b"\x00\x00\x00\x00"
    if n == 1:
        event = events[0]
        head = _ONE_EVENT.pack(1, event[0], event[1])
        if fourth:
            return head + encode_values((event[2],)) + encode_values((event[3],))
        return head + encode_values((event[2],))
    # One pass over the (scattered) event tuples, then strided slices of a flat list.
    flat = list(chain.from_iterable(events))
    width = len(events[0])
    if len(flat) != width * n or width < (4 if fourth else 3):
        raise ValueError("events must be tuples of one length, (event_time, seq, value[, fourth], ...)")
    head = (_EVENT_HEADS.get(n) or _event_head(n)).pack(n, *flat[0::width], *flat[1::width])
    if fourth:
        return b"".join((head, encode_values(flat[2::width]), encode_values(flat[3::width])))
    return head + encode_values(flat[2::width])


_ONE_EVENT = struct.Struct(">Iqq")
_EVENT_HEADS: dict[int, struct.Struct] = {}


def _event_head(n: int) -> struct.Struct:
    """u32 count, ``n`` event times and ``n`` seqs (memoised)."""
    s = struct.Struct(f">I{2 * n}q")
    if n <= 4096:
        _EVENT_HEADS[n] = s
    return s


def decode_events(data: bytes, pos: int, pad: bool = False, fourth: bool = False) -> tuple[list[tuple[Any, ...]], int]:
    """Events written by :func:`encode_events` as ``(event_time, seq, value)`` tuples,
    ``(event_time, seq, value, None)`` with ``pad``, ``(event_time, seq, value, fourth)``
    with ``fourth`` (written with ``fourth=True``); and the offset after them."""
    n = _I.unpack_from(data, pos)[0]
    pos += 4
    if not n:
        return [], pos
    if pos + 16 * n > len(data):
        raise StateFormatError(f"truncated state: {n} events need {16 * n} bytes at offset {pos}")
    ints = _INT_ARRAYS.get(n) or int_array(n)
    times = ints.unpack_from(data, pos)
    seqs = ints.unpack_from(data, pos + 8 * n)
    values, pos = decode_values(data, pos + 16 * n, n)
    if fourth:
        extra, pos = decode_values(data, pos, n)
        return list(zip(times, seqs, values, extra)), pos
    if pad:
        return list(zip(times, seqs, values, repeat(None, n))), pos
    return list(zip(times, seqs, values)), pos


# -- general-purpose builder and cursor ----------------------------------------------------


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
        self._parts.append(encode_value(value))

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    """Cursor over bytes written by :class:`Writer`; raises StateFormatError on truncation."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def data(self) -> bytes:
        return self._data

    @property
    def pos(self) -> int:
        return self._pos

    @pos.setter
    def pos(self, value: int) -> None:
        if value > len(self._data):
            raise StateFormatError(f"truncated state: needs {value} bytes, has {len(self._data)}")
        self._pos = value

    def _unpack(self, fmt: struct.Struct) -> Any:
        pos = self._pos
        end = pos + fmt.size
        if end > len(self._data):
            raise StateFormatError(f"truncated state: wanted {fmt.size} bytes at offset {pos}")
        self._pos = end
        return fmt.unpack_from(self._data, pos)[0]

    def u8(self) -> int:
        pos = self._pos
        if pos >= len(self._data):
            raise StateFormatError(f"truncated state: wanted 1 byte at offset {pos}")
        self._pos = pos + 1
        return self._data[pos]

    def i64(self) -> int:
        return self._unpack(_Q)

    def f64(self) -> float:
        return self._unpack(_D)

    def u32(self) -> int:
        return self._unpack(_I)

    def raw(self, size: int) -> bytes:
        pos = self._pos
        end = pos + size
        if end > len(self._data):
            raise StateFormatError(f"truncated state: wanted {size} bytes at offset {pos}")
        self._pos = end
        return bytes(self._data[pos:end])

    def blob(self) -> bytes:
        return self.raw(self.u32())

    def value(self) -> Any:
        try:
            value, self._pos = decode_value(self._data, self._pos)
        except DECODE_ERRORS as exc:
            raise corrupt("value", exc) from exc
        return value

    def version(self, expected: int, what: str) -> None:
        got = self.u8()
        if got != expected:
            raise StateFormatError(f"{what}: state format version {got}, this code reads {expected}")

    def done(self) -> None:
        if self._pos != len(self._data):
            raise StateFormatError(f"{len(self._data) - self._pos} trailing bytes in state")
