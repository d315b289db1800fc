"""The native record decoder against the Python rules (the oracle): same columns, same
types, same dead letters, on random, hand-written and corrupted JSON records."""

from __future__ import annotations

import itertools
import json
import math
import struct
from array import array

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operators.aggregations.hll import hash64
from streamfeat import Source
from streamfeat.ingest import _decode_python, _native_decoder, decode_records
from streamfeat.record_batch import PackedValues, Timestamps

SOURCE = Source("txns", timestamp="ts", schema={"user_id": str, "amount": float, "n": int, "ok": bool, "ts": int})
INT_KEYED = Source("clicks", timestamp="ts", schema={"uid": int, "page": str, "ts": int})
FIELDS = {"user_id": str, "amount": float, "n": int, "ok": bool, "ts": int, "arrived": int}


def dumps(value) -> str:
    """JSON text of ``value`` (integers of any size, non-ASCII kept raw)."""
    return json.dumps(value, ensure_ascii=False)


def canonical(decoded, dead):
    """Comparable form: floats by their bits, every value with its exact type."""

    def cell(v):
        if type(v) is float:
            return ("float", struct.pack("<d", v))
        return (type(v).__name__, v)

    columns = {name: [cell(v) for v in values] for name, values in decoded.columns.items()}
    return (
        [cell(k) for k in decoded.keys],
        [cell(t) for t in decoded.event_times],
        [cell(a) for a in decoded.arrivals],
        columns,
        list(decoded.positions),
        [(d.reason, d.detail, d.payload, d.topic, d.partition, d.offset) for d in dead],
    )


def both(source, entity, payloads, arrivals, arrival_field=None, max_record_bytes=1 << 20):
    offsets = list(range(100, 100 + len(payloads)))
    options = {"topic": "t", "partition": 1, "offsets": offsets, "arrival_field": arrival_field,
               "max_record_bytes": max_record_bytes}
    native = canonical(*decode_records(source, entity, payloads, arrivals, **options))
    python = _decode_python(source, entity, payloads, arrivals, **options)
    in_buffers = packed(payloads, arrivals)
    if in_buffers is not None:  # as the native Kafka reader hands a batch over: the same answer
        assert canonical(*decode_records(source, entity, *in_buffers, **options)) == native
    return native, canonical(*python)


def packed(payloads, arrivals):
    """The records in buffers, as the native Kafka reader gives them (``decode_packed``),
    or None where it cannot give them so (a payload not ``bytes``, an arrival not an int >= 0)."""
    if not all(type(p) is bytes for p in payloads):
        return None
    if not all(a is None or (type(a) is int and 0 <= a < 1 << 63) for a in arrivals):
        return None
    ends = array("q", itertools.accumulate(len(p) for p in payloads))
    stamps = array("q", [-1 if a is None else a for a in arrivals])
    return PackedValues(b"".join(payloads), ends), Timestamps(stamps)


def test_the_native_decoder_is_used():
    decoder = _native_decoder(SOURCE, "user_id", None, 1 << 20)
    assert decoder is not None
    good = orjson.dumps({"user_id": "u1", "amount": 2.5, "n": 3, "ok": True, "ts": 1000, "extra": {"a": [1, None]}})
    keys, times, arrivals, columns, positions, deferred = decoder.decode([good, b"{", good], [1, 2, None])
    assert (list(positions), deferred) == ([0, 2], [1]), "plain records are decided natively, the rest deferred"
    # numbers come in buffers (array.array), read as Python numbers
    assert [type(c).__name__ for c in columns] == ["list", "array", "array", "list", "array"]
    assert (keys, list(times), list(arrivals), list(columns[1]), columns[3]) == (["u1", "u1"], [1000, 1000], [1, 1000],
                                                                                 [2.5, 2.5], [True, True])


def test_an_entity_key_is_the_same_str_batch_after_batch():
    """The decoder hands out one str object per entity key across calls (dict lookups by
    identity in the pipeline), for keys only, and keeps a bounded number of them."""
    decoder = _native_decoder(SOURCE, "user_id", None, 1 << 20)

    def record(user):
        return orjson.dumps({"user_id": user, "amount": 1.0, "n": 1, "ok": True, "ts": 1000})

    first = decoder.decode([record("u-intern-1"), record("u-intern-2")], [1, 1])[0]
    again = decoder.decode([record("u-intern-2"), record("u-intern-1"), record("u-intern-1")], [1, 1, 1])[0]
    assert again == ["u-intern-2", "u-intern-1", "u-intern-1"]
    assert again[0] is first[1] and again[1] is first[0] and again[2] is first[0]
    # Keys either side of the 22 bytes kept inside the table's slots, prefixes of each other:
    # each its own str, found again as itself.
    edge = ["k" * 21, "k" * 22, "k" * 23, "k" * 21 + "é", "k" * 40, "k" * 41]
    made = decoder.decode([record(key) for key in edge], [1] * len(edge))[0]
    found = decoder.decode([record(key) for key in reversed(edge)], [1] * len(edge))[0]
    assert made == edge and found == edge[::-1]
    assert all(a is b for a, b in zip(found, reversed(made), strict=True))
    # Two generations of 2**17 keys: a key not seen for more than that is made anew (equal, new object).
    for start in range(0, 2 * 2**17 + 1, 50_000):
        decoder.decode([record(f"u-fill-{i}") for i in range(start, start + 50_000)], [1] * 50_000)
    later = decoder.decode([record("u-intern-1")], [1])[0]
    assert later == ["u-intern-1"] and later[0] is not first[0]


