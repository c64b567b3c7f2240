"""DashboardStore against our own API in-process.

The read side is real: the Projector writes SQLite read models from a real
(in-memory) object log, and the store reads them through the real
/insights, /metrics, /objects and /ml routers over httpx's ASGI transport.
The operator-control endpoints are a small fake of their contract
(autopilot, decisions, what-if), so these tests do not depend on the
decision runtime.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
import pytest_asyncio
from bokeh.models import Plot
from fastapi import APIRouter, Body, FastAPI, HTTPException, Request
from panel.models.tabulator import DataTabulator

from tests.support.api import issue_key
from tiering.config import Settings
from tiering.domain.application import ObjectLogApplication
from tiering.domain.clock import HOUR_S
from tiering.domain.records import parse_batch
from tiering.domain.tiers import Tier
from tiering.projections import schema
from tiering.projections.db import ReadModelDB
from tiering.projections.projector import Projector
from tiering.projections.queries import ReadModels
from tiering.services.job_runners import InProcessJobRunner
from tiering.web import errors
from tiering.web.dashboard.app import build_page
from tiering.web.dashboard.store import DashboardStore
from tiering.web.dashboard.views import bound_views
from tiering.web.deps import Services
from tiering.web.metrics import ApiMetrics
from tiering.web.routers import insights, metrics, ml, objects, quotas

H = 500_000 * HOUR_S
pytestmark = pytest.mark.asyncio


def rec(ts, key, op, size=None, tenant="acme"):
    return {"ts": ts, "tenant": tenant, "key": key, "op": op, "size": size}


def fake_controls() -> APIRouter:
    """The autopilot/decisions/what-if contract, in memory."""
    router = APIRouter()
    state = {"mode": "auto", "rounds": 0, "decisions": {}}

    def autopilot_body():
        return {"mode": state["mode"], "policy": "ours", "model_version": None,
                "rounds": state["rounds"], "last_round": None}

    @router.get("/autopilot")
    def get_autopilot():
        return autopilot_body()

    @router.put("/autopilot")
    def put_autopilot(body: dict = Body()):
        if body.get("mode") not in ("auto", "paused", "approval"):
            raise HTTPException(422, "bad mode")
        state["mode"] = body["mode"]
        return autopilot_body()

    @router.post("/autopilot/run")
    def run_round():
        state["rounds"] += 1
        status = {"auto": "published", "paused": "dry", "approval": "pending"}[state["mode"]]
        did = f"d{len(state['decisions']) + 1}"
        state["decisions"][did] = {
            "decision_id": did, "tenant": "acme", "key": "big", "source": "hot", "target": "warm",
            "policy": "ours", "score": 0.9, "reasons": ["idle 40 d", "cheaper in warm"],
            "decided_at": H, "status": status}
        return {"event_time": H, "decided": 1, "published": int(status == "published"), "at": H}

    @router.get("/decisions")
    def list_decisions(tenant: str | None = None, limit: int = 50):
        items = [d for d in reversed(state["decisions"].values()) if tenant in (None, d["tenant"])]
        return {"items": items[:limit], "next": None}

    @router.post("/decisions/{decision_id}/{verdict}")
    def decide(decision_id: str, verdict: str):
        d = state["decisions"].get(decision_id)
        if d is None:
            raise HTTPException(404, "unknown decision")
        if d["status"] != "pending":
            raise HTTPException(409, "not pending")
        d["status"] = "approved" if verdict == "approve" else "rejected"
        return {"decision_id": decision_id, "status": d["status"]}

    @router.get("/whatif/traces")
    def traces():
        return {"traces": [{"name": "ibm.txt", "size": 10}]}

    @router.post("/whatif", status_code=202)
    def whatif(request: Request, body: dict = Body()):
        jobs = request.app.state.services.job_runner.table.jobs
        job_id = uuid.uuid4().hex
        report = {"policies": {p: {"total_usd": 2.0 - i, "moves": i, "savings_captured": i / 3,
                                   "cost_vs_oracle": 2.0 - i, "breakdown_usd": {"storage": 1.5 - i}}
                               for i, p in enumerate(body["policies"] or ["ours"])}}
        jobs[job_id] = {"id": job_id, "kind": "whatif", "status": "succeeded", "progress": 1.0,
                        "result": report}
        return {"job_id": job_id}

    router.state = state
    return router


@pytest.fixture
def api(tmp_path):
    log = ObjectLogApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    log.ingest(parse_batch([rec(H, "big", "PUT", 5000), rec(H, "small", "PUT", 10),
                            rec(H, "z", "PUT", 7, tenant="zeta")]), "b1")
    log.ingest(parse_batch([rec(H + 60 + i, "big", "GET") for i in range(4)]
                           + [rec(H + 70, "z", "GET", tenant="zeta")]), "b2")
    log.command("acme", "small", lambda o: o.request_move("m1", Tier.COLD, "idle", H + 100))
    events = [log.mapper.to_domain_event(n)
              for n in log.recorder.select_notifications(start=1, limit=1000)]
    db = ReadModelDB("sqlite", {"path": str(tmp_path / "rm.sqlite")})
    schema.ensure(db)
    with db.transaction():
        Projector().apply(db, Projector.prepare(events))
    rm = ReadModels(db)
    rm.write_snapshot(1000.0)
    app = FastAPI()
    errors.install(app)
    app.state.services = Services(settings=Settings(data_dir=tmp_path), read_models=rm,
                                  metrics=ApiMetrics(), job_runner=InProcessJobRunner())
    controls = fake_controls()
    # The fake first: it stands in for the real what-if and autopilot routes.
    for router in (controls, insights.router, metrics.router, objects.router, ml.router, quotas.router):
        app.include_router(router)
    yield app, rm, controls.state
    db.close()


@pytest_asyncio.fixture
async def store(api):
    app = api[0]
    s = DashboardStore("http://api", token=issue_key(app.state.services),
                       transport=httpx.ASGITransport(app=app))
    yield s
    await s.aclose()


async def test_refresh_fills_every_view_from_the_api(store, api):
    await store.refresh()
    assert store.metrics["objects_total"] == 3 and store.metrics["moves_in_flight"] == 1
    assert store.costs["always_hot_usd_per_month"] > 0
    assert store.costs["ours_usd_per_month"] == pytest.approx(store.metrics["monthly_cost_usd"])
    assert list(store.top_objects[["key", "accesses"]].itertuples(index=False, name=None)) == \
        [("big", 5), ("z", 2), ("small", 1)]
    assert store.moves_per_hour[["hour", "in_flight"]].values.tolist() == [["01-15 08:00", 1]]
    assert store.history["hot_objects"].tolist() == [3.0] and store.tenants == ["acme", "zeta"]
    assert store.autopilot["mode"] == "auto" and store.decisions.empty
    assert store.errors == {"model": "no model trained yet"}
    await store.load_traces()
    assert store.traces == ["ibm.txt"]


async def test_history_is_fetched_incrementally(store, api):
    _, rm, _ = api
    await store.refresh()
    rm.write_snapshot(2000.0)
    await store.refresh()
    assert [t.timestamp() for t in store.history["time"]] == [1000.0, 2000.0]
    await store.refresh()  # nothing new: the frame keeps its two rows
    assert len(store.history) == 2
    rm.write_snapshot(3000.0)
    # A periodic tick while a control's refresh runs must not append twice.
    await asyncio.gather(store.refresh(), store.tick(), store.refresh())
    assert [t.timestamp() for t in store.history["time"]] == [1000.0, 2000.0, 3000.0]


async def test_tenant_filter_scopes_totals_and_tables(store):
    store.tenant = "zeta"
    await store.refresh()
    assert store.metrics["objects_total"] == 1 and store.metrics["tenant"] == "zeta"
    assert store.top_objects["key"].tolist() == ["z"]
    assert store.moves_per_hour.empty


async def test_pause_round_and_approval_go_through_the_api(store, api):
    state = api[2]
    await store.set_mode("paused")
    assert state["mode"] == "paused" and store.autopilot["mode"] == "paused"
    await store.run_round()
    assert store.decisions["status"].tolist() == ["dry"]
    assert store.decisions["reasons"].iloc[0] == "idle 40 d, cheaper in warm"
    await store.set_mode("approval")
    await store.run_round()
    pending = store.decisions[store.decisions["status"] == "pending"]["decision_id"].tolist()
    await store.decide(pending[0], "approve")
    assert state["decisions"][pending[0]]["status"] == "approved"
    assert store.decisions.set_index("decision_id")["status"][pending[0]] == "approved"
    await store.decide(pending[0], "reject")  # no longer pending: the API says 409
    assert "409" in store.notice and state["decisions"][pending[0]]["status"] == "approved"
    await store.set_mode("sideways")
    assert "422" in store.notice and state["mode"] == "approval"


async def test_drill_down_shows_the_objects_log(store):
    await store.show_object("small", "acme")
    assert store.object_ref == ("acme", "small")
    assert store.object_history["kind"].tolist() == ["Registered", "AccessesRecorded",
                                                     "MoveRequested"]
    await store.show_object("nope", "acme")
    assert store.object_history.empty and "404" in store.notice


async def test_whatif_job_fills_its_table(store):
    await store.run_whatif("ibm.txt", "ibm-cos", 720.0, ["always-hot", "ours"])
    await store.poll_jobs()
    (job,) = store.jobs.values()
    assert job["status"] == "succeeded" and job["kind"] == "whatif"
    # Cheapest first, with the cost breakdown as columns.
    assert store.whatif.to_dict("records") == [
        {"policy": "ours", "total_usd": 1.0, "moves": 1, "savings_captured": 0.333,
         "cost_vs_oracle": 1.0, "storage_usd": 0.5},
        {"policy": "always-hot", "total_usd": 2.0, "moves": 0, "savings_captured": 0.0,
         "cost_vs_oracle": 2.0, "storage_usd": 1.5}]


async def test_retrain_sends_a_trace_name_from_the_library_or_none(store, tmp_path):
    await store.retrain("missing.txt", "ibm-cos", 720.0)
    assert "422" in store.notice and "no trace named 'missing.txt'" in store.notice
    assert str(tmp_path) not in store.notice
    assert store.jobs == {}
    await store.retrain(None, "ibm-cos", 360.0)  # the live event log: no trace at all
    (job_id,) = store.jobs
    # Wait the job out: it reads the read models, which teardown closes.
    for _ in range(200):
        await store.poll_jobs()
        if store.jobs[job_id]["status"] in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.05)
    assert store.jobs[job_id]["status"] in ("succeeded", "failed")
    assert store.jobs[job_id]["kind"] == "retrain"
    assert store.jobs[job_id]["request"]["trace"] is None
    assert store.jobs[job_id]["request"]["time_scale"] == 360.0


def rendered_rows(root) -> dict[str, int]:
    """Rows of data behind each titled chart, and behind each table, of a Bokeh tree."""
    out = {}
    for model in root.references():
        if isinstance(model, Plot) and model.title is not None and model.title.text:
            sources = [r.data_source for r in model.renderers if hasattr(r, "data_source")]
            out[model.title.text] = sum(len(next(iter(s.data.values()), [])) for s in sources)
        elif isinstance(model, DataTabulator):
            out.setdefault("tables", []).append(len(next(iter(model.source.data.values()), [])))
    return out


async def test_the_page_renders_charts_with_the_stores_data(api, store):
    shown = bound_views(store)
    assert '<div class="value">0</div>' in shown["overview"].object
    waiting = rendered_rows(build_page(store).get_root())  # before any data: a row of zeros
    assert waiting["Monthly cost over time"] == 2 and waiting["Moves per hour by outcome"] == 5
    await store.refresh()
    # Text panes are updated in place by the refresh.
    assert 'data-figure="objects"><div class="label">objects</div><div class="value">3</div>' \
        in shown["overview"].object
    assert shown["model"].object == "**Model:** no model trained yet"
    api[1].write_snapshot(2000.0)
    await store.refresh()
    page = build_page(store)
    root = page.get_root()
    rows = rendered_rows(root)
    # Two snapshots: two points per line of the cost chart (two lines), and
    # each tier's area is drawn from them; one hour of moves, five outcomes.
    assert rows["Monthly cost over time"] == 4
    assert rows["Tier distribution (objects)"] > 0 and rows["Tier distribution (bytes)"] > 0
    assert rows["Moves per hour by outcome"] == 5
    assert 3 in rows["tables"]  # the top-objects table
    # A new snapshot updates the charts in place: same figures, more rows.
    figures = {m.id for m in root.references() if isinstance(m, Plot)}
    api[1].write_snapshot(3000.0)
    await store.refresh()
    assert rendered_rows(root)["Monthly cost over time"] == 6
    # ...and rescaled: the y axis spans the (tiny) costs, no longer the
    # placeholder's -1.2 to 1.2 around zero.
    cost_plot = next(m for m in root.references() if isinstance(m, Plot) and m.title is not None
                     and m.title.text == "Monthly cost over time")
    assert store.history["monthly_cost_usd"].max() <= cost_plot.y_range.end < 0.01
    assert cost_plot.y_range.start > -0.01
    assert {m.id for m in root.references() if isinstance(m, Plot)} >= figures


async def test_the_decisions_table_holds_still_while_a_decision_is_ticked(store, api):
    from tiering.web.dashboard import controls

    state = api[2]
    await store.set_mode("approval")
    await store.run_round()
    column = controls.decisions(store)
    table = column[0]
    table.selection = [0]
    chosen = table.value.iloc[0]["decision_id"]
    await store.run_round()  # a newer decision arrives while one is ticked
    assert len(store.decisions) == 2
    assert len(table.value) == 1 and table.value.iloc[table.selection[0]]["decision_id"] == chosen
    assert state["decisions"][chosen]["status"] == "pending"
    table.selection = []  # cleared: the newest rows show
    assert len(table.value) == 2 and table.value.iloc[1]["decision_id"] == chosen
