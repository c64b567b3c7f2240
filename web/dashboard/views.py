"""Read-only views over a DashboardStore: figures, charts and tables.

Each view is made once and follows the store parameters it shows: charts
are DynamicMaps (an update sends only their data), text panes get new text
from a watcher. A refresh that leaves a parameter unchanged redraws nothing.
Chart titles are stable: the browser tests find charts by them.
"""

from __future__ import annotations

import html

import holoviews as hv
import hvplot.pandas  # noqa: F401 - registers DataFrame.hvplot
import pandas as pd
import panel as pn

from tiering.web.dashboard.frames import OUTCOMES, TIERS
from tiering.web.dashboard.store import DashboardStore

TIER_COLORS = {"hot": "#d62728", "warm": "#ff7f0e", "cold": "#1f77b4"}
OUTCOME_COLORS = {"completed": "#2ca02c", "in_flight": "#9467bd", "failed": "#d62728",
                  "aborted": "#8c564b", "abandoned": "#7f7f7f"}
# Charts rescale as their data changes. Each names its value axis, as
# HoloViews links the axes of equal names (the time axes are linked on purpose).
# (shared_axes=False would unlink them too, but it stops overlays rescaling.)
CHART = dict(height=260, responsive=True, grid=True, framewise=True)
# Canvas, not WebGL: these charts are small, and browsers without a GPU
# (headless ones included) render WebGL slowly in software.
hv.renderer("bokeh").webgl = False


def _usd(v) -> str:
    return "—" if v is None else f"${v:,.2f}"


def _bytes(n) -> str:
    n = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.1f} {unit}"
        n /= 1024
    return ""


CARD_STYLE = ("<style>.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;"
              "border-radius:6px;padding:8px 14px;min-width:150px}.label{color:#666;"
              "font-size:12px}.value{font-size:22px;font-weight:600}</style>")


def overview(metrics: dict, costs: dict) -> str:
    """The headline figures, as HTML cards."""
    rate = metrics.get("move_success_rate")
    cards = [
        ("objects", f"{metrics.get('objects_total', 0):,}"),
        ("bytes", _bytes(metrics.get("bytes_total"))),
        ("monthly cost", _usd(metrics.get("monthly_cost_usd"))),
        ("always hot", _usd(costs.get("always_hot_usd_per_month"))),
        ("S3 Intelligent-Tiering (est.)", _usd(costs.get("intelligent_tiering_usd_per_month"))),
        ("move success rate", "—" if rate is None else f"{rate:.1%}"),
        ("moves in flight", f"{metrics.get('moves_in_flight', 0):,}"),
    ]
    body = "".join(
        f'<div class="card" data-figure="{html.escape(k)}"><div class="label">{html.escape(k)}'
        f'</div><div class="value">{html.escape(v)}</div></div>' for k, v in cards)
    return f'{CARD_STYLE}<div class="cards">{body}</div>'


def _or_placeholder(frame: pd.DataFrame, placeholder: dict) -> pd.DataFrame:
    """HoloViews cannot draw an empty overlay, and a live chart must keep its
    element type: before data arrives it draws one row of zeros."""
    return frame if not frame.empty else pd.DataFrame([placeholder])


def tier_chart(history: pd.DataFrame, measure: str):
    cols = {f"{t}_{measure}": t for t in TIERS}
    data = _or_placeholder(history, {"time": pd.Timestamp.now(tz="UTC"),
                                     **dict.fromkeys(cols, 0.0)})
    data = data[["time", *cols]].rename(columns=cols)
    if measure == "bytes":  # GiB, as storage is billed
        data[list(TIERS)] = data[list(TIERS)] / 2**30
    return data.hvplot.area(
        x="time", y=list(TIERS), stacked=True, title=f"Tier distribution ({measure})", xlabel="",
        ylabel="GiB" if measure == "bytes" else "objects",
        value_label="GiB" if measure == "bytes" else "objects",
        color=[TIER_COLORS[t] for t in TIERS], legend="top_left", **CHART)


def cost_chart(history: pd.DataFrame):
    cols = ["monthly_cost_usd", "storage_usd_per_month"]
    data = _or_placeholder(history, {"time": pd.Timestamp.now(tz="UTC"),
                                     **dict.fromkeys(cols, 0.0)})
    return data.hvplot.line(
        x="time", y=cols, title="Monthly cost over time", color=["#d62728", "#1f77b4"],
        xlabel="", ylabel="USD / month", value_label="USD per month", legend="top_left", **CHART)


