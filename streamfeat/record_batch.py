"""A batch's record values and timestamps as a few buffers instead of an object per record.

The native Kafka reader (:class:`streamfeat.kafka_io.PartitionReader`) hands a batch over
as ONE ``bytes`` holding every value with their end positions, and the timestamps as an
``array('q')``. These two sequences give the per-record view the pipeline's Python paths
need (a dead letter's bytes, the records the native decoder defers to the Python rules),
while :func:`streamfeat.ingest.decode_records` hands the buffers to the native decoder
whole (``RecordDecoder.decode_packed``).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import overload

__all__ = ["PackedValues", "Timestamps"]


class PackedValues(Sequence[bytes]):
    """Record values packed in one buffer: value ``i`` is ``buffer[ends[i-1]:ends[i]]``,
    the first starting at 0. A slice is a list of ``bytes``."""

    __slots__ = ("buffer", "ends")

    def __init__(self, buffer: bytes, ends: array) -> None:
        if ends.typecode != "q":
            raise TypeError(f"ends must be an array('q'), got array({ends.typecode!r})")
        self.buffer = buffer
        self.ends = ends

    def __len__(self) -> int:
        return len(self.ends)

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...
    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self.ends)))]
        ends = self.ends
        if index < 0:
            index += len(ends)
        if not 0 <= index < len(ends):
            raise IndexError("record index out of range")
        start = ends[index - 1] if index else 0
        return self.buffer[start : ends[index]]


class Timestamps(Sequence["int | None"]):
    """Record timestamps in an ``array('q')``, a negative one meaning none (``None``).
    A slice is a list."""

    __slots__ = ("values",)

    def __init__(self, values: array) -> None:
        if values.typecode != "q":
            raise TypeError(f"timestamps must be an array('q'), got array({values.typecode!r})")
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    @overload
    def __getitem__(self, index: int) -> int | None: ...
    @overload
    def __getitem__(self, index: slice) -> list[int | None]: ...
    def __getitem__(self, index: int | slice) -> int | None | list[int | None]:
        if isinstance(index, slice):
            return [None if stamp < 0 else stamp for stamp in self.values[index]]
        stamp = self.values[index]
        return None if stamp < 0 else stamp
