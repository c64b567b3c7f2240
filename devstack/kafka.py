"""A local single-node Apache Kafka 4 broker (KRaft, broker+controller) run from Maven Central jars.

The jars come from ``devstack/kafka/pom.xml`` (``mvn dependency:copy-dependencies``) into a
cache, ``<repo>/.services/kafka-libs`` unless told otherwise; logging goes through Log4j 2
configured by ``devstack/kafka/log4j2.properties``. Both listeners are on 127.0.0.1 only.

With ``sasl=True`` (what ``tiering launch`` uses) both listeners also want a user
and password (SASL/PLAIN): the decision bus carries what movers act on, so no
other user of the host may publish to it or read it. The password is made once
and kept in ``data_dir/credentials.json`` (0600); ``client_options`` gives the
aiokafka arguments that present it.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from tiering.config import kafka_sasl_options
from tiering.devstack._proc import (
    LOOPBACK,
    ManagedProcess,
    ServiceError,
    ServiceExited,
    SupervisedService,
    free_ports,
    port_is_free,
    tail,
    wait_port_closed,
)
from tiering.devstack.kafka_jars import LOG4J2_CONFIG, default_libs_dir, ensure_kafka_jars

NODE_ID = 1
READY_TOPIC = "_tiering_readiness"


def new_cluster_id() -> str:
    """A Kafka cluster id: a random UUID, base64url without padding (as ``random-uuid`` prints)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):  # Kafka avoids these too: they read as CLI flags
            return cid


def java_binary() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise ServiceError("Java 17+ is needed for Kafka (apt-get install openjdk-17-jre-headless)")
    return found


def _prop(v: object) -> str:
    return str(v).replace("\\", "\\\\")


