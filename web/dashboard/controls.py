"""Operator controls. Each one calls a DashboardStore method, which calls
the REST API; nothing here changes state on its own."""

from __future__ import annotations

import pandas as pd
import panel as pn

from tiering.domain.vocabulary import AutopilotMode
from tiering.ingest.traces import FORMATS
from tiering.web.dashboard.store import DashboardStore

MODES = [m.value for m in AutopilotMode]
ALL_TENANTS = "(all tenants)"


def tenant_filter(store: DashboardStore) -> pn.widgets.Select:
    select = pn.widgets.Select(label="Tenant", options=[ALL_TENANTS], value=ALL_TENANTS, width=200)

    def options(event) -> None:
        select.options = [ALL_TENANTS, *event.new]

    async def choose(event) -> None:
        store.tenant = "" if event.new == ALL_TENANTS else event.new
        await store.refresh()

    store.param.watch(options, "tenants")
    select.param.watch(choose, "value")
    return select


def _table(store: DashboardStore, name: str, identity: tuple[str, ...] = (),
           hold_while_selected: bool = False, **kwargs) -> pn.widgets.Tabulator:
    """A table that follows one of the store's frames. Selections are row
    positions; with ``identity`` columns they follow their rows across an
    update, so a refresh never moves a selection onto another row.

    With ``hold_while_selected`` the rows stand still while anything is
    selected, and the newest frame shows once the selection is cleared: an
    operator ticking decisions to approve must not see them jump, and a tick
    the browser sends against rows it rendered must land on those rows."""
    table = pn.widgets.Tabulator(getattr(store, name), disabled=True, show_index=False,
                                 height=300, sizing_mode="stretch_width", **kwargs)
    held: dict[str, pd.DataFrame] = {}

    def show(frame: pd.DataFrame) -> None:
        old = table.value
        chosen = {tuple(old.iloc[i][list(identity)]) for i in table.selection if i < len(old)}
        table.value = frame
        rows = frame[list(identity)].itertuples(index=False, name=None) if identity else []
        table.selection = [i for i, row in enumerate(rows) if tuple(row) in chosen]

    def follow(event) -> None:
        if hold_while_selected and table.selection:
            held["frame"] = event.new
        else:
            show(event.new)

    def release(event) -> None:
        if not event.new and "frame" in held:
            show(held.pop("frame"))

    store.param.watch(follow, name)
    if hold_while_selected:
        table.param.watch(release, "selection")
    return table


def top_objects(store: DashboardStore) -> pn.widgets.Tabulator:
    """Top objects; picking a row drills into that object's history."""
    table = _table(store, "top_objects", ("tenant", "key"), selectable=1, widths={"key": 200})

    async def drill(event) -> None:
        if event.new:
            row = table.value.iloc[event.new[0]]
            await store.show_object(row["key"], row["tenant"])

    table.param.watch(drill, "selection")
    return table


def drill_down(store: DashboardStore) -> pn.Row:
    key = pn.widgets.TextInput(label="Object key", placeholder="key", width=320)
    go = pn.widgets.Button(label="Show history", color="primary", align="end")

    async def show(_event) -> None:
        if key.value.strip():
            await store.show_object(key.value.strip())

    go.on_click(show)
    return pn.Row(key, go)


def autopilot(store: DashboardStore) -> pn.Column:
    """Auto / paused (dry run: decisions recorded, no moves) / approval."""
    mode = pn.widgets.RadioButtonGroup(label="Autopilot", options=MODES, value=None,
                                       color="default", css_classes=["autopilot-mode"])
    run = pn.widgets.Button(label="Run a decision round now", css_classes=["run-round"])
    status = pn.pane.Markdown("autopilot: loading…", css_classes=["autopilot-status"])

    def follow(event) -> None:
        ap = event.new or {}
        if ap.get("mode") in MODES and mode.value != ap["mode"]:
            mode.value = ap["mode"]  # the API's mode; choose() below sees it is no change
        last = ap.get("last_round") or {}
        status.object = (f"autopilot: **{ap.get('mode', '?')}**, policy `{ap.get('policy')}`, "
                         f"model `{ap.get('model_version')}`, {ap.get('rounds', 0)} rounds"
                         + (f"; last: {last.get('decided', 0)} decided, "
                            f"{last.get('published', 0)} published" if last else ""))

    async def choose(event) -> None:
        if event.new and event.new != (store.autopilot or {}).get("mode"):
            await store.set_mode(event.new)

    store.param.watch(follow, "autopilot")
    mode.param.watch(choose, "value")

    async def run_round(_event) -> None:
        await store.run_round()

    run.on_click(run_round)
    return pn.Column(pn.pane.Markdown("#### Autopilot"), mode, run, status)


