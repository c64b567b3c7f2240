"""A Ray cluster of the test's own, made as a user makes one: ``ray start --head``
and ``ray start --address=…`` for a second node on this machine. Each node has
its own temp dir and ports (never Ray's defaults, which another stack on this
host may hold), and every process it starts is stopped by pid: never `ray stop`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from tests.support.launched import BIN, free_port

SECOND = "second_node"  # the custom resource that tells the second node apart

# Run in a child: a driver of the cluster that reports what it sees (the test
# process itself must not join: it would become a node's driver).
_PROBE = """
import json, sys, ray
from ray.util.state import list_tasks
ray.init(address=sys.argv[1], namespace="probe", log_to_driver=False)
what = sys.argv[2]
if what == "named":
    out = ray.util.list_named_actors(all_namespaces=True)
elif what == "nodes":
    out = [{"id": n["NodeID"], "second": %r in n["Resources"]} for n in ray.nodes() if n["Alive"]]
else:
    out = len(list_tasks(address=sys.argv[1], filters=[("node_id", "=", sys.argv[3]),
                                                       ("name", "=", what)], limit=1000))
print("PROBE " + json.dumps(out))
""" % SECOND


def _env() -> dict[str, str]:
    return {**os.environ, "RAY_AUTH_MODE": "token"}


def probe(address: str, what: str, *args: str) -> Any:
    """``named`` actors, live ``nodes``, or how many tasks named ``what`` ran on node ``args[0]``."""
    done = subprocess.run([str(BIN / "python"), "-c", _PROBE, address, what, *args], capture_output=True,
                          text=True, timeout=120, env=_env())
    assert done.returncode == 0, done.stderr[-3000:]
    # Ray's own notices (a node marked dead) share the driver's stdout.
    return json.loads(next(line for line in done.stdout.splitlines()[::-1] if line.startswith("PROBE "))[6:])


def _stop(proc: subprocess.Popen) -> None:
    try:
        family = [proc, *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = [proc]
    proc.send_signal(signal.SIGTERM)  # --block stops the node's processes
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        pass
    for p in family:  # whatever outlived it
        try:
            p.kill()
        except (psutil.NoSuchProcess, ProcessLookupError):
            pass


class RayNodes:
    """A head node (dashboard on, for Ray's state API) and, on demand, a second node.

    The head's GCS gives up on a silent node after ~3 s instead of Ray's ~30 s
    default (``health_check_*``): the same detection, sooner, so the test does
    not wait out the default."""

    def __init__(self, second_env: dict[str, str] | None = None):
        from tiering.app.cluster import ensure_auth_token

        ensure_auth_token()
        self.temp = Path(tempfile.mkdtemp(prefix="rn", dir="/tmp"))  # Ray's socket paths must stay short
        self.gcs = free_port()
        self.address = f"127.0.0.1:{self.gcs}"
        self.second_env = second_env or {}
        self.second: subprocess.Popen | None = None
        self._second_ports: list[int] = []
        ports = [self.gcs]
        for _ in range(3):
            ports.append(free_port(*ports))
        self.head = self._start("head", ["--head", f"--port={self.gcs}", "--num-cpus=2",
                                         "--include-dashboard=true", f"--dashboard-port={ports[1]}",
                                         f"--ray-client-server-port={ports[2]}",
                                         f"--dashboard-agent-listen-port={ports[3]}"],
                                {"RAY_health_check_period_ms": "1000",
                                 "RAY_health_check_failure_threshold": "3"})
        self._wait_nodes(1)

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        temp = self.temp / name
        temp.mkdir(exist_ok=True)
        return subprocess.Popen(
            [str(BIN / "ray"), "start", "--block", f"--temp-dir={temp}", "--object-store-memory=150000000",
             "--disable-usage-stats", *args],
            env={**_env(), **env}, stdout=(self.temp / f"{name}.log").open("a"),
            stderr=subprocess.STDOUT, start_new_session=True)

    def _wait_nodes(self, n: int, timeout_s: float = 120) -> list[dict]:
        deadline = time.time() + timeout_s
        while len(nodes := probe(self.address, "nodes")) != n:
            assert time.time() < deadline, f"{len(nodes)} live nodes, not {n}"
            time.sleep(1)
        return nodes

    def start_second(self) -> str:
        """The second node (again, after a kill: same ports, a new node id); its id."""
        if not self._second_ports:
            taken = [self.gcs]
            for _ in range(4):
                taken.append(free_port(*taken))
            self._second_ports = taken[1:]
        manager, objects, agent, agent_grpc = self._second_ports
        self.second = self._start("second", [
            f"--address={self.address}", "--num-cpus=1", f"--resources={json.dumps({SECOND: 1})}",
            f"--node-manager-port={manager}", f"--object-manager-port={objects}",
            f"--dashboard-agent-listen-port={agent}", f"--dashboard-agent-grpc-port={agent_grpc}"],
            self.second_env)
        return next(n["id"] for n in self._wait_nodes(2) if n["second"])

    def kill_second_raylet(self) -> None:
        """SIGKILL the second node's raylet, as a crashed or lost machine would."""
        assert self.second is not None
        raylets = [p for p in psutil.Process(self.second.pid).children(recursive=True)
                   if p.name() == "raylet"]
        assert len(raylets) == 1, raylets
        raylets[0].kill()
        self._wait_nodes(1)

    def head_id(self) -> str:
        return next(n["id"] for n in probe(self.address, "nodes") if not n["second"])

    def close(self) -> None:
        for proc in (self.second, self.head):
            if proc is not None:
                _stop(proc)
        shutil.rmtree(self.temp, ignore_errors=True)
