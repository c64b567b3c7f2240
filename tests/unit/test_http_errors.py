"""Errors become JSON in one place: no traceback, even from a remote actor."""

from fastapi import FastAPI
from fastapi.testclient import TestClient
from ray.exceptions import RayTaskError

from tiering.domain.model import DecisionNotPending
from tiering.web import errors


def remote(exc: Exception) -> Exception:
    """What Ray raises in the caller when an actor method raised ``exc``."""
    try:
        raise exc
    except Exception as e:  # noqa: BLE001
        return RayTaskError("ShardActor.answer", "Traceback (most recent call last):\n"
                            "  File \"/srv/actors/shard.py\", line 9\n(pid=4242, ip=10.0.0.7)", e
                            ).as_instanceof_cause()


def app_raising(exc: Exception) -> TestClient:
    app = FastAPI()
    errors.install(app)

    @app.get("/boom")
    async def boom():
        raise exc

    return TestClient(app, raise_server_exceptions=False)


def test_a_rule_broken_in_an_actor_is_a_409_in_its_own_words():
    r = app_raising(remote(DecisionNotPending("decision d1 is approved, not pending"))).get("/boom")
    assert r.status_code == 409
    assert r.json() == {"detail": "DecisionNotPending: decision d1 is approved, not pending"}


def test_an_unknown_key_from_an_actor_is_a_404():
    r = app_raising(remote(KeyError("acme/x"))).get("/boom")
    assert r.status_code == 404 and r.json() == {"detail": "not found: acme/x"}


def test_anything_else_is_a_500_with_a_reference_only(caplog):
    r = app_raising(remote(RuntimeError("password=hunter2 in /etc/secret"))).get("/boom")
    assert r.status_code == 500
    body = r.json()
    assert set(body) == {"detail", "reference"} and "hunter2" not in r.text and "pid" not in r.text
    assert body["reference"] in caplog.text


def test_public_message_unwraps_ray():
    assert errors.public_message(remote(ValueError("bad"))) == "ValueError: bad"
    assert errors.public_message(ValueError()) == "ValueError"
