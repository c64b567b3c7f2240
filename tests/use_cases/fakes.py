"""Fakes of the service layer's ports: in memory, no Ray, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from tiering.adapters.objectstore import ObjectMissing, StoreError
from tiering.domain.application import IngestResult


def live_state(**over: Any) -> dict[str, Any]:
    base = {"object_id": "6f1c2a4e-3b7d-5e10-9a8c-7d2f41b0c9e3", "tenant": "acme", "key": "k",
            "tier": "hot", "version": 7, "move": None, "deleted_at": None, "log_time": 100.0,
            "registered_at": 0.0, "last_access_at": None}
    return {**base, **over}


@dataclass
class FakeShards:
    """Live objects by (tenant, key); records move requests as a shard would."""

    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requested: list[Any] = field(default_factory=list)
    mismatches: list[tuple[str, ...]] = field(default_factory=list)

    async def live(self, tenant: str, key: str) -> dict[str, Any] | None:
        return self.objects.get((tenant, key))

    async def record_request(self, decision) -> dict[str, Any]:
        state = self.objects.get((decision.tenant, decision.key))
        if state is None:
            return {"outcome": "unknown", "reason": None}
        if state["move"] is not None:
            return {"outcome": "in_flight", "reason": f"move {state['move']['move_id']} is in flight"}
        state["move"] = {"move_id": decision.move_id, "source": decision.source,
                         "target": decision.target, "step": "requested"}
        self.requested.append(decision)
        return {"outcome": "requested", "reason": None}

    async def report_mismatch(self, tenant: str, key: str, bucket: str, expected: str, found: str) -> None:
        self.mismatches.append((tenant, key, bucket, expected, found))


@dataclass
class FakeBytes:
    """Buckets of named blobs."""

    buckets: dict[str, dict[str, bytes]] = field(default_factory=dict)
    refuse_listing: str | None = None
    chunk: int = 1 << 20

    def read(self, bucket: str, name: str) -> Iterator[bytes]:
        data = self.buckets.get(bucket, {}).get(name)
        if data is None:
            raise ObjectMissing(f"{bucket}/{name}")
        for i in range(0, len(data), self.chunk):
            yield data[i:i + self.chunk]

    def listing(self, bucket: str, prefix: str, start_after: str | None) -> Iterator[tuple[str, Any]]:
        if self.refuse_listing or bucket not in self.buckets:
            raise StoreError(self.refuse_listing or f"no such bucket {bucket}")
        for name in sorted(self.buckets[bucket]):
            if name.startswith(prefix) and (start_after is None or name > start_after):
                yield name, Info(len(self.buckets[bucket][name]), 1_700_000_000.0)


@dataclass
class Info:
    size: int
    modified: float


@dataclass
class FakeIngest:
    """Takes every batch; remembers what it took."""

    batches: list[list[Any]] = field(default_factory=list)
    sources: list[Any] = field(default_factory=list)

    async def aingest(self, records, sources=None, *, idempotency_key=None) -> IngestResult:
        self.batches.append(list(records))
        self.sources.append(sources)
        return IngestResult(accepted=len(records), events=len(records), registered=len(records))


@dataclass
class Publisher:
    published: list[Any] = field(default_factory=list)
    fails: bool = False

    async def __call__(self, decision) -> None:
        if self.fails:
            raise ConnectionError("broker at 10.0.0.7:9092 is down")
        self.published.append(decision)


class FakeSetting:
    """A stored stack setting (services.policies.SettingPort), in memory."""

    def __init__(self, value: dict[str, Any] | None = None):
        self.version, self.value = (0, None) if value is None else (1, value)
        self.by: list[str] = []

    def get(self) -> tuple[int, dict[str, Any] | None]:
        return self.version, self.value

    def set(self, value: dict[str, Any], by: str) -> int:
        self.version, self.value = self.version + 1, value
        self.by.append(by)
        return self.version
