"""``make compose-smoke``: docker-compose.yml brought up, used and torn down.

Brings the stack up under a project name of its own (so a running
``docker compose up`` of the same file is left alone), replays a trace into
it from this machine (or sends seeded synthetic load when no trace is given),
checks ``/health``, moves one object to cold and waits for the move to be
committed with its bytes readable, then removes the containers and volumes.
Exit 0 when all of it held, 1 when a check failed, 2 when it cannot run here
(no Docker engine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
SERVICES = ["minio", "minio-init", "kafka", "postgres", "ray-head", "app"]  # not the endless producer
API = "http://127.0.0.1:8000"


class SmokeFailed(AssertionError):
    pass


def _compose(project: str, *args: str, capture: bool = False) -> str:
    done = subprocess.run(["docker", "compose", "-f", str(REPO / "docker-compose.yml"), "-p", project, *args],
                          cwd=REPO, text=True, capture_output=capture, check=False)
    if done.returncode != 0:
        raise SmokeFailed(f"docker compose {' '.join(args)} exited {done.returncode}"
                          + (f": {done.stderr.strip()[-2000:]}" if capture else ""))
    return done.stdout if capture else ""


def _until(check, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise SmokeFailed(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(2)


def _feed(env: dict[str, str], trace: Path | None, fmt: str) -> None:
    tiering = str(Path(sys.executable).with_name("tiering"))
    cmd = ([tiering, "replay-trace", str(trace), "--format", fmt] if trace else
           [tiering, "produce", "--objects", "2000", "--total", "20000", "--no-materialize"])
    if subprocess.run(cmd, env=env, check=False).returncode != 0:
        raise SmokeFailed(f"{' '.join(cmd[1:3])} failed")


def smoke(project: str, trace: Path | None, fmt: str) -> None:
    _compose(project, "config", "--quiet")
    _compose(project, "up", "--detach", "--build", "--wait", "--wait-timeout", "600", *SERVICES)
    key = _compose(project, "exec", "-T", "app", "cat", "/var/lib/tiering/admin.key", capture=True).strip()
    api = httpx.Client(base_url=API, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    health = api.get("/health")
    if health.status_code != 200:
        raise SmokeFailed(f"/health answered {health.status_code}: {health.text[:500]}")
    _feed({**os.environ, "TIERING_API_URL": API, "TIERING_API_KEY": key}, trace, fmt)
    put = [{"ts": time.time(), "tenant": "default", "key": "smoke/one", "op": "PUT", "size": 4096}]
    r = api.post("/accesses/materialize", json=put)
    if r.status_code != 200:
        raise SmokeFailed(f"materialize answered {r.status_code}: {r.text[:500]}")
    r = api.post("/objects/smoke/one/move", json={"target": "cold", "reason": "compose smoke"})
    if r.status_code != 202:
        raise SmokeFailed(f"the move answered {r.status_code}: {r.text[:500]}")

    def moved() -> bool:
        state = api.get("/objects/smoke/one/location").json()
        return state.get("tier") == "cold" and not state.get("move")

    _until(moved, "the move to cold committed", 120)
    content = api.get("/objects/smoke/one/content")
    if content.status_code != 200 or content.headers.get("x-tier") != "cold" or len(content.content) != 4096:
        raise SmokeFailed(f"content after the move: {content.status_code} {content.headers.get('x-tier')}")
    if api.get("/health").status_code != 200:
        raise SmokeFailed("/health is not ok after the replay and the move")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="make compose-smoke", description=__doc__.splitlines()[0])
    p.add_argument("--trace", type=Path, help="a trace to replay (default: seeded synthetic load)")
    p.add_argument("--format", default="ibm-cos", help="the trace's format (tiering replay-trace --format)")
    p.add_argument("--project", default="tiering-smoke", help="compose project name")
    p.add_argument("--keep", action="store_true", help="leave the stack up afterwards")
    args = p.parse_args(argv)
    if shutil.which("docker") is None or subprocess.run(["docker", "compose", "version"], capture_output=True,
                                                          check=False).returncode != 0:
        print("compose-smoke: no Docker engine with the compose plugin here (docker compose version failed); "
              "docker-compose.yml is checked against its schema by make test", file=sys.stderr)
        return 2
    if args.trace is not None and not args.trace.is_file():
        print(f"compose-smoke: no such trace file: {args.trace}", file=sys.stderr)
        return 2
    try:
        smoke(args.project, args.trace, args.format)
        print("compose-smoke: ok (health, replay, one committed move)")
        return 0
    except SmokeFailed as e:
        print(f"compose-smoke: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            _compose(args.project, "down", "--volumes", "--remove-orphans")


if __name__ == "__main__":
    sys.exit(main())
