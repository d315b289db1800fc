"""Definitions are immutable, validated on creation, and named deterministically."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from streamfeat import (
    ApproxDistinct,
    ApproxQuantile,
    Count,
    CountDistinct,
    DefinitionError,
    Entity,
    FeatureView,
    Hopping,
    LastN,
    Lifetime,
    Max,
    Mean,
    Min,
    Sliding,
    Source,
    StdDev,
    Sum,
    Tumbling,
    parse_duration,
)

SCHEMA = {"user_id": str, "merchant_id": str, "amount": float, "qty": int, "flag": bool, "ts": int}
USER = Entity("user", key="user_id")
TXNS = Source("transactions", topic="transactions", timestamp="ts", schema=SCHEMA)


def view(*features, **options):
    return FeatureView("user_txn", entity=USER, source=TXNS, features=list(features), **options)


def test_readme_example_names():
    v = view(
        Count(window=Lifetime()),
        Count(window=Sliding("365d", tile="1d"), refresh="1d", publish_lag="2h"),
        Sum("amount", window=Sliding("7d")),
        Max("amount", window=Sliding("30d")),
        ApproxDistinct("merchant_id", window=Sliding("30d")),
        LastN("amount", n=5),
        Count(window=Sliding("1h")),
        Mean("amount", window=Tumbling("1d")),
        StdDev("amount", window=Hopping("7d", hop="1d")),
        ApproxQuantile("amount", q=0.99, window=Sliding("30d")),
        allowed_lateness="5m",
    )
    assert v.feature_names == (
        "count_lifetime",
        "count_365d_tile1d_every1d",
        "amount_sum_7d",
        "amount_max_30d",
        "merchant_id_approx_distinct_30d",
        "amount_last5_lifetime",
        "count_1h",
        "amount_mean_tumbling1d",
        "amount_stddev_7d_hop1d",
        "amount_p99_30d",
    )
    assert v.allowed_lateness == 300_000


def test_definitions_are_frozen_and_comparable():
    a = Sum("amount", window=Sliding("7d"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.field = "qty"  # type: ignore[misc]
    assert a == Sum("amount", window=Sliding(7 * 86_400_000))
    assert Sliding("1h") == Sliding(timedelta(hours=1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        TXNS.topic = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        TXNS.schema["x"] = int  # type: ignore[index]


def test_fingerprint_is_stable_and_changes_with_the_definition():
    base = view(Count(window=Sliding("1h")))
    assert base.fingerprint() == view(Count(window=Sliding("60m"))).fingerprint()
    assert base.fingerprint() != view(Count(window=Sliding("2h"))).fingerprint()
    assert base.fingerprint() != view(Count(window=Sliding("1h")), allowed_lateness="1m").fingerprint()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: view(Sum("amt", window=Sliding("7d"))), "field 'amt' is not in source"),
        (lambda: view(Sum("merchant_id")), "needs a numeric field"),
        (lambda: view(Min("flag")), "needs an int, float or str field"),
        (lambda: Sliding("1d", tile="7d"), "tile is larger than the window"),
        (lambda: Sliding("7d", tile="2d"), "whole number of tiles"),
        (lambda: Sliding("0s"), "must be positive"),
        (lambda: Sliding("-5m"), "cannot read duration"),
        (lambda: Sliding("5 parsecs"), "cannot read duration"),
        (lambda: Hopping("1d", hop="7d"), "hop is larger than the window"),
        (lambda: Hopping("7d", hop="2d"), "whole number of hops"),
        (lambda: Tumbling(0), "must be positive"),
        (lambda: view(Count(window=Sliding("1h")), Count(window=Sliding("60m"))), "two features are named 'count_1h'"),
        (lambda: Count(publish_lag="2h"), "publish_lag needs a refresh"),
        (lambda: Count(window=Sliding("7d", tile="1d"), refresh="12h"), "not a whole number"),
        (lambda: Count(refresh="0s"), "must be positive"),
        (lambda: Count(window=Sliding("7d", tile="1d"), strategy="log"), "exact Sliding windows only"),
        (lambda: Max("amount", window=Sliding("7d"), strategy="subtract"), "needs an invertible aggregation"),
        (lambda: Count(strategy="magic"), "unknown strategy"),
        (lambda: Count(window="7d"), "window must be"),
        (lambda: Count(name="not a name"), "valid identifier"),
        (lambda: LastN("amount", n=0), "n must be an integer"),
        (lambda: ApproxDistinct("merchant_id", precision=30), "precision"),
        (lambda: ApproxQuantile("amount", q=1.5), "q must be within"),
        (lambda: view(), "at least one feature"),
        (lambda: view(Count(), allowed_lateness="soon"), "allowed_lateness"),
        (lambda: FeatureView("v", entity=Entity("card", key="card_id"), source=TXNS, features=[Count()]), "entity key"),
        (lambda: Source("s", timestamp="time", schema={"ts": int}), "timestamp field 'time' is not in the schema"),
        (lambda: Source("s", timestamp="ts", schema={"ts": float}), "must be int"),
        (lambda: Source("s", timestamp="ts", schema={"ts": int, "d": dict}), "supported types"),
        (lambda: Entity("user", key="user id"), "valid identifier"),
        (lambda: view(Count(name="user_id")), "reserved"),
    ],
)
def test_invalid_definitions_raise_one_clear_error(make, message):
    with pytest.raises(DefinitionError, match=message):
        make()


def test_duration_forms():
    assert parse_duration("500ms", what="x") == 500
    assert parse_duration("2h", what="x") == 7_200_000
    assert parse_duration("1w", what="x") == 7 * 86_400_000
    assert parse_duration(timedelta(minutes=5), what="x") == 300_000
    assert parse_duration(0, what="x", allow_zero=True) == 0
    with pytest.raises(DefinitionError):
        parse_duration(True, what="x")


def test_explicit_name_and_distinct_features():
    v = view(CountDistinct("merchant_id", window=Sliding("30d"), name="merchants_30d"), Count())
    assert v.feature_names == ("merchants_30d", "count_lifetime")
    assert v.feature("count_lifetime") == Count()
    with pytest.raises(DefinitionError, match="has no feature 'nope'; it has: merchants_30d, count_lifetime"):
        v.feature("nope")