def decisions(store: DashboardStore) -> pn.Column:
    """Recent decisions with reasons; approve or reject the selected pending ones."""
    table = _table(store, "decisions", ("decision_id",), hold_while_selected=True,
                   selectable="checkbox",
                   widths={"decision_id": 120, "reasons": 420}, css_classes=["decisions-table"])
    approve = pn.widgets.Button(label="Approve selected", color="success")
    reject = pn.widgets.Button(label="Reject selected", color="danger")

    def pending() -> list[str]:
        rows = table.value.iloc[table.selection] if table.selection else pd.DataFrame()
        return [] if rows.empty else list(rows[rows["status"] == "pending"]["decision_id"])

    async def verdict(kind: str) -> None:
        chosen = pending()
        if not chosen:
            store.notice = "select pending decisions first"
        for decision_id in chosen:
            await store.decide(decision_id, kind)
        if chosen:
            table.selection = []  # shows the newest rows, with these answered

    async def approve_selected(_event) -> None:
        await verdict("approve")

    async def reject_selected(_event) -> None:
        await verdict("reject")

    approve.on_click(approve_selected)
    reject.on_click(reject_selected)
    return pn.Column(table, pn.Row(approve, reject), sizing_mode="stretch_width")


LIVE_LOG = "(the live event log)"


def _trace_form(store: DashboardStore, label: str, css: str, live: bool = False):
    """Trace, format and time scale; with ``live`` the live log is the first choice."""
    first = [LIVE_LOG] if live else []
    trace = pn.widgets.Select(label="Trace (data dir/traces)", options=first + store.traces,
                              width=260, css_classes=[f"{css}-trace"])
    fmt = pn.widgets.Select(label="Format", options=list(FORMATS), value="ibm-cos", width=140)
    scale = pn.widgets.FloatInput(label="Time scale", value=720.0, start=0.001, width=120)
    button = pn.widgets.Button(label=label, color="primary", css_classes=[css], align="end")
    store.param.watch(lambda e: setattr(trace, "options", first + e.new), "traces")
    return trace, fmt, scale, button


def jobs_text(jobs: dict) -> str:
    if not jobs:
        return "No jobs yet."
    lines = ["| job | kind | status | detail |", "|---|---|---|---|"]
    for job in jobs.values():
        progress = job.get("progress")
        detail = job.get("version") or job.get("error") or (
            f"{job.get('stage', '')} {progress:.0%}" if progress is not None else "")
        lines.append(f"| `{job['id']}` | {job['kind']} | {job.get('status')} | {detail} |")
    return "\n".join(lines)


def jobs(store: DashboardStore) -> pn.pane.Markdown:
    """Retrain and what-if jobs started here, with their progress."""
    pane = pn.pane.Markdown(jobs_text(store.jobs), css_classes=["jobs"])
    store.param.watch(lambda e: setattr(pane, "object", jobs_text(e.new)), "jobs")
    return pane


def retrain(store: DashboardStore) -> pn.Column:
    """Retrain on the live event log (the default) or on a trace of the data dir."""
    trace, fmt, scale, button = _trace_form(store, "Retrain", "retrain", live=True)

    async def start(_event) -> None:
        chosen = None if trace.value == LIVE_LOG else trace.value
        await store.retrain(chosen, fmt.value, scale.value)

    button.on_click(start)
    return pn.Column(pn.pane.Markdown("#### Retrain the model"), pn.Row(trace, fmt, scale, button))


def whatif(store: DashboardStore) -> pn.Column:
    from tiering.simulation.evaluate import POLICIES

    trace, fmt, scale, button = _trace_form(store, "Run what-if", "run-whatif")
    policies = pn.widgets.MultiChoice(label="Policies (empty: all)", options=list(POLICIES),
                                      width=420)

    async def start(_event) -> None:
        await store.run_whatif(trace.value, fmt.value, scale.value, policies.value)

    button.on_click(start)
    return pn.Column(pn.pane.Markdown("#### What-if evaluation"),
                     pn.Row(trace, fmt, scale, button), policies,
                     _table(store, "whatif", css_classes=["whatif-table"]),
                     sizing_mode="stretch_width")
