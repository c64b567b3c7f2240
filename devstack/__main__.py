"""``python -m tiering.devstack {kafka|seaweed} --data-dir DIR`` and ``... fetch-kafka``.

``kafka``/``seaweed`` start the service, print its connection info as one JSON line on stdout,
then supervise it until SIGTERM/SIGINT, when it is stopped cleanly (exit 0). If the service
dies on its own, the end of its log goes to stderr and the exit code is 1.
``fetch-kafka`` only fetches the broker's jars (for ``make`` to do ahead of the tests).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from tiering.devstack._proc import ServiceError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tiering.devstack",
                                description="Local SeaweedFS S3 / Kafka services on 127.0.0.1.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, what in (("seaweed", "SeaweedFS S3 (weed mini)"), ("kafka", "a Kafka 4 broker")):
        s = sub.add_parser(name, help=f"run {what} until SIGTERM/SIGINT")
        s.add_argument("--data-dir", type=Path, required=True, help="state, logs and credentials")
        s.add_argument("--port", type=int, default=None,
                       help="S3 or Kafka client port (default: a free one, reused on restarts)")
        s.add_argument("--timeout", type=float, default=None, help="startup timeout, seconds")
    f = sub.add_parser("fetch-kafka", help="fetch the Kafka jars with Maven, then exit")
    f.add_argument("--libs-dir", type=Path, default=None, help="default: <repo>/.services/kafka-libs")
    return p


def _run(service, timeout: float | None) -> int:
    stop = threading.Event()
    got: list[int] = []

    def on_signal(signum, _frame):
        got.append(signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    try:
        service.start(**({"timeout": timeout} if timeout else {}))
    except ServiceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if got:  # a signal arrived while starting
        service.stop()
        return 0
    info = dict(service.info(), startup_seconds=round(service.startup_seconds or 0, 2))
    print(json.dumps(info), flush=True)
    code = 0
    while not stop.wait(1.0):
        try:
            service.check()
        except ServiceError as e:
            print(f"error: {e}", file=sys.stderr)
            code = 1
            break
    service.stop()
    return code


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "fetch-kafka":
        from tiering.devstack.kafka_jars import ensure_kafka_jars
        try:
            libs = ensure_kafka_jars(args.libs_dir)
        except ServiceError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(json.dumps({"kafka_libs": str(libs)}), flush=True)
        return 0
    if args.command == "seaweed":
        from tiering.devstack.seaweed import SeaweedFS
        return _run(SeaweedFS(args.data_dir, s3_port=args.port), args.timeout)
    from tiering.devstack.kafka import KafkaBroker
    return _run(KafkaBroker(args.data_dir, port=args.port), args.timeout)


if __name__ == "__main__":
    sys.exit(main())
