"""Decoding and validation: every bad record becomes a dead letter with its reason."""

from __future__ import annotations

import orjson
import pytest

from streamfeat import Source
from streamfeat.ingest import Reason, decode_records

SOURCE = Source("txns", timestamp="ts", schema={"user_id": str, "amount": float, "n": int, "ok": bool, "ts": int})
GOOD = {"user_id": "u1", "amount": 2.5, "n": 3, "ok": True, "ts": 1000}


def decode(*payloads, arrivals=None, **options):
    payloads = [p if isinstance(p, bytes) else orjson.dumps(p) for p in payloads]
    arrivals = arrivals if arrivals is not None else [5000] * len(payloads)
    return decode_records(
        SOURCE, "user_id", payloads, arrivals, topic="txns", partition=3, offsets=list(range(10, 10 + len(payloads))),
        **options,
    )


def test_good_record_becomes_columns():
    decoded, dead = decode(GOOD, {**GOOD, "amount": 7, "user_id": 42, "extra": [1]})
    assert dead == []
    assert decoded.keys == ["u1", "42"]
    assert list(decoded.event_times) == [1000, 1000]
    assert list(decoded.arrivals) == [5000, 5000]
    assert list(decoded.columns["amount"]) == [2.5, 7.0] and type(decoded.columns["amount"][1]) is float
    assert list(decoded.positions) == [0, 1]


@pytest.mark.parametrize(
    "payload, reason, detail",
    [
        (b"{not json", Reason.MALFORMED_JSON, ""),
        (b"", Reason.MALFORMED_JSON, ""),
        (b"[1, 2]", Reason.NOT_AN_OBJECT, "got list"),
        ({k: v for k, v in GOOD.items() if k != "user_id"}, Reason.MISSING_FIELD, "'user_id' is missing"),
        ({k: v for k, v in GOOD.items() if k != "ts"}, Reason.MISSING_FIELD, "'ts' is missing"),
        ({**GOOD, "ts": "yesterday"}, Reason.WRONG_TYPE, "'ts' must be int, got str"),
        ({**GOOD, "ts": True}, Reason.WRONG_TYPE, "'ts' must be int, got bool"),
        ({**GOOD, "amount": "12"}, Reason.WRONG_TYPE, "'amount' must be a number, got str"),
        ({**GOOD, "amount": None}, Reason.WRONG_TYPE, "got null"),
        ({**GOOD, "n": 1.5}, Reason.WRONG_TYPE, "'n' must be int, got float"),
        ({**GOOD, "ok": 1}, Reason.WRONG_TYPE, "'ok' must be bool, got int"),
        ({**GOOD, "user_id": ""}, Reason.BAD_KEY, "must be 1..1024 bytes"),
        ({**GOOD, "user_id": "x" * 2000}, Reason.BAD_KEY, "must be 1..1024 bytes"),
        ({**GOOD, "user_id": None}, Reason.WRONG_TYPE, "'user_id' must be str, got null"),
    ],
)
def test_bad_records_are_dead_lettered_with_original_bytes(payload, reason, detail):
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    decoded, dead = decode(GOOD, raw, GOOD)
    assert list(decoded.positions) == [0, 2], "the bad record is left out, its neighbours are not"
    (letter,) = dead
    assert (letter.reason, letter.payload, letter.topic, letter.partition, letter.offset) == (reason, raw, "txns", 3, 11)
    assert detail in letter.detail
    assert orjson.loads(letter.to_json())["reason"] == reason


def test_oversized_records_are_not_parsed():
    big = orjson.dumps({**GOOD, "pad": "x" * 5000})
    decoded, dead = decode(big, max_record_bytes=4096)
    assert decoded.keys == [] and dead[0].reason == Reason.OVERSIZED and dead[0].payload == big


def test_arrival_from_field_or_event_time():
    decoded, dead = decode({**GOOD, "arrival": 1234}, GOOD, {**GOOD, "arrival": "soon"}, arrivals=[None, None, None],
                           arrival_field="arrival")
    assert list(decoded.arrivals) == [1234, 1000]
    assert dead[0].reason == Reason.WRONG_TYPE and "arrival" in dead[0].detail


def test_binary_garbage_dead_letter_keeps_bytes_as_hex():
    _, dead = decode(b"\xff\xfe\x00")
    assert orjson.loads(dead[0].to_json())["payload_hex"] == "fffe00"
