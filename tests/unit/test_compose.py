"""docker-compose.yml against the Compose Specification, plus what the schema cannot say.

The schema is the compose-spec project's own JSON schema, as vendored by the
``check-jsonschema`` package (its ``vendor.compose-spec`` builtin); there is no
Docker engine here to run ``docker compose config``.
"""

from __future__ import annotations

import importlib.resources
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def schema() -> dict:
    path = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(path.read_text())


def test_the_file_is_valid_against_the_compose_spec_schema(compose, schema):
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    errors = sorted(cls(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_check_jsonschema_cli_accepts_it_too():
    r = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                        "vendor.compose-spec", str(COMPOSE)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_schema_catches_a_broken_file(compose, schema):
    broken = json.loads(json.dumps(compose))
    broken["services"]["app"]["depends_on"]["kafka"]["condition"] = "when_it_feels_like_it"
    broken["services"]["minio"]["healthcheck"]["interval"] = ["5s"]
    cls = jsonschema.validators.validator_for(schema)
    assert len(list(cls(schema).iter_errors(broken))) >= 2


def test_the_stack_has_every_service_with_pinned_images(compose):
    services = compose["services"]
    assert {"minio", "minio-init", "kafka", "postgres", "ray-head", "app", "producer"} <= set(services)
    for name, svc in services.items():
        image = svc["image"]
        tag = image.rpartition(":")[2] if ":" in image else ""
        assert tag and tag != "latest", f"{name}: image {image!r} is not pinned"
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert services["app"]["command"][-1].endswith("exec tiering launch")
    assert "mc mb --ignore-existing local/hot local/warm local/cold" in \
        services["minio-init"]["command"][0]


def test_startup_order_waits_on_health(compose):
    services = compose["services"]
    for name, svc in services.items():
        for dep, cond in svc.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits on {dep}, which has none"
            else:
                assert cond["condition"] == "service_completed_successfully"
                assert services[dep].get("restart") == "no"
    long_running = set(services) - {"minio-init", "producer"}
    assert all("healthcheck" in services[s] for s in long_running)
    assert set(services["app"]["depends_on"]) >= {"ray-head", "kafka", "postgres", "minio-init"}


def test_the_app_is_pointed_at_the_compose_services(compose):
    from urllib.parse import urlparse

    from tiering.config import Settings

    env = compose["services"]["app"]["environment"]
    host = lambda v: urlparse(v if "://" in v else f"x://{v}").hostname  # noqa: E731
    assert host(env["TIERING_S3_ENDPOINT"]) == "minio"
    assert host(env["TIERING_KAFKA_BOOTSTRAP"]) == "kafka"
    assert host(env["TIERING_DATABASE_URL"]) == "postgres"
    assert host(env["TIERING_RAY_ADDRESS"]) == "ray-head"
    unknown = {k for k in env if k.startswith("TIERING_")
               and k.removeprefix("TIERING_").lower() not in Settings.model_fields}
    assert not unknown, f"not settings: {unknown}"


def test_the_app_joins_the_ray_cluster_as_a_node_before_it_launches(compose):
    command = " ".join(compose["services"]["app"]["command"])
    assert "ray start --address=ray-head:6379" in command
    assert command.index("ray start") < command.index("tiering launch")


def test_kafka_is_the_broker_version_the_tests_run(compose):
    pom = (COMPOSE.parent / "devstack" / "kafka" / "pom.xml").read_text()
    version = pom.split("<kafka.version>")[1].split("<")[0]
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{version}"


def test_compose_smoke_says_why_it_cannot_run_without_docker(tmp_path):
    """Here there is no Docker engine: exit 2 and one line saying so, before anything runs."""
    done = subprocess.run([sys.executable, "-m", "tiering.devstack.compose_smoke"], capture_output=True,
                          text=True, timeout=60, env={"PATH": str(tmp_path)})  # no `docker` on it
    assert done.returncode == 2, done.stderr
    assert "no Docker engine" in done.stderr and "Traceback" not in done.stderr
