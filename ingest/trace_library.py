"""The trace library: the only files a trace job on the server may read.

A REST caller names a trace, never a path. A name is a bare file name in
``data_dir/traces``; the file it resolves to must be a regular file inside that
folder (a symlink may point within it, never out of it) and no larger than the
cap. Every refusal of a well-formed name reads the same, whatever exists
elsewhere, so the API reveals nothing about the server's file system. Callers
who have no shell on the server upload a trace into the library instead.
"""

from __future__ import annotations

import os
import re
import stat
import uuid
from pathlib import Path
from typing import AsyncIterable

from .formats import TraceError

# A leading letter or digit keeps out dot files (and "." / ".."); the rest
# keeps out separators, NUL, spaces and anything a shell or URL would mangle.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


class TraceTooLarge(TraceError):
    """An upload (or a file in the library) over the size cap."""


class TraceLibrary:
    """Trace files under one folder, by name, with a size cap."""

    def __init__(self, root: Path, max_bytes: int):
        self.root = Path(root)
        self.max_bytes = max_bytes

    def check_name(self, name: object) -> str:
        if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
            raise TraceError("must be a file name in the trace library (letters, digits, '.', '_', "
                             "'-'; no paths): GET /whatif/traces lists them, PUT /whatif/traces/{name} "
                             "uploads one")
        return name

    def resolve(self, name: object) -> Path:
        """The library's file ``name``, resolved; TraceError if it is not one."""
        name = self.check_name(name)
        missing = TraceError(f"no trace named {name!r} in the trace library "
                             "(GET /whatif/traces lists them)")
        try:
            root = self.root.resolve(strict=True)
            real = (root / name).resolve(strict=True)
            info = real.stat()
        except (OSError, RuntimeError):  # absent, a dangling or looping link, unreadable
            raise missing from None
        if not real.is_relative_to(root) or not stat.S_ISREG(info.st_mode):
            raise missing
        if info.st_size > self.max_bytes:
            raise TraceTooLarge(f"trace {name!r} is {info.st_size:,} bytes, over the limit of "
                                f"{self.max_bytes:,} (TIERING_MAX_TRACE_BYTES)")
        return real

    def list(self) -> list[dict[str, int | str]]:
        """The names that ``resolve`` accepts, with their sizes."""
        if not self.root.is_dir():
            return []
        found = []
        for entry in sorted(self.root.iterdir()):
            try:
                path = self.resolve(entry.name)
            except TraceError:
                continue
            found.append({"name": entry.name, "size": path.stat().st_size})
        return found

    async def save(self, name: str, chunks: AsyncIterable[bytes]) -> dict[str, int | str]:
        """Write an upload under ``name``, replacing any file of that name.

        Streamed to a private temporary file and renamed into place only when
        complete, so a reader never sees half a trace and an upload over the cap
        leaves nothing behind.
        """
        name = self.check_name(name)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.root / f".upload-{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise TraceTooLarge(f"the upload is over the limit of {self.max_bytes:,} bytes "
                                            "(TIERING_MAX_TRACE_BYTES)")
                    out.write(chunk)
            os.replace(tmp, self.root / name)
        finally:
            tmp.unlink(missing_ok=True)
        return {"name": name, "size": size}