class KafkaBroker(SupervisedService):
    """One KRaft node (``process.roles=broker,controller``) supervised in its own process group."""

    def __init__(self, data_dir: Path, port: int | None = None, libs_dir: Path | None = None,
                 heap: str = "512m", extra_properties: dict[str, object] | None = None,
                 sasl: bool = False):
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.sasl_user, self.sasl_password = ("tiering", _load_or_create_password(self.data_dir)) if sasl \
            else (None, None)
        self.libs_dir = Path(libs_dir).resolve() if libs_dir else default_libs_dir()
        self.heap = heap
        self.extra_properties = dict(extra_properties or {})
        self._want_port = port
        self.ports: dict[str, int] = {}
        self.startup_seconds: float | None = None
        self._proc = ManagedProcess("kafka", self.data_dir / "kafka.pid", self.data_dir / "kafka.log")

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "kraft-logs"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def port(self) -> int:
        if not self.ports:
            raise ServiceError("Kafka has not been started")
        return self.ports["broker"]

    @property
    def bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def client_options(self) -> dict[str, str]:
        """aiokafka keyword arguments that authenticate to this broker (none without SASL)."""
        return kafka_sasl_options(self.sasl_user, self.sasl_password)

    def info(self) -> dict:
        return {"service": "kafka", "bootstrap": self.bootstrap, "port": self.port,
                "controller_port": self.ports["controller"], "data_dir": str(self.data_dir),
                "log": str(self._proc.logfile), "pid": self.pid}

    def ensure_jars(self) -> Path:
        return ensure_kafka_jars(self.libs_dir)

    # -- configuration ----------------------------------------------------------------------
    def _choose_ports(self) -> dict[str, int]:
        """This object's ports again (restart), else those saved in data_dir if free, else new."""
        if self.ports:
            return self.ports
        path = self.data_dir / "ports.json"
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            saved = {}
        if (set(saved) == {"broker", "controller"} and self._want_port in (None, saved["broker"])
                and all(port_is_free(p) for p in saved.values())):
            return saved
        if self._want_port:
            if not port_is_free(self._want_port):
                raise ServiceError(f"Kafka port {self._want_port} is in use")
            ports = {"broker": self._want_port,
                     "controller": free_ports(1, exclude=[self._want_port])[0]}
        else:
            broker, controller = free_ports(2)
            ports = {"broker": broker, "controller": controller}
        path.write_text(json.dumps(ports))
        return ports

    def properties(self) -> dict[str, object]:
        b, c = self.ports["broker"], self.ports["controller"]
        props: dict[str, object] = {
            "process.roles": "broker,controller",
            "node.id": NODE_ID,
            # A static single voter: unlike a --standalone dynamic quorum, whose voter record
            # pins the controller endpoint, this survives the controller port changing.
            "controller.quorum.voters": f"{NODE_ID}@{LOOPBACK}:{c}",
            "listeners": f"PLAINTEXT://{LOOPBACK}:{b},CONTROLLER://{LOOPBACK}:{c}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{b}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            **self._sasl_properties(),
            "log.dirs": self.log_dir,
            "num.partitions": 1,
            "default.replication.factor": 1,
            "offsets.topic.replication.factor": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "min.insync.replicas": 1,
            "auto.create.topics.enable": "true",
            "group.initial.rebalance.delay.ms": 0,
        }
        props.update(self.extra_properties)
        return props

    def _sasl_properties(self) -> dict[str, object]:
        """Both listeners on SASL/PLAIN with one user: us (the broker's link to its own
        controller included)."""
        if self.sasl_user is None:
            return {}
        jaas = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
                f'username="{self.sasl_user}" password="{self.sasl_password}" '
                f'user_{self.sasl_user}="{self.sasl_password}";')
        return {"listener.security.protocol.map": "CONTROLLER:SASL_PLAINTEXT,PLAINTEXT:SASL_PLAINTEXT",
                "sasl.enabled.mechanisms": "PLAIN", "sasl.mechanism.inter.broker.protocol": "PLAIN",
                "sasl.mechanism.controller.protocol": "PLAIN",
                "listener.name.plaintext.plain.sasl.jaas.config": jaas,
                "listener.name.controller.plain.sasl.jaas.config": jaas}

    def _write_config(self) -> None:
        lines = ["# Written by tiering.devstack.kafka on every start; edits are overwritten."]
        lines += [f"{k}={_prop(v)}" for k, v in self.properties().items()]
        self.config_path.touch(mode=0o600, exist_ok=True)  # it may hold the SASL password
        self.config_path.chmod(0o600)
        self.config_path.write_text("\n".join(lines) + "\n")

    def _java(self, main: str, *args: str, heap: str = "256m", initial: str = "64m") -> list[str]:
        return [java_binary(), f"-Xms{initial}", f"-Xmx{heap}", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError",
                "-Djava.awt.headless=true", "-Djava.net.preferIPv4Stack=true",
                f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
                "-cp", str(self.libs_dir / "*"), main, *args]

    def _format_storage(self) -> None:
        if (self.log_dir / "meta.properties").exists():
            return
        argv = self._java("kafka.tools.StorageTool", "format", "-t", new_cluster_id(),
                          "-c", str(self.config_path), "--ignore-formatted")
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=120)
        with open(self._proc.logfile, "a") as log:
            log.write(f"\n=== storage format: {' '.join(argv)}\n{r.stdout}{r.stderr}")
        if r.returncode != 0:
            raise ServiceError(f"kafka-storage format failed ({r.returncode}):\n{r.stdout}{r.stderr}")

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, timeout: float = 90) -> "KafkaBroker":
        """Start and wait for a produce/consume round trip; once more on fresh ports if the
        broker exits early (a chosen port can be taken before the broker binds it)."""
        if self._proc.alive():
            return self
        t0 = time.monotonic()
        self.ensure_jars()
        try:
            self._start_once(t0 + timeout)
        except ServiceExited:
            if self._want_port:
                raise
            self.ports = {}
            (self.data_dir / "ports.json").unlink(missing_ok=True)
            self._start_once(t0 + timeout)
        self.startup_seconds = time.monotonic() - t0
        return self

    def _start_once(self, deadline: float) -> None:
        self.ports = self._choose_ports()
        self._write_config()
        self._format_storage()
        argv = self._java("kafka.Kafka", str(self.config_path), heap=self.heap, initial="128m")
        self._proc.start(argv, cwd=self.data_dir)
        try:
            self._wait_ready(deadline)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, deadline: float) -> None:
        """Until a real client round trip works: produce to a topic, read the record back.

        Probes run on a thread of their own (``start`` may be called inside an event loop),
        while this thread watches the broker so that its exit is noticed at once."""
        last: BaseException | None = None
        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kafka-ready")
        try:
            while time.monotonic() < deadline:
                self._proc.check()
                budget = min(15.0, max(1.0, deadline - time.monotonic()))
                probe = pool.submit(asyncio.run, _round_trip(self.bootstrap, budget, self.client_options()))
                while not probe.done():
                    self._proc.check()
                    concurrent.futures.wait([probe], timeout=0.25)
                try:
                    probe.result()
                    return
                except Exception as e:  # noqa: BLE001 - not up yet
                    last = e
                    time.sleep(0.5)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        raise ServiceError(f"Kafka not ready at {self.bootstrap} in time ({last!r}); "
                           f"log tail:\n{tail(self._proc.logfile)}")

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM (a controlled shutdown), then SIGKILL after ``timeout``."""
        port = self.ports.get("broker")
        self._proc.stop(timeout)
        if port:
            wait_port_closed(port, 5)


def _load_or_create_password(data_dir: Path) -> str:
    path = data_dir / "credentials.json"
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                json.dump({"sasl_password": secrets.token_urlsafe(30)}, f)
    path.chmod(0o600)
    return json.loads(path.read_text())["sasl_password"]


class _ReadinessTopicNotice(logging.Filter):
    """The readiness probe's first send auto-creates its topic, and aiokafka logs an
    error while the topic is not there yet: expected, and not the reader's concern."""

    def filter(self, record: logging.LogRecord) -> bool:
        return READY_TOPIC not in record.getMessage()


logging.getLogger("aiokafka.cluster").addFilter(_ReadinessTopicNotice())


async def _round_trip(bootstrap: str, timeout: float, auth: dict[str, str] | None = None) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    token = uuid.uuid4().hex.encode()
    ms = int(timeout * 1000)
    host, port = bootstrap.rsplit(":", 1)
    # A plain TCP connect first: aiokafka logs an error for every refused connection.
    _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout)
    writer.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=ms,
                                acks="all", enable_idempotence=False, **(auth or {}))
    try:
        await producer.start()
        md = await asyncio.wait_for(producer.send_and_wait(READY_TOPIC, token), timeout)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, request_timeout_ms=ms, **(auth or {}))
    try:
        await consumer.start()
        tp = TopicPartition(READY_TOPIC, md.partition)
        consumer.assign([tp])
        consumer.seek(tp, md.offset)
        msg = await asyncio.wait_for(consumer.getone(), timeout)
        if msg.value != token:
            raise ServiceError(f"read back {msg.value!r}, expected {token!r}")
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
