"""The example view's source with one feature: the floor of the freshness benchmark's harness."""
from streamfeat import Count, Entity, FeatureView, Lifetime, Source

user = Entity("user", key="user_id")
transactions = Source(
    "transactions",
    topic="transactions",
    timestamp="ts",
    schema={"user_id": str, "merchant_id": str, "amount": float, "ts": int},
)
user_txn = FeatureView(
    "user_txn",
    entity=user,
    source=transactions,
    allowed_lateness="5m",
    features=[Count(window=Lifetime())],
)
