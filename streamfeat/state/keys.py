"""The state store's key layout: one byte of keyspace, then fixed-width, big-endian parts.

========================  =====================================================  ==========================
keyspace                  key                                                    value
========================  =====================================================  ==========================
``M`` meta                ``b"Mformat"``                                         format version, u32 BE
``M`` views               ``b"Mview:" + fingerprint (16 hex characters)``        the view's name (UTF-8)
``O`` consumed offsets    ``b"O" + topic (UTF-8) + b"\\x00" + partition (u32 BE)``  next offset, i64 BE
``S`` entity state        ``b"S" + fingerprint (8 bytes) + entity key (UTF-8)``  ``ViewOperator.to_bytes``
``U`` unconfirmed rows    ``b"U" + fingerprint (8 bytes)``                       JSON arrays of entity keys
========================  =====================================================  ==========================

State keys start with the view's fingerprint, so a view whose definition changed (a new
fingerprint) can never read state written by the old one, and each view's entities are
one contiguous key range. Topics cannot contain NUL, so the offset key parses back
unambiguously; partitions are fixed width, so a topic's partitions sort in order.

A view's ``U`` value lists the entities whose online rows were handed to a background
writer before a commit and not yet confirmed written when it committed: a restart
publishes their committed state again (see :class:`~streamfeat.pipeline.FeaturePipeline`).
One value per view, not a key per entity: a commit changes it with one write instead of
a put and a delete per entity. The value is a JSON array of arrays, one per batch handed
over (an entity may appear in several); a flat array of keys, as written before, is read too.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

import orjson

from streamfeat.errors import StateError, StateKeyError

__all__ = [
    "FORMAT_KEY",
    "FORMAT_VERSION",
    "IDENTITY_KEY",
    "MAX_ENTITY_KEY_BYTES",
    "META_PREFIX",
    "OFFSET_PREFIX",
    "STATE_PREFIX",
    "UNCONFIRMED_PREFIX",
    "VIEW_REGISTRY_PREFIX",
    "decode_format",
    "decode_offset",
    "decode_offset_key",
    "decode_state_key",
    "decode_unconfirmed",
    "encode_format",
    "encode_offset",
    "encode_unconfirmed",
    "entity_key_bytes",
    "offset_key",
    "state_key",
    "state_keys",
    "unconfirmed_key",
    "view_prefix",
    "view_registry_key",
]

STATE_PREFIX = b"S"
UNCONFIRMED_PREFIX = b"U"
OFFSET_PREFIX = b"O"
META_PREFIX = b"M"
FORMAT_KEY = META_PREFIX + b"format"
VIEW_REGISTRY_PREFIX = META_PREFIX + b"view:"
IDENTITY_KEY = META_PREFIX + b"identity"  # a random id, made once: which store an online store was filled from
FORMAT_VERSION = 1
MAX_ENTITY_KEY_BYTES = 1024
_FINGERPRINT_BYTES = 8
_MAX_PARTITION = 2**31 - 1
_MAX_OFFSET = 2**63 - 1

_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")


def view_registry_key(fingerprint: str) -> bytes:
    """The meta key recording that a view with this fingerprint writes to the store."""
    view_prefix(fingerprint)  # validates
    return VIEW_REGISTRY_PREFIX + fingerprint.encode("ascii")


def view_prefix(fingerprint: str) -> bytes:
    """The key prefix of every entity of the view with this fingerprint (16 hex characters)."""
    if not isinstance(fingerprint, str) or len(fingerprint) != 2 * _FINGERPRINT_BYTES:
        raise StateKeyError(f"view fingerprint must be {2 * _FINGERPRINT_BYTES} hex characters, got {fingerprint!r}")
    try:
        raw = bytes.fromhex(fingerprint)
    except ValueError as exc:
        raise StateKeyError(f"view fingerprint must be hex, got {fingerprint!r}") from exc
    return STATE_PREFIX + raw


def unconfirmed_key(fingerprint: str) -> bytes:
    """The key of the list of the view's entities whose online rows await confirmation."""
    return UNCONFIRMED_PREFIX + view_prefix(fingerprint)[len(STATE_PREFIX) :]


def encode_unconfirmed(batches: Sequence[Sequence[str]]) -> bytes:
    """A ``U`` value: the entity keys of each batch handed over, as they were (a commit
    writes it without merging them: orjson walks the lists at C speed)."""
    return orjson.dumps(batches)


