"""The S3 adapter on the ``minio`` SDK (SeaweedFS, MinIO, AWS S3)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
from typing import Callable, Iterator, TypeVar
from urllib.parse import urlparse

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import CopySource
from minio.datatypes import parse_copy_object
from minio.deleteobjects import DeleteObject
from minio.error import InvalidResponseError, S3Error, ServerError

from tiering.adapters.objectstore import ObjectInfo, ObjectMissing, SourceChanged, StoreError, StoreUnavailable

T = TypeVar("T")
MIN_PART = 5 * 2**20
MAX_SINGLE_PUT = 5 * 2**30
_MISSING = {"NoSuchKey", "NoSuchObject", "NoSuchVersion"}
_TOO_LARGE = ("InvalidRequest", "EntityTooLarge")
_TRANSIENT = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout",
              "RequestTimeTooSkewed", "OperationAborted"}


def _etag(value: str | None) -> str:
    return (value or "").strip('"')


class S3Store:
    def __init__(self, endpoint: str, access_key: str | None, secret_key: str | None, *,
                 secure: bool = False, region: str = "us-east-1", pool_size: int = 32):
        parsed = urlparse(endpoint if "://" in endpoint else f"{'https' if secure else 'http'}://{endpoint}")
        secure = parsed.scheme == "https"
        # Few, quick transport retries: our callers retry with their own backoff
        # and must see an outage as an error, not as a call that hangs for minutes.
        http = urllib3.PoolManager(
            maxsize=pool_size, timeout=urllib3.Timeout(connect=3, read=120),
            cert_reqs="CERT_REQUIRED" if secure else "CERT_NONE",
            ca_certs=certifi.where() if secure else None,
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[502, 503, 504]))
        self.endpoint = parsed.netloc
        self.client = Minio(parsed.netloc, access_key=access_key, secret_key=secret_key,
                            secure=secure, region=region, http_client=http)

    @classmethod
    def from_settings(cls, settings) -> "S3Store":
        # A mover has up to two requests per move in flight (verify's two HEADs).
        return cls(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key,
                   secure=settings.s3_secure, region=settings.s3_region,
                   pool_size=max(32, 2 * settings.mover_concurrency))

    # ----- error mapping ---------------------------------------------------
    @staticmethod
    def _call(fn: Callable[[], T]) -> T:
        try:
            return fn()
        except S3Error as e:
            if e.code in _MISSING:
                raise ObjectMissing(f"{e.bucket_name}/{e.object_name}") from None
            if e.code == "PreconditionFailed":
                raise SourceChanged(f"{e.bucket_name}/{e.object_name}: {e.message}") from None
            if e.code in _TRANSIENT or (e.response is not None and e.response.status >= 500):
                raise StoreUnavailable(f"{e.code}: {e.message}") from e
            raise StoreError(f"{e.code}: {e.message} ({e.bucket_name}/{e.object_name or ''})") from e
        except (ServerError, InvalidResponseError) as e:
            raise StoreUnavailable(str(e)) from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise StoreUnavailable(f"object store unreachable: {e}") from e

    # ----- the port ----------------------------------------------------------
    def ensure_buckets(self, buckets: list[str]) -> None:
        for b in buckets:
            exists = functools.partial(self.client.bucket_exists, b)
            if not self._call(exists):
                with contextlib.suppress(StoreError):  # made meanwhile by another process
                    self._call(functools.partial(self.client.make_bucket, b))
                if not self._call(exists):
                    raise StoreError(f"cannot create bucket {b!r}")

    def stat(self, bucket: str, name: str) -> ObjectInfo | None:
        try:
            st = self._call(lambda: self.client.stat_object(bucket, name))
        except ObjectMissing:
            return None
        return ObjectInfo(int(st.size or 0), _etag(st.etag))

    def put(self, bucket: str, name: str, data: bytes) -> ObjectInfo:
        # One part up to 5 GiB, so the ETag is the content MD5 and survives copies.
        part = max(MIN_PART, min(len(data), MAX_SINGLE_PUT))
        r = self._call(lambda: self.client.put_object(bucket, name, io.BytesIO(data), len(data),
                                                      part_size=part))
        return ObjectInfo(len(data), _etag(r.etag))

    def copy(self, src_bucket: str, name: str, dst_bucket: str, *,
             if_etag: str | None = None, dst_name: str | None = None) -> str:
        source = CopySource(src_bucket, name, match_etag=if_etag)
        target = dst_name or name

        def one_request() -> str:
            # minio's copy_object HEADs the source first, only to switch to a
            # multipart compose above 5 GiB; for small objects that HEAD is a
            # third of a move's requests. Ask for the copy directly, and go the
            # long way only if the server says the source is too large.
            resp = self.client._execute("PUT", dst_bucket, object_name=target,
                                        headers=source.gen_copy_headers())
            return parse_copy_object(resp)[0]

        try:
            return _etag(self._call(one_request))
        except StoreError as e:
            if type(e) is not StoreError or not any(c in str(e) for c in _TOO_LARGE):
                raise
        r = self._call(lambda: self.client.copy_object(dst_bucket, target, source))
        return _etag(r.etag)

    def remove(self, bucket: str, name: str) -> None:
        with contextlib.suppress(ObjectMissing):
            self._call(lambda: self.client.remove_object(bucket, name))

    def remove_many(self, bucket: str, names: list[str]) -> None:
        for i in range(0, len(names), 1000):  # S3's DeleteObjects takes 1000 at most
            chunk = [DeleteObject(n) for n in names[i:i + 1000]]
            errors = self._call(lambda c=chunk: list(self.client.remove_objects(bucket, c)))
            errors = [e for e in errors if e.code not in _MISSING]
            if errors:
                raise StoreUnavailable(f"{len(errors)} deletes failed in {bucket}, e.g. "
                                       f"{errors[0].name}: {errors[0].code} {errors[0].message}")

    def read(self, bucket: str, name: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        resp = self._call(lambda: self.client.get_object(bucket, name))
        try:
            while True:
                part = self._call(lambda: resp.read(chunk))
                if not part:
                    return
                yield part
        finally:
            resp.close()
            resp.release_conn()

    def listing(self, bucket: str, prefix: str = "",
                start_after: str | None = None) -> Iterator[tuple[str, ObjectInfo]]:
        it = self.client.list_objects(bucket, prefix=prefix or None, recursive=True,
                                      start_after=start_after)
        while True:
            obj = self._call(lambda: next(it, None))
            if obj is None:
                return
            if not obj.is_dir:
                modified = obj.last_modified.timestamp() if obj.last_modified else None
                yield obj.object_name, ObjectInfo(int(obj.size or 0), _etag(obj.etag), modified)

    def digest(self, bucket: str, name: str) -> str:
        h = hashlib.sha256()
        for part in self.read(bucket, name):
            h.update(part)
        return h.hexdigest()
