"""The key layout round-trips and rejects what it cannot encode."""

from __future__ import annotations

import pytest

from streamfeat.errors import StateError, StateKeyError
from streamfeat.state import keys

FP = "0123456789abcdef"


@pytest.mark.parametrize("entity", ["u", "user-42", "ünïcødé ☃", "a" * 1024, "with\x00nul"])
def test_state_key_round_trip(entity):
    prefix = keys.view_prefix(FP)
    key = keys.state_key(prefix, entity)
    assert key == b"S" + bytes.fromhex(FP) + entity.encode()
    assert keys.decode_state_key(prefix, key) == entity


def test_views_with_different_fingerprints_never_share_keys():
    a, b = keys.view_prefix(FP), keys.view_prefix("fedcba9876543210")
    assert keys.state_key(a, "u1") != keys.state_key(b, "u1")
    with pytest.raises(StateError):
        keys.decode_state_key(a, keys.state_key(b, "u1"))


@pytest.mark.parametrize(
    "entity, message",
    [("", "must not be empty"), ("é" * 513, "1026 bytes"), (42, "must be a str"), ("\ud800", "not valid Unicode")],
)
def test_invalid_entity_keys(entity, message):
    with pytest.raises(StateKeyError, match=message):
        keys.state_key(keys.view_prefix(FP), entity)


def test_state_keys_in_bulk_equal_state_key_per_entity():
    prefix = keys.view_prefix(FP)
    entities = ["u", "user-42", "ünïcødé ☃", "a" * 1024, "with\x00nul"]
    assert keys.state_keys(prefix, entities) == [keys.state_key(prefix, e) for e in entities]
    assert keys.state_keys(prefix, iter(entities)) == keys.state_keys(prefix, entities)
    assert keys.state_keys(prefix, []) == []


@pytest.mark.parametrize(
    "entity, message",
    [("", "must not be empty"), ("é" * 513, "1026 bytes"), (42, "must be a str"), (b"u1", "must be a str"),
     ("\ud800", "not valid Unicode")],
)
def test_state_keys_name_the_bad_entity_key(entity, message):
    with pytest.raises(StateKeyError, match=message):
        keys.state_keys(keys.view_prefix(FP), ["good", entity, "also-good"])


@pytest.mark.parametrize("fingerprint", ["", "0123", "0123456789abcdeg", 12, "0123456789abcdef00"])
def test_invalid_fingerprints(fingerprint):
    with pytest.raises(StateKeyError, match="fingerprint"):
        keys.view_prefix(fingerprint)


@pytest.mark.parametrize("topic, partition", [("t", 0), ("events.v2", 7), ("x", 2**31 - 1), ("ü", 256)])
def test_offset_key_round_trip(topic, partition):
    key = keys.offset_key(topic, partition)
    assert key == b"O" + topic.encode() + b"\x00" + partition.to_bytes(4, "big")
    assert keys.decode_offset_key(key) == (topic, partition)


def test_offset_keys_sort_by_partition():
    assert sorted(keys.offset_key("t", p) for p in (10, 2, 300, 1)) == [
        keys.offset_key("t", p) for p in (1, 2, 10, 300)
    ]


@pytest.mark.parametrize("topic, partition", [("", 0), ("a\x00b", 0), ("t", -1), ("t", 2**31), ("t", True), (None, 0)])
def test_invalid_offset_keys(topic, partition):
    with pytest.raises(StateKeyError):
        keys.offset_key(topic, partition)


@pytest.mark.parametrize("offset", [0, 1, 2**63 - 1])
def test_offset_value_round_trip(offset):
    assert keys.decode_offset(keys.encode_offset(offset)) == offset


@pytest.mark.parametrize("offset", [-1, 2**63, 1.5, None])
def test_invalid_offsets(offset):
    with pytest.raises(StateKeyError):
        keys.encode_offset(offset)


def test_format_round_trip_and_corrupt_values():
    assert keys.decode_format(keys.encode_format()) == keys.FORMAT_VERSION
    with pytest.raises(StateError):
        keys.decode_format(b"\x01")
    with pytest.raises(StateError):
        keys.decode_offset(b"\x00" * 7)
    with pytest.raises(StateError):
        keys.decode_offset_key(b"Ot\x01\x00\x00\x00\x00")


def test_unconfirmed_lists_round_trip_and_read_the_flat_form():
    assert keys.decode_unconfirmed(keys.encode_unconfirmed([["u1", "u2"], ["u2", "ü3"], []])) == ["u1", "u2", "ü3"]
    assert keys.decode_unconfirmed(b'["u1", "u2", "u1"]') == ["u1", "u2"], "the flat array written before"
    assert keys.decode_unconfirmed(keys.encode_unconfirmed([])) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"\xff", "not JSON"), (b'{"u1": 1}', "not a JSON array"), (b"[[1, 2]]", "not arrays of entity keys"),
     (b'[["u1"], 3]', "not arrays of entity keys")],
)
def test_damaged_unconfirmed_lists_are_clear_errors(data, message):
    with pytest.raises(StateError, match=message):
        keys.decode_unconfirmed(data)
