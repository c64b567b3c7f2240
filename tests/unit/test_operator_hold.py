"""An operator's move holds against the autopilot: the object remembers who
moved it where and when, the policy file says for how long, and a decision
against it within that time says why it waits."""

import pytest

from tiering.domain.model import StoredObject
from tiering.domain.policy_config import DecisionConfig, PolicyConfig
from tiering.domain.tiers import Tier
from tiering.shards.decision_round import operator_hold

DAY = 86_400.0


def new_object() -> StoredObject:
    return StoredObject(tenant="acme", key="k", incarnation=0, size=1000, etag="e1", tier="hot", at=100.0,
                        origin="put")


def test_an_operators_request_is_remembered_and_a_policys_is_not():
    obj = new_object()
    obj.request_move("m1", Tier.COLD, "policy says so", 200.0)
    assert obj.operator_move is None
    obj.abort_move("m1", "test", 201.0)
    obj.request_move("m2", Tier.COLD, "keep it cold", 300.0, by="alice#k1")
    assert obj.operator_move == {"target": "cold", "at": 300.0, "by": "alice#k1"}


def test_a_snapshot_from_before_operator_moves_is_upcast():
    state = {"tenant": "acme"}
    StoredObject.upcast_v2_v3(state)
    assert state["operator_move"] is None


def test_the_hold_holds_off_other_tiers_until_it_ends():
    moved = {"target": "cold", "at": 1000.0, "by": "alice#k1"}
    why = operator_hold(moved, "hot", 1000.0 + DAY, 30 * DAY)
    assert why is not None and why.startswith("held: alice#k1 moved it to cold at event time 1000")
    assert "until 2593000" in why
    assert operator_hold(moved, "cold", 1000.0 + DAY, 30 * DAY) is None  # where the operator put it
    assert operator_hold(moved, "hot", 1000.0 + 30 * DAY, 30 * DAY) is None  # the hold is over
    assert operator_hold(moved, "hot", 1000.0, 0.0) is None  # no hold configured
    assert operator_hold(None, "hot", 1000.0, 30 * DAY) is None
    assert operator_hold({**moved, "at": None}, "hot", 1000.0, 30 * DAY) is None  # a step without event time


def test_the_hold_is_set_in_the_policy_file_and_checked():
    assert PolicyConfig.from_dict({}).decisions.operator_hold_days == 30
    config = PolicyConfig.from_dict({"decisions": {"operator_hold_days": 7}})
    assert config.decisions.operator_hold_s == 7 * DAY
    assert PolicyConfig.from_dict(config.to_dict()) == config
    for bad in ({"operator_hold_days": -1}, {"operator_hold_days": "7"}, {"operator_hold_days": True},
                {"hold": 7}, [7]):
        with pytest.raises(ValueError, match="decisions"):
            PolicyConfig.from_dict({"decisions": bad})
    assert DecisionConfig().operator_hold_s == 30 * DAY
