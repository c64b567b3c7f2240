"""One stack per data dir: ``tiering launch`` holds an exclusive lock on
``$DATA_DIR/launch.lock`` for as long as it runs.

A second launch on the same data dir would share its event store, object store
folder and ports' files, and disturb the first; ``projections rebuild`` would
drop read models a running projection runner is writing. Both ask first. The
lock is the kernel's (``flock``): it goes with the process, however it ends, so
a stack killed with SIGKILL leaves nothing to clean up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO


class StackRunning(RuntimeError):
    """Another process holds this data dir's stack lock."""


def _pid_in(handle: IO[str]) -> str:
    handle.seek(0)
    return handle.read().strip() or "?"


class StackLock:
    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / "launch.lock"
        self._handle: IO[str] | None = None

    def acquire(self) -> "StackLock":
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _pid_in(handle)
            handle.close()
            raise StackRunning(f"a stack (pid {pid}) is running on {self.path.parent}; stop it first, "
                               "or point TIERING_DATA_DIR elsewhere") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def running_stack(data_dir: Path) -> str | None:
    """The pid of the stack running on ``data_dir``, or None if there is none."""
    path = Path(data_dir) / "launch.lock"
    if not path.exists():
        return None
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _pid_in(handle)
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None
