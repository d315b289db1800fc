from streamfeat import ApproxDistinct, Count, Entity, FeatureView, LastN, Lifetime, Max, Sliding, Source, Sum
user = Entity("user", key="user_id")
transactions = Source("transactions", topic="transactions", timestamp="ts",
    schema={"user_id": str, "merchant_id": str, "amount": float, "ts": int})
user_txn = FeatureView("user_txn", entity=user, source=transactions, allowed_lateness="5m",
    features=[
        Count(window=Lifetime()),
        Count(window=Sliding("365d", tile="1d"), refresh="1d", publish_lag="2h"),
        Sum("amount", window=Sliding("7d")),
        Max("amount", window=Sliding("30d")),
        ApproxDistinct("merchant_id", window=Sliding("30d")),
        LastN("amount", n=5),
    ])
