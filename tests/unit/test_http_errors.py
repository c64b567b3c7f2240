"""Errors become JSON in one place: no traceback, even from a remote actor."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from ray.exceptions import RayTaskError

from tiering.domain.model import DecisionNotPending
from tiering.services.errors import Busy, Conflict, Invalid, NotFound, TooLarge, Unavailable
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


@pytest.mark.parametrize("refusal,status", [
    (NotFound("unknown object acme/x"), 404), (Conflict("a move is in flight"), 409),
    (TooLarge("batch of 6 records exceeds the limit of 5 records"), 413),
    (Unavailable("the job worker is not running"), 503)])
def test_each_refusal_of_a_use_case_has_its_status_and_its_words(refusal, status):
    r = app_raising(refusal).get("/boom")
    assert r.status_code == status and r.json() == {"detail": refusal.message}


def test_invalid_input_names_each_field():
    r = app_raising(Invalid([{"field": "target", "reason": "not a tier"}])).get("/boom")
    assert r.status_code == 422
    assert r.json() == {"detail": "invalid target: not a tier", "errors": [{"field": "target", "reason": "not a tier"}]}


def test_busy_says_when_to_come_back():
    r = app_raising(Busy("too many jobs", retry_after_s=12)).get("/boom")
    assert r.status_code == 429 and r.headers["retry-after"] == "12"


def test_a_request_that_fails_validation_names_the_field_without_echoing_it():
    app = FastAPI()
    errors.install(app)

    @app.get("/items")
    async def items(limit: int):
        return {"limit": limit}

    r = TestClient(app).get("/items", params={"limit": "secret-value"})
    assert r.status_code == 422 and set(r.json()) == {"detail", "errors"}
    assert r.json()["errors"][0]["field"] == "limit" and "secret-value" not in r.text


def test_a_key_error_is_not_taken_for_a_missing_object(caplog):
    r = app_raising(remote(KeyError("acme/x"))).get("/boom")
    assert r.status_code == 500 and "acme/x" not in r.text


def test_anything_else_is_a_500_with_a_reference_only(caplog):
    r = app_raising(remote(RuntimeError("password=hunter2 in /etc/secret"))).get("/boom")
    assert r.status_code == 500
    body = r.json()
    assert set(body) == {"detail", "reference"} and "hunter2" not in r.text and "pid" not in r.text
    assert body["reference"] in caplog.text


def test_public_message_unwraps_ray():
    assert errors.public_message(remote(ValueError("bad"))) == "ValueError: bad"
    assert errors.public_message(ValueError()) == "ValueError"
