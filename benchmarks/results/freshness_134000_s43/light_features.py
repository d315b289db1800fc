"""One lifetime count over the example source: the view of light.py (the flow without the features' work)."""
from streamfeat import Count, Entity, FeatureView, Lifetime, Source
user = Entity("user", key="user_id")
transactions = Source("transactions", topic="transactions", timestamp="ts",
    schema={"user_id": str, "merchant_id": str, "amount": float, "ts": int})
user_txn = FeatureView("user_txn", entity=user, source=transactions, allowed_lateness="5m",
    features=[Count(window=Lifetime())])
