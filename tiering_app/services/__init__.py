"""Supervised local services on loopback: SeaweedFS S3 and a single-node Kafka broker.

Both the tests and ``tiering launch`` start them from the repo's own files:
``python -m tiering.app.services {seaweed|kafka} --data-dir DIR`` or the classes below.
"""

from tiering.app.services._proc import ServiceError
from tiering.app.services.kafka import KafkaBroker
from tiering.app.services.seaweed import SeaweedFS

__all__ = ["KafkaBroker", "SeaweedFS", "ServiceError"]
