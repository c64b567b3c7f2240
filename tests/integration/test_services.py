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
import stat
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import psutil
import pytest
from minio import Minio
from minio.error import S3Error

from tiering.devstack import KafkaBroker, SeaweedFS

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


def test_seaweed_filer_and_volume_take_nothing_without_a_jwt(seaweed):
    """Behind the S3 gateway, a byte changed through the filer was once served as the object."""
    bucket = f"t-{uuid.uuid4().hex[:10]}"
    seaweed.client().make_bucket(bucket)
    seaweed.client().put_object(bucket, "k", io.BytesIO(b"original"), 8)
    filer = f"http://127.0.0.1:{seaweed.ports['filer']}"
    for method, url, data in (("GET", f"{filer}/buckets/", None), ("GET", f"{filer}/buckets/{bucket}/k", None),
                              ("PUT", f"{filer}/buckets/{bucket}/k", b"tampered"),
                              ("DELETE", f"{filer}/buckets/{bucket}/k", None)):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method), timeout=5) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        assert status == 401, (method, url, status)
    assert seaweed.client().get_object(bucket, "k").read() == b"original"
    assert stat.S_IMODE((seaweed.data_dir / "security.toml").stat().st_mode) == 0o600


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
        f"http://127.0.0.1:{seaweed.ports['master']}/dir/status", timeout=10).read())
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
