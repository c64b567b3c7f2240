"""Process plumbing shared by the local services: loopback ports, process groups, pid files."""

from __future__ import annotations

import ctypes
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Sequence

import psutil

LOOPBACK = "127.0.0.1"


class ServiceError(RuntimeError):
    """A local service failed to start, or died."""


class ServiceExited(ServiceError):
    """The service's process has exited (while starting: often a port taken meanwhile)."""


class PortInUse(ServiceError):
    """Something already listens on a port we were told to serve on."""


def port_is_free(port: int) -> bool:
    """True if a server could listen on ``127.0.0.1:port`` now (TIME_WAIT leftovers allowed,
    as the servers here bind with SO_REUSEADDR too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def reserve_port(host: str, port: int) -> socket.socket:
    """``host:port`` bound now and held until a server of ours listens on it.

    ``tiering launch`` binds its API and dashboard ports before it starts Ray and
    the object store, whose many outgoing connections and ``bind(0)`` picks would
    otherwise be free to take them first. The socket is bound, not listening, with
    SO_REUSEADDR: our own server may bind the port beside it (Bokeh does) or listen
    on it (uvicorn does), while the kernel gives the port to no ephemeral pick, by
    ``connect`` or ``bind(0)``, and to no bind without SO_REUSEADDR.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: accepted connections inherit it, and asyncio sets
    # TCP_NODELAY only on sockets whose proto says TCP. Without it every response
    # after the first on a kept-alive connection waited ~40 ms (Nagle's algorithm
    # holding the body's segment for the client's delayed ACK of the headers').
    s = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
    except OSError as e:
        s.close()
        raise PortInUse(f"{host}:{port} is taken ({e.strerror})") from None
    return s


def wait_listening(host: str, port: int, timeout: float = 30.0) -> bool:
    """True once a server accepts connections on ``host:port``."""
    target = LOOPBACK if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((target, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def _ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999  # Linux's default
    return lo, hi


def service_port_range() -> range:
    """Where our services' ports come from: outside the kernel's ephemeral range.

    A port chosen there and released before the service binds it can be taken
    in between by any outgoing connection or ``bind(0)`` on the host (Ray's
    processes make many); outside it, only another explicit choice can. Ray's
    own worker ports end at 19999.
    """
    lo, hi = _ephemeral_range()
    return range(20000, lo) if lo > 21000 else range(hi + 1, 65536)


def free_ports(n: int, exclude: Sequence[int] = (), tries: int = 400) -> list[int]:
    """``n`` distinct free loopback ports from ``service_port_range``."""
    pool, chosen = service_port_range(), []
    for _ in range(tries):
        p = random.choice(pool)
        if p not in exclude and p not in chosen and port_is_free(p):
            chosen.append(p)
            if len(chosen) == n:
                return chosen
    raise ServiceError(f"no {n} free loopback ports in {pool.start}-{pool.stop - 1}")


def free_port_pair(offset: int, exclude: Sequence[int] = (), tries: int = 400) -> int:
    """A free port ``p`` with ``p + offset`` free too (for servers that derive one from the other)."""
    pool = service_port_range()
    firsts = range(pool.start, pool.stop - offset)
    for _ in range(tries if len(firsts) else 0):
        p = random.choice(firsts)
        if p in exclude or p + offset in exclude:
            continue
        if port_is_free(p) and port_is_free(p + offset):
            return p
    raise ServiceError(f"no free loopback port pair (offset {offset}) in {pool.start}-{pool.stop - 1}")


def wait_port_closed(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not port_is_free(port):
        time.sleep(0.1)


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the process that started it
    dies, however it dies (kill -9 included), so no service outlives its
    launcher. (Linux ties this to the starting thread: start services from a
    thread that lives as long as they should, as the main thread does.)"""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ManagedProcess:
    """One child in its own process group, logging to a file, with a pid file beside its data."""

    def __init__(self, name: str, pidfile: Path, logfile: Path):
        self.name = name
        self.pidfile = pidfile
        self.logfile = logfile
        self.proc: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, argv: Sequence[str], env: dict[str, str] | None = None,
              cwd: Path | None = None) -> None:
        if self.alive():
            raise ServiceError(f"{self.name} is already running (pid {self.pid})")
        self.kill_stale()
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.logfile, "ab", buffering=0)
        self._log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: "
                        f"{' '.join(argv)}\n".encode())
        self.proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env=env, cwd=cwd, start_new_session=True, close_fds=True, preexec_fn=_die_with_parent)
        self.pidfile.write_text(f"{self.proc.pid}\n")

    def stop(self, timeout: float = 30.0, *, crash: bool = False) -> int | None:
        """SIGTERM the whole group, wait, then SIGKILL; returns the exit code.

        ``crash=True`` sends SIGKILL at once: an unclean death, for fault injection.
        """
        proc, self.proc = self.proc, None
        code = None
        if proc is not None:
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGKILL if crash else signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    _signal_group(proc.pid, signal.SIGKILL)
                    proc.wait(10)
            # Stragglers in the group (if any) go too; the leader is already reaped.
            _signal_group(proc.pid, signal.SIGKILL)
            code = proc.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        self.pidfile.unlink(missing_ok=True)
        return code

    def kill_stale(self) -> None:
        """End a leftover child of an earlier supervisor that died without stopping it."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            p = psutil.Process(pid)
            cmdline = " ".join(p.cmdline())
        except (psutil.Error, OSError):
            cmdline = ""
        # Only a process that is plainly ours: same data directory on its command line.
        if cmdline and str(self.pidfile.parent) in cmdline:
            _signal_group(pid, signal.SIGTERM)
            try:
                p.wait(30)
            except psutil.TimeoutExpired:
                _signal_group(pid, signal.SIGKILL)
                p.wait(10)
        self.pidfile.unlink(missing_ok=True)

    def check(self) -> None:
        """Raise if the child has exited, quoting the end of its log."""
        if self.proc is not None and self.proc.poll() is not None:
            raise ServiceExited(f"{self.name} exited with code {self.proc.returncode}; "
                               f"log tail:\n{tail(self.logfile)}")


class SupervisedService:
    """What every supervised service shares; subclasses set ``_proc`` and
    implement ``start(timeout)`` and ``stop()``."""

    _proc: ManagedProcess

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def kill(self) -> None:
        """SIGKILL, no clean shutdown (fault injection); ``start`` recovers."""
        self._proc.stop(crash=True)

    def restart(self, timeout: float | None = None, *, crash: bool = False):
        """Stop (or, with ``crash``, kill) and start again on the same ports and data."""
        self.kill() if crash else self.stop()
        return self.start() if timeout is None else self.start(timeout)

    def alive(self) -> bool:
        return self._proc.alive()

    def check(self) -> None:
        """Raise ServiceError if the service has exited."""
        self._proc.check()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
