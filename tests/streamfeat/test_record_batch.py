"""A batch's values in one buffer and its timestamps in an array: the per-record view."""

from __future__ import annotations

from array import array

import pytest

from streamfeat.record_batch import PackedValues, Timestamps


def test_values_in_one_buffer_read_as_a_sequence_of_bytes():
    values = PackedValues(b"abcdef", array("q", [2, 2, 5, 6]))
    assert len(values) == 4
    assert list(values) == [b"ab", b"", b"cde", b"f"]
    assert values[0] == b"ab" and values[-1] == b"f" and values[-4] == b"ab"
    assert values[1:3] == [b"", b"cde"] and values[::-2] == [b"f", b""]
    with pytest.raises(IndexError):
        values[4]
    with pytest.raises(IndexError):
        values[-5]
    assert list(PackedValues(b"", array("q"))) == []
    with pytest.raises(TypeError, match="array\\('q'\\)"):
        PackedValues(b"ab", array("i", [2]))


def test_a_negative_timestamp_is_none():
    stamps = Timestamps(array("q", [5, -1, 0, 7]))
    assert list(stamps) == [5, None, 0, 7]
    assert stamps[1] is None and stamps[-1] == 7
    assert stamps[1:] == [None, 0, 7]
    with pytest.raises(TypeError, match="array\\('q'\\)"):
        Timestamps(array("d", [1.0]))
