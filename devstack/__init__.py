"""Supervised local services on loopback: SeaweedFS S3 and a single-node Kafka broker.

Both the tests and ``tiering launch`` start them from the repo's own files:
``python -m tiering.devstack {seaweed|kafka} --data-dir DIR`` or the classes below.
"""

from tiering.devstack._proc import ServiceError
from tiering.devstack.kafka import KafkaBroker
from tiering.devstack.seaweed import SeaweedFS

__all__ = ["KafkaBroker", "SeaweedFS", "ServiceError"]
