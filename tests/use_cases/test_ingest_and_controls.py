"""Use cases of ingest, the autopilot's controls, jobs and policies, on fakes."""

import asyncio

import pytest

from tests.use_cases.fakes import FakeIngest, FakeSetting
from tiering.config import Settings
from tiering.domain.model import DecisionNotPending
from tiering.domain.vocabulary import AutopilotMode
from tiering.services.autopilot import AutopilotControls
from tiering.services.errors import Busy, Conflict, Invalid, NotFound, TooLarge, Unavailable
from tiering.services.ingest import IngestRecords
from tiering.services.jobs import TrainingJobs
from tiering.services.policies import Policies


def run(coro):
    return asyncio.run(coro)


def rec(key, op="PUT", ts=1_700_000_000, size=10):
    return {"ts": ts, "tenant": "acme", "key": key, "op": op, "size": size}


def test_a_batch_is_taken_whole():
    port = FakeIngest()
    got = run(IngestRecords(port, 100)([rec("a"), rec("b", "GET")]))
    assert got["accepted"] == 2 and [r.key for r in port.batches[0]] == ["a", "b"]


def test_one_bad_record_refuses_the_batch_and_names_it():
    port = FakeIngest()
    with pytest.raises(Invalid) as e:
        run(IngestRecords(port, 100)([rec("a"), rec("b", "FETCH"), {"ts": 1}]))
    assert [(x["index"], x["field"]) for x in e.value.errors][:1] == [(1, "op")]
    assert "2 invalid record(s)" in e.value.message and port.batches == []


def test_a_batch_over_the_limit_is_too_large():
    port = FakeIngest()
    with pytest.raises(TooLarge, match="limit of 2"):
        run(IngestRecords(port, 2)([rec("a"), rec("b"), rec("c")]))
    assert port.batches == []


def test_bytes_are_written_only_with_an_object_store():
    plain, with_bytes = FakeIngest(), FakeIngest()
    with pytest.raises(Unavailable):
        run(IngestRecords(plain, 10)([rec("a")], materialize=True))
    run(IngestRecords(plain, 10, with_bytes, materialize_by_default=True)([rec("a")]))
    assert with_bytes.batches and not plain.batches


class FakePilot:
    def __init__(self, fail=None):
        self.fail, self.mode, self.answers = fail, "auto", []

    def state(self):
        return {"mode": self.mode}

    def set_mode(self, mode, by=""):
        self.mode = mode
        return self.state()

    async def run_round(self):
        return {"decided": 0}

    async def run_promotions(self):
        return {"promoted": 0}

    async def answer(self, decision_id, outcome, by):
        if self.fail:
            raise self.fail
        self.answers.append((decision_id, outcome, by))
        return {"decision_id": decision_id, "status": outcome}


async def here(coro):
    return await coro


def test_answers_reach_the_pilot_and_its_refusals_become_use_case_errors():
    pilot = FakePilot()
    controls = AutopilotControls(pilot, here)
    assert controls.set_mode(AutopilotMode("approval")) == {"mode": "approval"}
    assert run(controls.answer("d1", True, "ops@acme"))["status"] == "approved"
    assert pilot.answers == [("d1", "approved", "ops@acme")]
    with pytest.raises(NotFound):
        run(AutopilotControls(FakePilot(KeyError("d2")), here).answer("d2", False, "x"))
    with pytest.raises(Conflict, match="^DecisionNotPending: d3 is approved"):
        run(AutopilotControls(FakePilot(DecisionNotPending("d3 is approved")), here).answer("d3", True, "x"))


class FakeRunner:
    def __init__(self, room=1):
        self.room, self.specs = room, []

    async def submit(self, job_id, kind, request, spec):
        if len(self.specs) >= self.room:
            return None
        self.specs.append(spec)
        return {"id": job_id}

    async def get(self, job_id):
        return None

    def close(self):
        pass


def jobs(tmp_path, runner):
    settings = Settings(data_dir=tmp_path)
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "t.csv").write_text("a,b,c\n")
    return TrainingJobs(settings, runner, Policies(FakeSetting()))


def test_a_job_is_checked_before_it_is_queued_and_refused_when_the_queue_is_full(tmp_path):
    runner = FakeRunner(room=1)
    uc = jobs(tmp_path, runner)
    for args, field in ((("/etc/passwd", "ibm-cos", None), "trace"), (("t.csv", "tarot", None), "format"),
                        (("t.csv", "csv", None), "mapping")):
        with pytest.raises(Invalid) as e:
            run(uc.retrain({}, *args, 720.0, 2048))
        assert e.value.errors[0]["field"] == field
    assert runner.specs == []
    run(uc.whatif({}, "t.csv", "csv", "ts=a,key=b,op=c", 720.0, ["always-hot"]))
    spec = runner.specs[0]
    assert spec.kind == "whatif" and spec.trace.endswith("traces/t.csv") and spec.trace_name == "t.csv"
    with pytest.raises(Busy):
        run(uc.retrain({}, None, None, None, 720.0, 2048))
    with pytest.raises(NotFound):
        run(uc.job("nope"))


def test_a_stored_policy_that_no_longer_parses_is_a_conflict_that_quotes_nothing():
    stored = FakeSetting({"tenants": {"acme": "root:x:0:0"}})  # written by another version, say
    with pytest.raises(Conflict) as e:
        Policies(stored).current()
    assert "root" not in e.value.message
    with pytest.raises(Invalid) as bad:
        Policies(stored).replace({"tenants": {"acme": {"cold": {"min_storage_days": -1}}}}, "admin#k1")
    assert "tenants.acme" in bad.value.message and stored.version == 1  # nothing stored
    assert Policies(stored).replace({"tenants": {}}, "admin#k1")["tenants"] == {}
    assert Policies(stored).current().to_dict()["tenants"] == {} and stored.by == ["admin#k1"]


def test_work_beyond_its_bound_in_flight_is_told_to_come_back_not_queued():
    from tiering.services.admission import Admission

    gate = Admission(max_bytes=100, max_requests=2)
    with gate.admit(60):
        with pytest.raises(Busy) as over_bytes:
            with gate.admit(50):
                pass
        assert over_bytes.value.retry_after_s == 1 and "capacity" in str(over_bytes.value)
        with gate.admit(40):  # 100 bytes: still within
            with pytest.raises(Busy):  # two requests in flight: the request bound
                with gate.admit(0):
                    pass
    with gate.admit(500):  # nothing in flight: a body larger than the whole bound is taken
        pass
    with pytest.raises(RuntimeError):
        with gate.admit(10):
            raise RuntimeError("the request failed")
    assert (gate.bytes, gate.requests) == (0, 0)  # every exit gives its share back


def test_a_reused_idempotency_key_from_a_shard_actor_is_a_conflict_without_its_traceback():
    from tiering.domain.applied_batch import IdempotencyConflict

    class RemoteConflict(IdempotencyConflict):
        """What Ray raises: the actor's exception type, a traceback in its text, the original as ``cause``."""

        def __init__(self):
            super().__init__("ray::ShardActor.ingest() (pid=4242, ip=10.0.0.7) Traceback ...")
            self.cause = IdempotencyConflict("this Idempotency-Key was already used for a different batch")

    class Refusing(FakeIngest):
        async def aingest(self, records, sources=None, *, idempotency_key=None):
            raise RemoteConflict()

    with pytest.raises(Conflict) as err:
        run(IngestRecords(Refusing(), 10)([rec("a")], idempotency_key="k1"))
    assert "already used" in str(err.value)
    assert "pid=" not in str(err.value) and "Traceback" not in str(err.value)
