"""The rows the runtime builds through the slots equal those the dataclasses build."""

from __future__ import annotations

import dataclasses

import pytest

from streamfeat.online.base import CachedValues, StoredEntity, make_cached_values, make_row, make_stored_entity


def test_fast_rows_equal_dataclass_rows() -> None:
    cached = make_cached_values(b'{"n":1}', 10, 20)
    assert cached == CachedValues(b'{"n":1}', 10, 20)
    assert hash(cached) == hash(CachedValues(b'{"n":1}', 10, 20))
    for state, values in ((b"s", cached), (None, cached), (b"s", None)):
        row = make_stored_entity(state, 3, 30, values)
        assert row == StoredEntity(state, 3, 30, values)
        assert repr(row) == repr(StoredEntity(state, 3, 30, values))
        assert row.state_is_current and row.state_version is None
        assert dataclasses.replace(row, version=4) == StoredEntity(state, 4, 30, values)


def test_fast_rows_stay_frozen() -> None:
    row = make_stored_entity(b"s", 1, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.version = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        make_cached_values(b"{}", 0, 1).valid_until = 5  # type: ignore[misc]


def test_make_row_equals_a_row_built_in_two_steps() -> None:
    for state, values in ((b"s", b'{"n":1}'), (None, b'{"n":1}'), (b"s", None)):
        cached = None if values is None else CachedValues(values, 10, 20)
        row = make_row(state, 3, 30, values, 10, 20)
        assert row == StoredEntity(state, 3, 30, cached) == make_stored_entity(state, 3, 30, cached)
        assert row.state_is_current
        with pytest.raises(dataclasses.FrozenInstanceError):
            row.version = 4  # type: ignore[misc]
