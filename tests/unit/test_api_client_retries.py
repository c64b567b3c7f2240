"""The CLI's API client: retries that honour Retry-After, and one Idempotency-Key per
batch, the same on every attempt."""

from __future__ import annotations

import httpx
import pytest

from tiering.app.client import ApiClient, ApiError
from tiering.domain.records import AccessRecord, Op


def client_answering(*answers):
    """A client whose server gives ``answers`` in turn (a status, or an exception to raise)."""
    seen = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        return httpx.Response(status, json={"accepted": 1} if status == 200 else {"detail": "busy"},
                              headers=headers)

    client = ApiClient("http://api.test", retry_for_s=5)
    client.http = httpx.Client(base_url="http://api.test", transport=httpx.MockTransport(handle))
    return client, seen


BATCH = [AccessRecord(1.0, "t", "k", Op.PUT, 1)]


def test_a_batch_is_retried_as_the_server_asks_with_one_key_for_all_attempts(monkeypatch):
    waits = []
    monkeypatch.setattr("tenacity.nap.time.sleep", waits.append)
    client, seen = client_answering((429, {"Retry-After": "2"}), (503, {"Retry-After": "0"}),
                                    httpx.ConnectError("refused"), httpx.ReadTimeout("lost"), 200)
    assert client.post_batch(BATCH) == {"accepted": 1}
    assert len(seen) == 5
    keys = {r.headers["Idempotency-Key"] for r in seen}
    assert len(keys) == 1 and len(keys.pop()) >= 16
    assert waits[:2] == [2.0, 0.0]  # as asked; backoff where nothing was asked
    client.post_batch(BATCH)
    assert seen[-1].headers["Idempotency-Key"] != seen[0].headers["Idempotency-Key"]


def test_a_refusal_is_not_retried_and_a_lost_answer_only_when_idempotent(monkeypatch):
    monkeypatch.setattr("tenacity.nap.time.sleep", lambda s: None)
    client, seen = client_answering(422)
    with pytest.raises(ApiError, match="422"):
        client.post_batch(BATCH)
    assert len(seen) == 1
    client, seen = client_answering(httpx.ReadTimeout("lost"), 200)
    with pytest.raises(ApiError, match="cannot reach"):
        client.post("/imports", {"bucket": "b"})  # may have been applied: not sent again
    assert len(seen) == 1


def test_retries_end_at_their_deadline_with_a_message(monkeypatch):
    monkeypatch.setattr("tenacity.nap.time.sleep", lambda s: None)
    client, seen = client_answering(503)
    client.retry_for_s = 0
    with pytest.raises(ApiError, match="503.*still failing"):
        client.post_batch(BATCH)