def decode_unconfirmed(data: bytes) -> list[str]:
    """The distinct entity keys of a ``U`` value (arrays per batch, or one flat array)."""
    try:
        listed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise StateError(f"not JSON: {exc}") from exc
    if not isinstance(listed, list):
        raise StateError(f"not a JSON array: {data[:60]!r}")
    keys: dict[str, None] = {}
    for item in listed:
        if isinstance(item, str):
            keys[item] = None
        elif isinstance(item, list) and all(isinstance(key, str) for key in item):
            keys.update(dict.fromkeys(item))
        else:
            raise StateError(f"not arrays of entity keys: {data[:60]!r}")
    return list(keys)


def entity_key_bytes(entity_key: str) -> bytes:
    """UTF-8 of a valid entity key: a non-empty string of at most 1024 bytes."""
    if not isinstance(entity_key, str):
        raise StateKeyError(f"entity key must be a str, got {type(entity_key).__name__} {entity_key!r}")
    try:
        raw = entity_key.encode()
    except UnicodeEncodeError as exc:  # lone surrogates
        raise StateKeyError(f"entity key {entity_key!r} is not valid Unicode") from exc
    if not raw:
        raise StateKeyError("entity key must not be empty")
    if len(raw) > MAX_ENTITY_KEY_BYTES:
        raise StateKeyError(
            f"entity key {entity_key[:40]!r}… is {len(raw)} bytes of UTF-8; the limit is {MAX_ENTITY_KEY_BYTES}"
        )
    return raw


def state_key(prefix: bytes, entity_key: str) -> bytes:
    """The key of one entity's state; ``prefix`` comes from :func:`view_prefix`."""
    return prefix + entity_key_bytes(entity_key)


def state_keys(prefix: bytes, entity_keys: Iterable[str]) -> list[bytes]:
    """:func:`state_key` of each entity key, in order: what a batch reads or validates,
    checked in bulk (C-speed passes) and per key only to name a bad one."""
    keys = entity_keys if isinstance(entity_keys, list) else list(entity_keys)
    try:
        raw = [key.encode() for key in keys]
    except (AttributeError, UnicodeEncodeError):  # not a str, or lone surrogates
        return [state_key(prefix, key) for key in keys]
    if raw and (not min(map(len, raw)) or max(map(len, raw)) > MAX_ENTITY_KEY_BYTES or set(map(type, keys)) - {str}):
        return [state_key(prefix, key) for key in keys]
    return [prefix + key for key in raw]


def decode_state_key(prefix: bytes, key: bytes) -> str:
    """The entity key of a state key under ``prefix``."""
    if not key.startswith(prefix) or len(key) == len(prefix):
        raise StateError(f"{key!r} is not a state key of view prefix {prefix!r}")
    try:
        return key[len(prefix) :].decode()
    except UnicodeDecodeError as exc:
        raise StateError(f"state key {key!r} does not hold a UTF-8 entity key") from exc


def offset_key(topic: str, partition: int) -> bytes:
    """The key of a topic-partition's consumed offset."""
    if not isinstance(topic, str) or not topic or "\x00" in topic:
        raise StateKeyError(f"topic must be a non-empty string without NUL, got {topic!r}")
    if isinstance(partition, bool) or not isinstance(partition, int) or not 0 <= partition <= _MAX_PARTITION:
        raise StateKeyError(f"partition of topic {topic!r} must be an int in [0, 2**31), got {partition!r}")
    return OFFSET_PREFIX + topic.encode() + b"\x00" + _U32.pack(partition)


def decode_offset_key(key: bytes) -> tuple[str, int]:
    """``(topic, partition)`` of an offset key."""
    topic, sep, partition = key[1:-5], key[-5:-4], key[-4:]
    if not key.startswith(OFFSET_PREFIX) or sep != b"\x00" or not topic or b"\x00" in topic:
        raise StateError(f"{key!r} is not an offset key")
    try:
        return topic.decode(), _U32.unpack(partition)[0]
    except UnicodeDecodeError as exc:
        raise StateError(f"offset key {key!r} does not hold a UTF-8 topic") from exc


def encode_offset(offset: int) -> bytes:
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= _MAX_OFFSET:
        raise StateKeyError(f"offset must be an int in [0, 2**63), got {offset!r}")
    return _I64.pack(offset)


def decode_offset(value: bytes) -> int:
    if len(value) != _I64.size:
        raise StateError(f"stored offset {value!r} is not 8 bytes")
    return _I64.unpack(value)[0]


def encode_format(version: int = FORMAT_VERSION) -> bytes:
    return _U32.pack(version)


def decode_format(value: bytes) -> int:
    if len(value) != _U32.size:
        raise StateError(f"stored format version {value!r} is not 4 bytes")
    return _U32.unpack(value)[0]
