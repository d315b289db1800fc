"""Write the example view with one feature dropped (`no_NAME.py`, `no_none.py`: all seven) and with one feature
alone (`only_hll.py`, `only_lifetime.py`) into DIR, for the pipeline simulation's `VIEW=`.
Usage: python3 make_views.py DIR"""
import sys
from pathlib import Path

FEATURES = {
    "lifetime": "Count(window=Lifetime())",
    "c365": 'Count(window=Sliding("365d", tile="1d"), refresh="1d", publish_lag="2h")',
    "sum7d": 'Sum("amount", window=Sliding("7d"))',
    "max30d": 'Max("amount", window=Sliding("30d"))',
    "hll30d": 'ApproxDistinct("merchant_id", window=Sliding("30d"))',
    "last5": 'LastN("amount", n=5)',
    "c1h": 'Count(window=Sliding("1h"))',
}
HEAD = '''from streamfeat import ApproxDistinct, Count, Entity, FeatureView, LastN, Lifetime, Max, Sliding, Source, Sum
user = Entity("user", key="user_id")
transactions = Source("transactions", topic="transactions", timestamp="ts",
    schema={"user_id": str, "merchant_id": str, "amount": float, "ts": int})
'''


def view(features: list[str]) -> str:
    body = ",\n        ".join(features)
    return HEAD + (
        'user_txn = FeatureView("user_txn", entity=user, source=transactions, allowed_lateness="5m",\n'
        f"    features=[\n        {body},\n    ])\n"
    )


out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
for drop in [*FEATURES, "none"]:
    (out / f"no_{drop}.py").write_text(view([v for k, v in FEATURES.items() if k != drop]))
(out / "only_hll.py").write_text(view([FEATURES["hll30d"]]))
(out / "only_lifetime.py").write_text(view([FEATURES["lifetime"]]))
