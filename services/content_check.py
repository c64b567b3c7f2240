"""Content served only as the log names it.

Whenever bytes are written for an object, its log records their checksum
(``ContentWritten``: the S3 ETag of a single-part write, the content's MD5).
Every read of ``GET /objects/{key}/content`` is hashed and compared with it:
bytes changed behind the product's back (through the store's own interfaces,
or on its disks) are an error and an incident in the object's log, never
served silently.

Up to ``VERIFY_BEFORE_SENDING`` bytes are checked before the first byte goes
out, so a mismatch is a clean error. A larger object is checked as it
streams, its last chunk held back until the check: on a mismatch the stream
is cut before its end, so a client never receives a complete body that does
not match.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import AsyncIterator, Awaitable, Callable, Iterator

from tiering.services.errors import ContentMismatch

VERIFY_BEFORE_SENDING = 8 << 20  # bytes; the default cap of materialised content
_MD5 = re.compile(r"[0-9a-f]{32}")

Report = Callable[[str], Awaitable[None]]


def md5_checksum(etag: str | None) -> str | None:
    """The MD5 an ETag states, or None: no content recorded yet, or a
    multipart ETag, which is not a hash of the bytes."""
    return etag if etag is not None and _MD5.fullmatch(etag) else None


async def _next(chunks: Iterator[bytes]) -> bytes | None:
    return await asyncio.to_thread(next, chunks, None)


async def unchecked(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    while (chunk := await _next(chunks)) is not None:
        yield chunk


async def checked(chunks: Iterator[bytes], expected: str, report: Report) -> AsyncIterator[bytes]:
    """The content as an async stream, checked against ``expected``. Reads up
    to ``VERIFY_BEFORE_SENDING`` bytes first: if that is all of it and it does
    not match, ``report(found)`` runs and ContentMismatch is raised here,
    before anything is sent."""
    digest = hashlib.md5(usedforsecurity=False)
    head: list[bytes] = []
    size = 0
    while size <= VERIFY_BEFORE_SENDING:
        chunk = await _next(chunks)
        if chunk is None:
            await _verify(digest, expected, report)
            return _replay(head)
        digest.update(chunk)
        head.append(chunk)
        size += len(chunk)
    return _rest_checked(head, chunks, digest, expected, report)


async def _verify(digest, expected: str, report: Report) -> None:
    found = digest.hexdigest()
    if found != expected:
        await report(found)
        raise ContentMismatch(f"the stored bytes do not match the checksum in the object's log "
                              f"(expected md5 {expected}, read {found}); recorded as an incident")


async def _replay(head: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in head:
        yield chunk


async def _rest_checked(head: list[bytes], chunks: Iterator[bytes], digest, expected: str,
                        report: Report) -> AsyncIterator[bytes]:
    # The last chunk is held back until the whole content is checked, so a
    # mismatch never reaches the client as a complete body.
    held: bytes | None = None
    for first in head:
        if held is not None:
            yield held
        held = first
    head.clear()
    while (chunk := await _next(chunks)) is not None:
        digest.update(chunk)
        if held is not None:
            yield held
        held = chunk
    await _verify(digest, expected, report)  # raising here cuts the response short
    if held is not None:
        yield held
