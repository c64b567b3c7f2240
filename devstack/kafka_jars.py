"""The Kafka broker's jars: fetched from Maven Central by ``devstack/kafka/pom.xml`` once."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from tiering.devstack._proc import ServiceError

REPO = Path(__file__).resolve().parents[1]
KAFKA_DIR = Path(__file__).resolve().parent / "kafka"  # the pom and the Log4j 2 config
POM = KAFKA_DIR / "pom.xml"
LOG4J2_CONFIG = KAFKA_DIR / "log4j2.properties"


def default_libs_dir() -> Path:
    return Path(os.environ.get("TIERING_KAFKA_LIBS") or REPO / ".services" / "kafka-libs")


def ensure_kafka_jars(libs_dir: Path | None = None, quiet: bool = True) -> Path:
    """Fetch the broker's jars with Maven once; a stamp of the pom's digest marks them complete."""
    libs = Path(libs_dir or default_libs_dir()).resolve()
    stamp = libs / ".complete"
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == digest:
        return libs
    mvn = shutil.which("mvn")
    if not mvn:
        raise ServiceError("Maven ('mvn') is needed to fetch the Kafka jars (apt-get install maven)")
    libs.parent.mkdir(parents=True, exist_ok=True)
    with open(libs.parent / f".{libs.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one fetch at a time; the others then find it done
        if stamp.exists() and stamp.read_text().strip() == digest:
            return libs
        tmp = libs.parent / f".{libs.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        argv = [mvn, "-B", *(["-q"] if quiet else []), "-f", str(POM),
                "dependency:copy-dependencies", f"-DoutputDirectory={tmp}"]
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=900)
        if r.returncode != 0 or not any(tmp.glob("kafka_2.13-*.jar")):
            shutil.rmtree(tmp, ignore_errors=True)
            raise ServiceError(f"mvn failed ({r.returncode}) fetching Kafka jars:\n"
                               f"{(r.stdout + r.stderr)[-4000:]}")
        (tmp / ".complete").write_text(digest + "\n")
        shutil.rmtree(libs, ignore_errors=True)
        tmp.rename(libs)
    return libs
