"""The dashboard's data store: everything it shows, fetched over the REST API.

Panel's data-store/view split: views only read this object's parameters,
and only this object talks to the API. Every refresh asks for bounded
answers (aggregates, a page of decisions, the top N objects, new metric
snapshots since the last refresh), so its cost does not grow with the
number of objects.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import quote

import httpx
import pandas as pd
import param

from tiering.web.dashboard import frames

ROUND_TIMEOUT_S = 300  # a decision round scores every candidate object
HISTORY_KEPT = 2_000  # snapshots held for the over-time charts
DECISIONS_SHOWN = 50
TOP_OBJECTS = 20
JOB_DONE = ("succeeded", "failed")


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, pd.DataFrame) or isinstance(new, pd.DataFrame):
        return isinstance(old, pd.DataFrame) and isinstance(new, pd.DataFrame) and old.equals(new)
    return old == new


class ApiUnavailable(RuntimeError):
    """The API answered with an error; the message is what it said."""


class DashboardStore(param.Parameterized):
    tenant = param.String(default="", doc="Tenant filter; empty means every tenant.")
    tenants = param.List(default=[])
    metrics = param.Dict(default={}, doc="GET /metrics (or the tenant's totals)")
    costs = param.Dict(default={}, doc="GET /insights/cost-comparison")
    history = param.DataFrame(default=frames.empty_history())
    moves_per_hour = param.DataFrame(default=frames.empty_moves())
    top_objects = param.DataFrame(default=frames.empty_top())
    decisions = param.DataFrame(default=frames.empty_decisions())
    model = param.Dict(default={})
    quotas = param.Dict(default={}, doc="GET /quotas for the tenant shown")
    importances = param.DataFrame(default=frames.empty_importances())
    autopilot = param.Dict(default={})
    traces = param.List(default=[])
    jobs = param.Dict(default={}, doc="job id -> the job as GET /ml/jobs/{id} last showed it")
    whatif = param.DataFrame(default=pd.DataFrame())
    object_ref = param.Tuple(default=("", ""), length=2, doc="(tenant, key) drilled into")
    object_history = param.DataFrame(default=frames.empty_object_history())
    errors = param.Dict(default={}, doc="source -> what went wrong on its last fetch")
    notice = param.String(default="", doc="The outcome of the last operator action")
    refreshed_at = param.Number(default=None, allow_None=True)

    def __init__(self, api_url: str, *, token: str | None = None, who: dict[str, Any] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, **params):
        super().__init__(**params)
        # The signed-in key (GET /whoami); estate-wide reads are made only for
        # a key of all tenants, and never fail for the others. None: all of them.
        self.estate = who is None or who.get("tenant") == "*"
        self.estate_admin = self.estate and (who is None or who.get("role") == "admin")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(base_url=api_url, headers=headers, timeout=15,
                                       transport=transport)
        self._history_since: float | None = None
        self._refreshing = asyncio.Lock()  # refreshes never overlap: history is appended to

    async def aclose(self) -> None:
        await self._http.aclose()

    # ----- HTTP ------------------------------------------------------------
    async def _call(self, method: str, path: str, **kwargs) -> Any:
        r = await self._http.request(method, path, **kwargs)
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise ApiUnavailable(f"{method} {path}: {r.status_code} {detail}")
        return r.json()

    def _scope(self, **params) -> dict[str, Any]:
        if self.tenant:
            params["tenant"] = self.tenant
        return params

    async def _fetch(self, errors: dict[str, str], name: str, path: str, **params) -> Any:
        """One read; a failure is noted in ``errors`` under ``name``, and the
        view keeps showing the data it had."""
        try:
            body = await self._call("GET", path, params=params)
        except (httpx.HTTPError, ApiUnavailable) as e:
            errors[name] = str(e) or type(e).__name__
            return None
        errors.pop(name, None)
        return body

    # ----- reads -------------------------------------------------------------
    async def tick(self) -> None:
        """The periodic refresh; skipped while one is still running."""
        if not self._refreshing.locked():
            await self.refresh()

    async def refresh(self) -> None:
        async with self._refreshing:
            await self._refresh()

    async def _refresh(self) -> None:
        """Everything the views show, in one round of concurrent bounded reads."""
        # A new dict each time: one already set on the parameter is never
        # changed in place, or the views would not hear of the change.
        errors = dict(self.errors)
        names = ("overview", "history", "moves", "top", "decisions", "model", "autopilot",
                 "tenants", "quotas")
        since = {"since": self._history_since} if self._history_since is not None else {}
        async def nothing() -> None:
            return None

        estate = self._fetch if self.estate else lambda *_a, **_k: nothing()
        results = await asyncio.gather(
            self._fetch(errors, "overview", "/insights/overview", **self._scope()),
            estate(errors, "history", "/metrics/history", limit=500, **since),
            self._fetch(errors, "moves", "/insights/moves-per-hour", **self._scope(hours=48)),
            self._fetch(errors, "top", "/insights/top-objects", **self._scope(limit=TOP_OBJECTS)),
            self._fetch(errors, "decisions", "/decisions", **self._scope(limit=DECISIONS_SHOWN)),
            self._fetch(errors, "model", "/ml/model"),
            estate(errors, "autopilot", "/autopilot"),
            self._fetch(errors, "tenants", "/insights/tenants"),
            self._fetch(errors, "quotas", "/quotas", **self._scope()))
        got = dict(zip(names, results))
        updates: dict[str, Any] = {}
        if got["overview"] is not None:
            updates.update(metrics=got["overview"]["metrics"], costs=got["overview"]["cost"])
        if got["history"] is not None and got["history"]["snapshots"]:
            snaps = got["history"]["snapshots"]
            self._history_since = snaps[-1]["taken_at"]
            fresh = frames.history_frame(snaps)
            kept = pd.concat([self.history, fresh], ignore_index=True) if len(self.history) else fresh
            kept = kept.drop_duplicates("time", keep="last")  # stacking needs unique times
            updates["history"] = kept.tail(HISTORY_KEPT).reset_index(drop=True)
        if got["moves"] is not None:
            updates["moves_per_hour"] = frames.moves_frame(got["moves"]["items"])
        if got["top"] is not None:
            updates["top_objects"] = frames.top_frame(got["top"]["items"])
        if got["decisions"] is not None:
            updates["decisions"] = frames.decisions_frame(got["decisions"]["items"])
        if got["model"] is not None:
            updates.update(model=got["model"],
                           importances=frames.importances_frame(got["model"]))
        elif "404" in errors.get("model", ""):
            errors["model"] = "no model trained yet"
        if got["autopilot"] is not None:
            updates["autopilot"] = got["autopilot"]
        if got["tenants"] is not None:
            updates["tenants"] = got["tenants"]["tenants"]
        if got["quotas"] is not None:
            updates["quotas"] = got["quotas"]
        await self.poll_jobs(apply=False, into=updates)
        # Unchanged data is not set again, so views redraw only what moved.
        updates = {k: v for k, v in updates.items() if not _same(getattr(self, k), v)}
        self.param.update(errors=errors, refreshed_at=time.time(), **updates)

    async def load_traces(self) -> None:
        if not self.estate_admin:  # the trace library is an admin's
            return
        async with self._refreshing:  # errors are read and set whole, one writer at a time
            errors = dict(self.errors)
            body = await self._fetch(errors, "traces", "/whatif/traces")
            self.param.update(errors=errors,
                              **({"traces": [t["name"] for t in body["traces"]]} if body else {}))

    async def show_object(self, key: str, tenant: str | None = None) -> None:
        """The drill-down: one object's history from its log's read model."""
        tenant = tenant or self.tenant or "default"
        try:
            body = await self._call("GET", f"/objects/{quote(key, safe='/')}/history",
                                    params={"tenant": tenant})
        except (httpx.HTTPError, ApiUnavailable) as e:
            self.param.update(object_ref=(tenant, key), notice=f"drill-down: {e}",
                              object_history=frames.empty_object_history())
            return
        self.param.update(object_ref=(tenant, key),
                          object_history=frames.object_history_frame(body["events"]))

    # ----- controls (every one a REST call) ---------------------------------
    async def _act(self, label: str, method: str, path: str, **kwargs) -> Any:
        try:
            body = await self._call(method, path, **kwargs)
        except (httpx.HTTPError, ApiUnavailable) as e:
            self.notice = f"{label} failed: {e}"
            return None
        self.notice = f"{label}: done"
        return body

    async def set_mode(self, mode: str) -> None:
        body = await self._act(f"autopilot {mode}", "PUT", "/autopilot", json={"mode": mode})
        if body is not None:
            self.autopilot = body

    async def run_round(self) -> None:
        self.notice = "decision round: running…"
        body = await self._act("decision round", "POST", "/autopilot/run", timeout=ROUND_TIMEOUT_S)
        if body is not None:
            self.notice = f"decision round: {frames.describe_round(body)}"
            await self.refresh()

    async def decide(self, decision_id: str, verdict: str) -> None:
        """Approve or reject one pending decision."""
        body = await self._act(f"{verdict} {decision_id}", "POST",
                               f"/decisions/{quote(decision_id, safe='')}/{verdict}")
        if body is not None:
            await self.refresh()

    async def retrain(self, trace: str | None, fmt: str, time_scale: float) -> None:
        """Train on a trace of the trace library, by name, or (``trace`` None) on the live log."""
        body: dict[str, Any] = {"time_scale": time_scale}
        if trace:
            body.update(trace=trace, format=fmt)
        started = await self._act("retrain", "POST", "/ml/retrain", json=body)
        if started is not None:
            job_id = started.get("job_id") or started["id"]
            self.jobs = {**self.jobs, job_id: {"id": job_id, "kind": "retrain", **started}}

    async def run_whatif(self, trace: str, fmt: str, time_scale: float,
                         policies: list[str] | None) -> None:
        body = await self._act("what-if", "POST", "/whatif", json={
            "trace": trace, "format": fmt, "time_scale": time_scale, "policies": policies or None})
        if body is not None:
            job_id = body.get("job_id") or body["id"]
            self.jobs = {**self.jobs, job_id: {"id": job_id, "kind": "whatif", **body}}

    async def poll_jobs(self, apply: bool = True, into: dict | None = None) -> None:
        """Follow unfinished jobs; a finished what-if fills the results table."""
        jobs = dict(self.jobs)
        updates = into if into is not None else {}
        for job_id, job in self.jobs.items():
            if job.get("status") in JOB_DONE:
                continue
            try:
                now = await self._call("GET", f"/ml/jobs/{job_id}")
            except (httpx.HTTPError, ApiUnavailable) as e:
                jobs[job_id] = {**job, "status": "failed", "error": str(e)}
                continue
            jobs[job_id] = {**job, **now}
            if job["kind"] == "whatif" and now.get("status") == "succeeded":
                updates["whatif"] = frames.whatif_frame(now)
        updates["jobs"] = jobs
        if apply:
            self.param.update(**updates)