texts = st.text(alphabet=st.sampled_from(list("abcXYZ09 _-") + ['"', "\\", "\n", "\x00", "é", "😀", "\u2028"]), max_size=8)
ints = st.one_of(st.integers(-5, 5), st.integers(-(2**63) - 2, 2**63 + 2), st.integers(-(2**70), 2**70))
floats = st.floats(allow_nan=False, allow_infinity=False)
values = st.one_of(texts, ints, floats, st.booleans(), st.none(), st.lists(ints, max_size=2), st.just({"x": [1]}))
typed = {
    str: st.one_of(texts.filter(bool), ints),
    float: st.one_of(floats, ints),
    int: ints,
    bool: st.booleans(),
}


@st.composite
def number_texts(draw):
    """JSON number spellings orjson and the native decoder must read alike."""
    mantissa = draw(st.integers(0, 10**20))
    digits = str(mantissa)
    cut = draw(st.integers(0, len(digits)))
    text = ("-" if draw(st.booleans()) else "") + (digits[:cut] or "0") + ("." + (digits[cut:] or "0") if cut < len(digits) else "")
    if draw(st.booleans()):
        text += draw(st.sampled_from(["e", "E", "e+", "e-", "E-"])) + str(draw(st.integers(0, 330)))
    return text


@st.composite
def records(draw):
    """A JSON object as text: schema fields (usually well typed), extras, duplicates,
    odd spacing, number spellings; sometimes corrupted."""
    pairs = []
    for name, kind in FIELDS.items():
        roll = draw(st.integers(0, 9))
        if roll == 0:
            continue  # missing
        if roll == 1:
            pairs.append((name, dumps(draw(values))))
        elif roll == 2 and kind in (int, float):
            pairs.append((name, draw(number_texts())))
        else:
            pairs.append((name, dumps(draw(typed[kind]))))
    for _ in range(draw(st.integers(0, 2))):
        pairs.append((draw(st.sampled_from(["x", "user_id", "amount", "ts", "a\\u0062"])), dumps(draw(values))))
    order = draw(st.permutations(pairs))
    space = draw(st.sampled_from(["", " ", "\n\t "]))
    text = "{" + space + ("," + space).join(f'"{k}"{space}:{space}{v}' for k, v in order) + space + "}"
    data = text.encode()
    corruption = draw(st.integers(0, 9))
    if corruption == 0 and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    elif corruption == 1:
        data = data[: draw(st.integers(0, len(data)))]
    elif corruption == 2:
        data = draw(st.sampled_from([b"[1]", b"null", b"1", b'"s"', b"", b"\xef\xbb\xbf" + data, data + b" x"]))
    return data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(records(), st.one_of(st.none(), st.integers(0, 10**13))), min_size=1, max_size=12),
    st.sampled_from([None, "arrived", "n"]),
    st.sampled_from([1 << 20, 60]),
)
def test_native_and_python_decoding_agree(batch, arrival_field, max_record_bytes):
    payloads = [p for p, _ in batch]
    arrivals = [a for _, a in batch]
    native, python = both(SOURCE, "user_id", payloads, arrivals, arrival_field, max_record_bytes)
    assert native == python


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.one_of(ints, texts, floats, st.none()), st.one_of(texts, ints), ints), min_size=1, max_size=8))
def test_int_entity_keys_agree(rows):
    payloads = [dumps({"uid": uid, "page": page, "ts": ts}).encode() for uid, page, ts in rows]
    native, python = both(INT_KEYED, "uid", payloads, [7] * len(payloads))
    assert native == python


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.one_of(ints, texts), st.one_of(texts, ints), ints), min_size=1, max_size=8))
def test_a_hashed_field_decodes_to_its_texts_and_their_hashes(rows):
    """A field only distinct counts read comes as texts with their ``hash64`` (no str per
    value): as a sequence, the same strs as without hashing, merged with deferred records too."""
    payloads = [dumps({"uid": uid, "page": page, "ts": ts}).encode() for uid, page, ts in rows]
    options = {"topic": "t", "partition": 1, "offsets": list(range(len(rows)))}
    plain = canonical(*decode_records(INT_KEYED, "uid", payloads, [7] * len(rows), **options))
    decoded, dead = decode_records(INT_KEYED, "uid", payloads, [7] * len(rows), hashed=frozenset({"page"}), **options)
    column = decoded.columns["page"]
    decoded.columns["page"] = list(column)
    assert canonical(decoded, dead) == plain
    if type(column).__name__ == "HashedTexts":  # every record decided natively
        assert column.hash_values() == [hash64(text) for text in column]
        assert len(column) == len(decoded.keys)
        if len(column):
            assert (column[0], column[-1]) == (decoded.columns["page"][0], decoded.columns["page"][-1])
            with pytest.raises(IndexError):
                column[len(column)]


