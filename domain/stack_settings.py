"""Settings an operator changes while the stack runs, kept in the event store.

The price overrides (``PUT /policies``) and the autopilot's mode are read by
processes that may run on any node of a cluster: the projection runner, the
snapshotter, the decision loop. A file on the launch node's disk reaches none
of them on another node; the event store reaches them all. Each setting is a
small log of its own, so it also says who set what, and when.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

SETTINGS_NAMESPACE = UUID("8d4e1b6a-2f73-5c09-a1e8-64b9f0c3d275")
PRICE_POLICY = "price-policy"
AUTOPILOT_MODE = "autopilot-mode"


def setting_id(name: str) -> UUID:
    return uuid5(SETTINGS_NAMESPACE, name)


class StackSetting(Aggregate):
    class Created(Aggregate.Created):
        name: str
        value: dict[str, Any]
        by: str

    @event(Created)
    def __init__(self, name: str, value: dict[str, Any], by: str):
        self.name = name
        self.value = value
        self.by = by

    @staticmethod
    def create_id(name: str, **_: Any) -> UUID:
        return setting_id(name)

    @event("Changed")
    def change(self, value: dict[str, Any], by: str) -> None:
        self.value = value
        self.by = by


MODEL_INDEX = "models"  # the setting that lists the model versions and their metadata


def model_version_id(version: str) -> UUID:
    return uuid5(SETTINGS_NAMESPACE, f"model:{version}")


class ModelVersion(Aggregate):
    """One trained model: its metadata and its serialised bytes (opaque here),
    written once. The model index setting lists the versions."""

    class Created(Aggregate.Created):
        model_version: str
        meta: dict[str, Any]
        artifact: str

    @event(Created)
    def __init__(self, model_version: str, meta: dict[str, Any], artifact: str):
        self.model_version = model_version  # not ``version``: that is the aggregate's own
        self.meta = meta
        self.artifact = artifact

    @staticmethod
    def create_id(model_version: str, **_: Any) -> UUID:
        return model_version_id(model_version)
