"""The object store port: one bucket per tier, one object name per (tenant, key).

Errors are split by what a caller should do about them: ``StoreUnavailable``
is worth retrying with backoff (connection refused, timeouts, 5xx),
``StoreError`` is not (bad credentials, a missing bucket), and a missing object
is an answer (``stat`` returns None, reads raise ``ObjectMissing``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol
from urllib.parse import quote, unquote

from tiering.domain.tiers import Tier

MAX_NAME_BYTES = 1024  # S3's limit on an object name


class StoreError(Exception):
    """A store failure that retrying will not fix (credentials, missing bucket)."""


class StoreUnavailable(StoreError):
    """Transient: the store did not answer or answered 5xx; retry with backoff."""


class ObjectMissing(StoreError):
    """The object is not in that bucket."""


class SourceChanged(StoreError):
    """A conditional copy found the source's etag no longer what the caller saw."""


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str  # S3's ETag: the content MD5 for single-part uploads and plain copies
    modified: float | None = None  # epoch seconds, where a listing says

    @property
    def multipart(self) -> bool:
        # A multipart ETag is an MD5 of part MD5s ("...-N"), not of the content,
        # so two equal contents may carry different multipart ETags.
        return "-" in self.etag

    def same_content_as(self, other: "ObjectInfo | None") -> bool:
        return other is not None and other.size == self.size and other.etag == self.etag


class ObjectStore(Protocol):
    def ensure_buckets(self, buckets: list[str]) -> None: ...

    def stat(self, bucket: str, name: str) -> ObjectInfo | None: ...

    def put(self, bucket: str, name: str, data: bytes) -> ObjectInfo: ...

    def copy(self, src_bucket: str, name: str, dst_bucket: str, *,
             if_etag: str | None = None, dst_name: str | None = None) -> str:
        """Server-side copy; returns the new ETag. ``if_etag`` makes it
        conditional on the source still having that ETag (else SourceChanged)."""

    def remove(self, bucket: str, name: str) -> None:
        """Idempotent: removing an absent object is not an error."""

    def remove_many(self, bucket: str, names: list[str]) -> None:
        """``remove`` for many names in as few requests as the store allows."""

    def read(self, bucket: str, name: str, chunk: int = 1 << 20) -> Iterator[bytes]: ...

    def listing(self, bucket: str, prefix: str = "",
                start_after: str | None = None) -> Iterator[tuple[str, ObjectInfo]]: ...

    def digest(self, bucket: str, name: str) -> str:
        """SHA-256 of the content, by reading it (for multipart ETags only)."""


# ----- naming ----------------------------------------------------------------
def object_name(tenant: str, key: str) -> str:
    """``{tenant}/{key}`` with the key percent-encoded, "/" included.

    Stores normalise paths ("a//b" becomes "a/b", "dir/" becomes a directory,
    "." and ".." segments are refused), which would alias distinct keys; an
    encoded key is one plain path segment and maps back exactly.
    """
    encoded = quote(key, safe="")
    if encoded in (".", ".."):
        encoded = encoded.replace(".", "%2E")
    name = f"{tenant}/{encoded}"
    if len(name.encode()) > MAX_NAME_BYTES:
        raise ValueError(f"key: {tenant}/{key[:40]}... encodes to more than "
                         f"{MAX_NAME_BYTES} bytes, the object store's limit")
    return name


def parse_object_name(name: str) -> tuple[str, str] | None:
    """(tenant, key) for a name that ``object_name`` made, else None."""
    tenant, sep, encoded = name.partition("/")
    if not sep or not tenant or not encoded or "/" in encoded:
        return None
    key = unquote(encoded)
    return (tenant, key) if object_name(tenant, key) == name else None


@dataclass(frozen=True)
class TierBuckets:
    hot: str = "hot"
    warm: str = "warm"
    cold: str = "cold"

    @classmethod
    def from_settings(cls, settings) -> "TierBuckets":
        return cls(settings.bucket_hot, settings.bucket_warm, settings.bucket_cold)

    def __post_init__(self) -> None:
        if len({self.hot, self.warm, self.cold}) != 3:
            raise ValueError("bucket_hot, bucket_warm and bucket_cold must be three different buckets")

    def of(self, tier: "Tier | str") -> str:
        return getattr(self, Tier.parse(tier).value)

    def tier_of(self, bucket: str) -> Tier:
        for t in Tier:
            if self.of(t) == bucket:
                return t
        raise KeyError(bucket)

    def all(self) -> list[str]:
        return [self.hot, self.warm, self.cold]


def open_store(settings) -> ObjectStore:
    """The store the settings name; the moves runtime fills in the embedded one."""
    if not settings.s3_endpoint:
        raise StoreError("no object store configured: set TIERING_S3_ENDPOINT (or run "
                         "`tiering launch`, which starts an embedded SeaweedFS)")
    from tiering.adapters.s3 import S3Store

    return S3Store.from_settings(settings)