def test_only_str_fields_other_than_the_entity_key_are_hashed():
    with pytest.raises(ValueError, match="hashed field"):
        _native_decoder(INT_KEYED, "uid", None, 1 << 20, frozenset({"ts"}))
    with pytest.raises(ValueError, match="hashed field"):
        _native_decoder(SOURCE, "user_id", None, 1 << 20, frozenset({"user_id"}))


@pytest.mark.parametrize(
    "payload",
    [
        b'{"user_id":"u","amount":1e400,"n":1,"ok":true,"ts":1}',  # infinity
        b'{"user_id":"u","amount":1,"n":18446744073709551615,"ok":true,"ts":1}',  # beyond i64, within u64
        b'{"user_id":"u","amount":123456789012345678901234567890,"n":1,"ok":true,"ts":1}',  # beyond u64
        b'{"user_id":"u","amount":NaN,"n":1,"ok":true,"ts":1}',
        b'{"user_id":"u\\u00e9","amount":1,"n":1,"ok":true,"ts":1}',  # an escape
        b'{"user_id":"u","amount":1,"n":1,"ok":true,"ts":1,"ts":"late"}',  # the last duplicate wins
        b'{"user_id":"u","amount":1,"n":1,"ok":true,"ts":1}garbage',
        b'{"user_id":"u","amount":1,"n":1,"ok":true,"ts":1,"x":"\xff"}',  # invalid UTF-8 in an unread field
        b'{"user_id":"u","amount":-0.0,"n":-0,"ok":false,"ts":1}',
        b'{"user_id":"u","amount":2.2250738585072011e-308,"n":1,"ok":true,"ts":1}',
        b'{"user_id":"u","amount":1,"n":01,"ok":true,"ts":1}',  # a leading zero
    ],
)
def test_edge_cases_agree(payload):
    native, python = both(SOURCE, "user_id", [payload], [None], "arrived")
    assert native == python


def test_floats_round_like_orjson():
    samples = ["0.1", "1e-7", "9007199254740993", "9007199254740993.0", "4.9406564584124654e-324", "1.7976931348623157e308",
               "0.30000000000000004441", "2.4703282292062327e-324", "123456789.123456789e-5"]
    payloads = [f'{{"user_id":"u","amount":{s},"n":1,"ok":true,"ts":1}}'.encode() for s in samples]
    native, python = both(SOURCE, "user_id", payloads, [1] * len(payloads))
    assert native == python
    assert all(math.isfinite(v) for v in decode_records(SOURCE, "user_id", payloads, [1] * len(payloads), topic="t",
                                                        partition=0, offsets=list(range(len(payloads))))[0].columns["amount"])


def test_values_in_one_buffer_decode_as_a_list_of_them():
    """``decode_packed`` (a batch from the native Kafka reader) against ``decode`` on the
    same records: an empty value, a bad one, an arrival missing (-1) and given."""
    decoder = _native_decoder(SOURCE, "user_id", None, 1 << 20)
    good = orjson.dumps({"user_id": "u1", "amount": 2.5, "n": 3, "ok": True, "ts": 1000})
    other = orjson.dumps({"user_id": "u2", "amount": 1, "n": 4, "ok": False, "ts": 1001})
    payloads = [good, b"", b"{", other, good]
    arrivals = [5, None, 7, None, 9]
    values, stamps = packed(payloads, arrivals)
    assert list(values) == payloads and list(stamps) == arrivals
    listed = decoder.decode(payloads, arrivals)
    in_buffers = decoder.decode_packed(values.buffer, values.ends, stamps.values)
    assert [list(part) for part in in_buffers[:3]] == [list(part) for part in listed[:3]]
    assert list(in_buffers[4]) == [0, 3, 4] and list(in_buffers[5]) == [1, 2]
    with pytest.raises(ValueError, match="ends must rise"):
        decoder.decode_packed(values.buffer, array("q", [5, 3]), array("q", [1, 2]))
    with pytest.raises(ValueError, match="ends must rise"):
        decoder.decode_packed(b"abc", array("q", [4]), array("q", [1]))
    with pytest.raises(ValueError, match="2 ends but 1 timestamps"):
        decoder.decode_packed(b"ab", array("q", [1, 2]), array("q", [1]))