def moves_chart(moves: pd.DataFrame):
    data = _or_placeholder(moves, {"hour": "", **dict.fromkeys(OUTCOMES, 0)})
    return data.hvplot.bar(
        x="hour", y=list(OUTCOMES), stacked=True, title="Moves per hour by outcome", xlabel="",
        ylabel="moves", value_label="moves", color=[OUTCOME_COLORS[o] for o in OUTCOMES],
        legend="top_left", rot=45, **CHART)


def importances_chart(importances: pd.DataFrame):
    data = _or_placeholder(importances, {"feature": "(no model yet)", "importance": 0.0})
    return data.hvplot.barh(x="feature", y="importance", title="Feature importances",
                            xlabel="", **CHART)


def model_status(model: dict, errors: dict) -> str:
    if not model:
        return f"**Model:** {errors.get('model', 'loading…')}"
    holdout = model.get("holdout") or {}
    acc = holdout.get("accuracy")
    trained = (model.get("training_range") or {}).get("trace") or "the live event log"
    return (f"**Model version:** `{model.get('version')}`  \n"
            f"holdout accuracy: {'—' if acc is None else f'{acc:.3f}'} over "
            f"{holdout.get('rows', 0):,} rows  \ntrained on: `{trained.rsplit('/', 1)[-1]}`")


def object_timeline(events: pd.DataFrame, ref: tuple[str, str]) -> list:
    tenant, key = ref
    if not key:
        return [pn.pane.Markdown("Pick a row in *Top objects* or type a key to see its history.")]
    if events.empty:
        return [pn.pane.Markdown(f"No history for `{tenant}/{key}`.")]
    chart = events.hvplot.scatter(x="at", y="kind", title=f"History of {tenant}/{key}",
                                  hover_cols=["version", "detail"], size=80, xlabel="",
                                  height=220, responsive=True)
    return [pn.pane.HoloViews(chart, sizing_mode="stretch_width"),
            pn.widgets.Tabulator(events, disabled=True, height=220, show_index=False,
                                 sizing_mode="stretch_width")]


def quota_table(quotas: dict) -> str:
    """The tenant's quotas (GET /quotas): limit and use of each; unlimited ones are left out."""
    rows = [(name, q) for name, q in (quotas.get("quotas") or {}).items() if q["limit"] is not None]
    if not rows:
        return f"quotas of **{quotas.get('tenant', '?')}**: none set (unlimited)"
    fmt = {"bytes": _bytes}
    lines = [f"quotas of **{quotas['tenant']}**", "", "| quota | used | limit |", "|---|---|---|"]
    for name, q in rows:
        show = fmt.get(name, lambda v: f"{v:,}")
        used = "-" if q["used"] is None else show(q["used"])
        lines.append(f"| {name} | {used} | {show(q['limit'])} |")
    return "\n".join(lines)


def errors_line(errors: dict, notice: str) -> str:
    parts = [f"⚠ {k}: {v}" for k, v in sorted(errors.items())]
    return "  \n".join(([notice] if notice else []) + parts)


def _live_chart(fn, *deps) -> pn.pane.HoloViews:
    """A chart whose data updates in place whenever the store parameters it
    depends on change."""
    return pn.pane.HoloViews(hv.DynamicMap(pn.bind(fn, *deps)), sizing_mode="stretch_width")


def _following(store: DashboardStore, pane, render, names: list[str]):
    """``pane`` shows ``render(*params)`` and is updated in place when they change."""
    def show(*_events) -> None:
        value = render(*(getattr(store, n) for n in names))
        if isinstance(pane, pn.Column):
            pane.objects = value
        else:
            pane.object = value

    show()
    store.param.watch(show, names)
    return pane


def bound_views(store: DashboardStore) -> dict[str, pn.viewable.Viewable]:
    """Every read-only view, each following the parameters it shows."""
    p = store.param
    return {
        "overview": _following(store, pn.pane.HTML(sizing_mode="stretch_width"), overview,
                               ["metrics", "costs"]),
        "tier_objects": _live_chart(tier_chart, p.history, "objects"),
        "tier_bytes": _live_chart(tier_chart, p.history, "bytes"),
        "cost": _live_chart(cost_chart, p.history),
        "moves": _live_chart(moves_chart, p.moves_per_hour),
        "importances": _live_chart(importances_chart, p.importances),
        "model": _following(store, pn.pane.Markdown(css_classes=["model-status"]), model_status,
                            ["model", "errors"]),
        "object": _following(store, pn.Column(sizing_mode="stretch_width"), object_timeline,
                             ["object_history", "object_ref"]),
        "notices": _following(store, pn.pane.Markdown(css_classes=["notices"]), errors_line,
                              ["errors", "notice"]),
        "quotas": _following(store, pn.pane.Markdown(css_classes=["quotas"]), quota_table, ["quotas"]),
    }
