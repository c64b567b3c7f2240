"""Ingest a batch of access records: all of it, or none of it.

REST (``POST /accesses``), the materialising variant and ``import-bucket``
come through here; trace replay and the synthetic producer call the same
ingest ports directly, since their records are already parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from tiering.domain.application import IngestResult
from tiering.domain.applied_batch import IdempotencyConflict
from tiering.domain.governance import Principal
from tiering.domain.records import AccessRecord, RecordError, parse_record
from tiering.services.admission import Admission
from tiering.services.errors import Conflict, Forbidden, Invalid, TooLarge, Unavailable, root_cause
from tiering.services.quotas import QuotaGuard

MAX_REPORTED_ERRORS = 50


class IngestPort(Protocol):
    async def aingest(self, records: Sequence[AccessRecord], *,
                      idempotency_key: str | None = None) -> IngestResult: ...


@dataclass
class IngestRecords:
    """``port`` records accesses; ``materializing`` (when the stack has an
    object store) records them and writes each PUT's bytes too."""

    port: IngestPort | None
    max_batch_records: int
    materializing: IngestPort | None = None
    materialize_by_default: bool = False
    quotas: QuotaGuard | None = None
    # What the API takes on at once (the web layer asks before it reads a body).
    admission: Admission = field(default_factory=Admission.from_settings)

    def wants_bytes(self, materialize: bool | None) -> bool:
        if materialize is None:
            return self.materializing is not None and self.materialize_by_default
        return materialize

    async def __call__(self, raws: Sequence[Any], materialize: bool | None = None,
                       who: Principal | None = None, idempotency_key: str | None = None) -> dict[str, int]:
        """``who``, when given, must see every record's tenant. With an
        ``idempotency_key`` (a client's, per batch) a retry of the batch applies
        nothing twice; the result then says ``replayed``."""
        if len(raws) > self.max_batch_records:
            raise TooLarge(f"batch of {len(raws)} records exceeds the limit of "
                           f"{self.max_batch_records} records")
        records = parse_batch(raws)
        if who is not None:
            foreign = sorted({r.tenant for r in records if not who.sees(r.tenant)})
            if foreign:
                raise Forbidden(f"this key may not write records of tenant {foreign[0]!r}; nothing was applied")
        if self.quotas is not None:
            self.quotas.check_event_window(records)
            self.quotas.check_ingest(records)
        bytes_too = self.wants_bytes(materialize)
        port = self.materializing if bytes_too else self.port
        if port is None:
            raise Unavailable("materialize needs the moves runtime (object store), which is not running"
                              if bytes_too else "ingest is not running")
        if not records:
            return {"accepted": 0, "events": 0, "registered": 0, "ignored": 0}
        scoped = None if idempotency_key is None else f"{who.tenant if who else ''}\0{idempotency_key}"
        try:
            result = await port.aingest(records, idempotency_key=scoped)
        except RecordError as e:  # a key the object store cannot name; checked before any write
            raise Invalid([e.as_dict()]) from None
        except IdempotencyConflict as e:  # from a shard actor: its message, not Ray's traceback
            raise Conflict(f"Idempotency-Key: {root_cause(e)}") from None
        out = {"accepted": result.accepted, "events": result.events,
               "registered": result.registered, "ignored": result.ignored}
        if scoped is not None and result.duplicate:
            out["replayed"] = 1
        return out


def parse_batch(raws: Sequence[Any]) -> list[AccessRecord]:
    """Every record parsed, or ``Invalid`` naming (up to 50 of) the bad ones."""
    records: list[AccessRecord] = []
    errors: list[dict[str, Any]] = []
    bad = 0
    for i, raw in enumerate(raws):
        try:
            records.append(parse_record(raw, i))
        except RecordError as e:
            bad += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(e.as_dict())
    if errors:
        raise Invalid(errors, f"{bad} invalid record(s), the first at index {errors[0]['index']}: "
                              f"{errors[0]['field']}: {errors[0]['reason']}; nothing was applied")
    return records
