"""No event stops the read models: one the projector cannot apply is set
aside, with its error, and the events after it are applied."""

from __future__ import annotations

import pytest

from tiering.adapters.eventstore import open_object_logs
from tiering.app.wiring import EventsQuarantined, build_services
from tiering.domain.records import AccessRecord, Op
from tiering.projections.queries import ReadModels
from tiering.projections.runner import ProjectionRunner

pytestmark = pytest.mark.integration


def test_a_poison_event_is_quarantined_and_the_rest_projected(store_settings):
    app = open_object_logs(store_settings.eventstore_env())
    # Written past the API's bounds (an old event, a bug, a hand edit): 2^63 fits no BIGINT.
    app.ingest([AccessRecord(1.0, "acme", "before", Op.PUT, 10)], "b0")
    app.ingest([AccessRecord(2.0, "acme", "poison", Op.PUT, 2**63)], "b1")
    app.ingest([AccessRecord(3.0, "acme", "after", Op.PUT, 20),
                AccessRecord(4.0, "acme", "poison", Op.GET, None)], "b2")
    runner = ProjectionRunner(store_settings)
    try:
        runner.catch_up()
        rm = ReadModels.from_settings(store_settings)
        assert rm.get_object("acme", "before")["size"] == 10 and rm.get_object("acme", "after")["size"] == 20
        assert rm.get_object("acme", "poison") is None
        quarantined = runner.quarantined()
        # The registration, then every later event of that object, which no row now holds.
        assert [q["kind"] for q in quarantined] == ["Registered", "AccessesRecorded", "AccessesRecorded"]
        assert "Overflow" in quarantined[0]["error"] or "out of range" in quarantined[0]["error"]
        assert runner.lag()[0] == runner.lag()[1]  # caught up past them
        services = build_services(store_settings, None)
        with pytest.raises(EventsQuarantined):
            services.health_checks["quarantine"]()
        assert services.quarantined() == len(quarantined)
        services.close()
        runner.rebuild()  # meets them again, and sets them aside again
        assert len(runner.quarantined()) == len(quarantined)
        assert ReadModels.from_settings(store_settings).get_object("acme", "after")["size"] == 20
    finally:
        runner.close()
        app.close()
