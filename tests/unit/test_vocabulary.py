"""The enumerations are said once, in domain.vocabulary; the one copy that
cannot import them (settings, the leaf below the domain) must agree."""

import typing

from tiering.config import Settings
from tiering.domain.vocabulary import (
    DISPOSITION_STATUS,
    MODE_DISPOSITION,
    MOVE_ENDINGS,
    MOVE_STEPS,
    AutopilotMode,
    DecisionStatus,
    Disposition,
    MoveStatus,
)


def test_settings_take_exactly_the_autopilot_modes():
    annotation = Settings.model_fields["autopilot_mode"].annotation
    assert typing.get_args(annotation) == tuple(m.value for m in AutopilotMode)

def test_every_mode_and_disposition_has_its_status():
    assert set(MODE_DISPOSITION) == set(AutopilotMode)
    assert set(DISPOSITION_STATUS) == set(Disposition)
    assert set(DISPOSITION_STATUS.values()) | {DecisionStatus.APPROVED, DecisionStatus.REJECTED} \
        == set(DecisionStatus)

def test_every_move_step_and_ending_is_a_status():
    assert set(MOVE_STEPS) | set(MOVE_ENDINGS) | {"abandoned"} == {s.value for s in MoveStatus}
