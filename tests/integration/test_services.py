"""The supervised local services, started for real: SeaweedFS S3 and a Kafka 4 broker.

No mocks: each test talks to the real server over loopback with the real client library.
A service that cannot start is an error, never a skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import ssl
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psutil
import pytest
from minio import Minio
from minio.error import S3Error

from tiering.devstack import KafkaBroker, SeaweedFS
from tiering.devstack.seaweed import weed_binary

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    # An IPv4-mapped IPv6 address (::ffff:127.0.0.1) is loopback too; count it as such.
    return {(c.laddr[0].removeprefix("::ffff:"), c.laddr[1]) for p in procs
            for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}


# -- SeaweedFS ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def seaweed(tmp_path_factory):
    with SeaweedFS(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


def test_seaweed_put_get_round_trip(seaweed):
    client = seaweed.client()
    bucket = f"t-{uuid.uuid4().hex[:10]}"
    client.make_bucket(bucket)
    assert client.bucket_exists(bucket)
    payload = os.urandom(300_000) + b"end"
    client.put_object(bucket, "dir/obj.bin", io.BytesIO(payload), len(payload))
    resp = client.get_object(bucket, "dir/obj.bin")
    try:
        assert resp.read() == payload
    finally:
        resp.close()
        resp.release_conn()
    assert [o.object_name for o in client.list_objects(bucket, recursive=True)] == ["dir/obj.bin"]


def test_seaweed_refuses_wrong_or_missing_credentials(seaweed):
    bucket = f"t-{uuid.uuid4().hex[:10]}"
    seaweed.client().make_bucket(bucket)
    seaweed.client().put_object(bucket, "secret", io.BytesIO(b"s3cr3t"), 6)
    wrong_secret = Minio(seaweed.endpoint, access_key=seaweed.access_key, secret_key="not-the-key",
                         secure=False, region="us-east-1")
    unknown_key = Minio(seaweed.endpoint, access_key="NOSUCHKEY0000000", secret_key="x" * 40,
                        secure=False, region="us-east-1")
    anonymous = Minio(seaweed.endpoint, secure=False, region="us-east-1")
    for client, code in ((wrong_secret, "SignatureDoesNotMatch"), (unknown_key, "InvalidAccessKeyId"),
                         (anonymous, "AccessDenied")):
        with pytest.raises(S3Error) as err:
            client.get_object(bucket, "secret").read()
        assert err.value.code == code
        with pytest.raises(S3Error):
            client.make_bucket(f"t-{uuid.uuid4().hex[:10]}")
        with pytest.raises(S3Error):
            client.list_buckets()


def _status(url, method="GET", data=None, context=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method),
                                    timeout=5, context=context) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_seaweed_internal_ports_refuse_callers_without_its_certificate(seaweed):
    """Behind the S3 gateway, a byte changed through the filer was once served as the object,
    the master's HTTP API dropped a bucket's data, and ``weed shell`` read and deleted files."""
    bucket = f"t-{uuid.uuid4().hex[:10]}"
    seaweed.client().make_bucket(bucket)
    seaweed.client().put_object(bucket, "k", io.BytesIO(b"original"), 8)
    p = seaweed.ports
    no_cert = ssl.create_default_context(cafile=str(seaweed.internal_tls.ca))
    probes = [("GET", f"filer/buckets/{bucket}/k", None), ("PUT", f"filer/buckets/{bucket}/k", b"tampered"),
              ("DELETE", f"filer/buckets/{bucket}/k", None), ("GET", "master/dir/status", None),
              ("GET", f"master/col/delete?collection={bucket}", None), ("GET", "master/dir/assign", None),
              ("GET", "volume/status", None)]
    for method, path, data in probes:
        name, rest = path.split("/", 1)
        for url, context in ((f"http://127.0.0.1:{p[name]}/{rest}", None),
                             (f"https://127.0.0.1:{p[name]}/{rest}", no_cert)):
            try:
                status = _status(url, method, data, context=context)
            except (ssl.SSLError, urllib.error.URLError, ConnectionError):
                continue  # the handshake failed, or the connection was dropped
            # Plain HTTP on a TLS port: "client sent an HTTP request to an HTTPS server".
            assert status == 400, (method, url, status)
    # gRPC too: weed's own admin shell, run where there is no security.toml, gets nowhere.
    try:
        shell = subprocess.run(
            [str(weed_binary()), "shell", f"-master=127.0.0.1:{p['master']}.{p['master_grpc']}",
             f"-filer=127.0.0.1:{p['filer']}.{p['filer_grpc']}"],
            input=f"fs.rm -r /buckets/{bucket}\nexit\n", capture_output=True, text=True,
            cwd=seaweed.data_dir.parent, timeout=15, check=False)
    except subprocess.TimeoutExpired:
        pass  # it keeps retrying the handshake: refused
    else:
        assert shell.returncode != 0, shell.stdout
    # With the certificate but no JWT, the filer still refuses: two locks, not one.
    with_cert = seaweed.internal_tls.client_context()
    assert _status(f"https://127.0.0.1:{p['filer']}/buckets/{bucket}/k", context=with_cert) == 401
    assert seaweed.client().get_object(bucket, "k").read() == b"original"
    assert stat.S_IMODE((seaweed.data_dir / "security.toml").stat().st_mode) == 0o600
    assert stat.S_IMODE((seaweed.data_dir / "tls").stat().st_mode) == 0o700
    assert stat.S_IMODE(seaweed.internal_tls.key.stat().st_mode) == 0o600


def test_seaweed_credentials_kept_private_in_data_dir(seaweed):
    path = seaweed.data_dir / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert (saved["access_key"], saved["secret_key"]) == (seaweed.access_key, seaweed.secret_key)
    assert (seaweed.data_dir / "weed.log").stat().st_size > 0


def test_seaweed_listens_on_loopback_only(seaweed):
    addrs = listening_addresses(seaweed.pid)
    assert ("127.0.0.1", seaweed.s3_port) in addrs
    assert {ip for ip, _ in addrs} == {"127.0.0.1"}
    assert {port for _, port in addrs} <= set(seaweed.ports.values())


def test_seaweed_volume_count_does_not_shrink_with_free_disk(seaweed):
    # weed mini's own default is free disk / 1 GiB, and each bucket needs a volume: with
    # a few GiB free the fourth tier bucket could not be written to.
    from tiering.devstack.seaweed import MAX_VOLUMES

    status = json.loads(urllib.request.urlopen(
        f"https://127.0.0.1:{seaweed.ports['master']}/dir/status", timeout=10,
        context=seaweed.internal_tls.client_context()).read())
    assert status["Topology"]["Max"] == MAX_VOLUMES
    client = seaweed.client()
    buckets = [f"v{i}-{uuid.uuid4().hex[:8]}" for i in range(40)]
    try:
        for b in buckets:
            client.make_bucket(b)
            client.put_object(b, "one", io.BytesIO(b"1"), 1)
        assert all(client.get_object(b, "one").read() == b"1" for b in buckets)
    finally:
        for b in buckets:
            with contextlib.suppress(S3Error):
                client.remove_object(b, "one")
                client.remove_bucket(b)


def test_seaweed_cli_prints_info_and_stops_on_sigterm(tmp_path):
    data_dir = tmp_path / "cli-seaweed"
    proc = subprocess.Popen([sys.executable, "-m", "tiering.devstack", "seaweed",
                             "--data-dir", str(data_dir)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["service"] == "seaweed" and info["endpoint"].startswith("127.0.0.1:")
        client = Minio(info["endpoint"], access_key=info["access_key"],
                       secret_key=info["secret_key"], secure=False, region=info["region"])
        assert client.list_buckets() == []
        weed_pid = info["pid"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, proc.stderr.read()
        assert not psutil.pid_exists(weed_pid) or psutil.Process(weed_pid).status() == "zombie"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_seaweed_dies_with_the_process_that_started_it(tmp_path):
    """After kill -9 of its launcher, weed used to live on and be adopted by the next launch."""
    proc = subprocess.Popen([sys.executable, "-m", "tiering.devstack", "seaweed",
                             "--data-dir", str(tmp_path / "orphan")], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        weed_pid = json.loads(proc.stdout.readline())["pid"]
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 30
        while psutil.pid_exists(weed_pid) and psutil.Process(weed_pid).status() != "zombie":
            assert time.monotonic() < deadline, "weed outlived its launcher"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- Kafka ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kafka(tmp_path_factory):
    with KafkaBroker(tmp_path_factory.mktemp("kafka")) as broker:
        yield broker


async def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    from aiokafka import AIOKafkaProducer
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for v in values:
            await producer.send_and_wait(topic, v, key=b"k")
    finally:
        await producer.stop()


async def consume(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list[bytes]:
    """Read a topic from the start through a consumer group until ``expected`` records."""
    from aiokafka import AIOKafkaConsumer
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"g-{uuid.uuid4().hex}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    out: list[bytes] = []
    try:
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            out += [m.value for records in batches.values() for m in records]
    finally:
        await consumer.stop()
    return out


def test_kafka_produce_consume_round_trip(kafka):
    topic = f"t-{uuid.uuid4().hex[:10]}"
    values = [f"msg-{i}".encode() for i in range(20)]
    asyncio.run(produce(kafka.bootstrap, topic, values))
    assert asyncio.run(consume(kafka.bootstrap, topic, len(values))) == values


def test_kafka_listens_on_loopback_only(kafka):
    addrs = listening_addresses(kafka.pid)
    assert ("127.0.0.1", kafka.port) in addrs
    assert ("127.0.0.1", kafka.ports["controller"]) in addrs
    assert {ip for ip, _ in addrs} == {"127.0.0.1"}


def test_kafka_restart_keeps_earlier_messages(kafka):
    topic = f"t-{uuid.uuid4().hex[:10]}"
    before = [f"before-{i}".encode() for i in range(5)]
    asyncio.run(produce(kafka.bootstrap, topic, before))
    bootstrap, old_pid = kafka.bootstrap, kafka.pid
    kafka.restart()
    assert kafka.bootstrap == bootstrap and kafka.pid != old_pid
    after = [b"after-0"]
    asyncio.run(produce(kafka.bootstrap, topic, after))
    assert asyncio.run(consume(kafka.bootstrap, topic, len(before) + 1)) == before + after


def test_a_kafka_broker_with_sasl_carries_decisions_for_its_user_only(tmp_path):
    """What tiering launch runs: the decision bus moves only what its own user sends."""
    from aiokafka import AIOKafkaProducer

    from tiering.adapters.bus import Decision
    from tiering.adapters.bus_kafka import KafkaDecisionBus, KafkaDecisionConsumer

    with KafkaBroker(tmp_path / "sasl", heap="256m", sasl=True) as broker:
        creds = broker.data_dir / "credentials.json"
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        assert stat.S_IMODE(broker.config_path.stat().st_mode) == 0o600

        async def refused(**options) -> bool:
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, request_timeout_ms=3000, **options)
            try:
                await asyncio.wait_for(producer.start(), 15)
                await asyncio.wait_for(producer.send_and_wait("tiering.decisions", b"forged"), 10)
            except Exception:  # noqa: BLE001 - refused, whichever way aiokafka says it
                return True
            finally:
                with contextlib.suppress(Exception):
                    await producer.stop()
            return False

        assert asyncio.run(refused())
        assert asyncio.run(refused(**{**broker.client_options(), "sasl_plain_password": "guess"}))

        async def round_trip() -> list[str]:
            got: list[str] = []
            done = asyncio.Event()

            async def handle(decision):
                got.append(decision.key)
                done.set()
                return {"status": "completed", "move_id": decision.move_id}

            bus = KafkaDecisionBus(broker.bootstrap, auth=broker.client_options())
            consumer = KafkaDecisionConsumer(broker.bootstrap, handle, auth=broker.client_options())
            await bus.start()
            running = asyncio.create_task(consumer.run())
            try:
                await bus.publish(Decision(uuid.uuid4().hex, str(uuid.uuid4()), "acme", "k1", "hot", "cold",
                                           "test", 1, 0.0, "ours@test"))
                await asyncio.wait_for(done.wait(), 60)
            finally:
                await consumer.stop()
                await asyncio.wait_for(running, 30)
                await bus.stop()
            return got

        assert asyncio.run(round_trip()) == ["k1"]
