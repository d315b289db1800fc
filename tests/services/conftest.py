"""Real-service fixtures (Kafka, Redis) for the tests in this folder: see fixtures.py."""

from .fixtures import kafka_bootstrap, redis_url  # noqa: F401  (pytest finds fixtures by name)
