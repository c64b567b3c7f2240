"""API answers turned into the pandas frames the views plot: pure functions."""

from __future__ import annotations

from typing import Any

import pandas as pd

TIERS = ("hot", "warm", "cold")
OUTCOMES = ("completed", "in_flight", "failed", "aborted", "abandoned")
HISTORY_COLUMNS = ["time", "event_time", "monthly_cost_usd", "storage_usd_per_month",
                   *(f"{t}_objects" for t in TIERS), *(f"{t}_bytes" for t in TIERS)]
DECISION_COLUMNS = ["decision_id", "tenant", "key", "source", "target", "policy", "score",
                    "reasons", "decided_at", "status"]


def _utc(seconds) -> pd.Series:
    # Whole milliseconds: Bokeh's axes are in ms, and sub-microsecond parts
    # only make pandas warn when HoloViews converts them.
    return pd.to_datetime(pd.Series(seconds, dtype="float64"), unit="s", utc=True).dt.round("ms")


def empty_history() -> pd.DataFrame:
    return history_frame([])


def history_frame(snapshots: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per metric snapshot (wall time), tiers as columns."""
    rows = []
    for s in snapshots:
        m = s["metrics"]
        row = {"time": s["taken_at"], "event_time": s.get("event_time"),
               "monthly_cost_usd": m.get("monthly_cost_usd", 0.0),
               "storage_usd_per_month": (m.get("cost") or {}).get("storage_usd_per_month", 0.0)}
        for t in TIERS:
            tier = (m.get("tiers") or {}).get(t, {})
            row[f"{t}_objects"] = tier.get("objects", 0)
            row[f"{t}_bytes"] = tier.get("bytes", 0)
        rows.append(row)
    df = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    df["time"] = _utc(df["time"])
    return df.astype({c: "float64" for c in HISTORY_COLUMNS[1:]})


def empty_moves() -> pd.DataFrame:
    return moves_frame([])


def moves_frame(items: list[dict[str, Any]]) -> pd.DataFrame:
    """Hours as rows, outcomes as columns (zero where none), for a stacked bar."""
    df = pd.DataFrame(items, columns=["hour", "outcome", "moves"])
    wide = df.pivot_table(index="hour", columns="outcome", values="moves", aggfunc="sum",
                          fill_value=0) if len(df) else pd.DataFrame(index=pd.Index([], name="hour"))
    wide = wide.reindex(columns=list(OUTCOMES), fill_value=0).reset_index()
    wide.columns.name = None
    wide["hour"] = _utc(wide["hour"]).dt.strftime("%m-%d %H:00")
    return wide.astype({o: "int64" for o in OUTCOMES})


def empty_top() -> pd.DataFrame:
    return top_frame([])


def top_frame(items: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(items, columns=["tenant", "key", "tier", "size", "accesses",
                                      "last_access_at"])
    df["last_access_at"] = _utc(df["last_access_at"])
    return df.astype({"tenant": "str", "key": "str", "tier": "str", "size": "int64",
                      "accesses": "int64"})


def empty_decisions() -> pd.DataFrame:
    return decisions_frame([])


def decisions_frame(items: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(items, columns=DECISION_COLUMNS)
    df["reasons"] = pd.Series([", ".join(r) if isinstance(r, list) else (r or "")
                               for r in df["reasons"]], dtype="str", index=df.index)
    df["decided_at"] = _utc(df["decided_at"])
    # Fixed dtypes even when empty: a table picks each column's formatter
    # from the first frame it is given.
    return df.astype({**dict.fromkeys(("decision_id", "tenant", "key", "source", "target",
                                       "policy", "status"), "str"), "score": "float64"})


def empty_importances() -> pd.DataFrame:
    return importances_frame({})


def importances_frame(model: dict[str, Any]) -> pd.DataFrame:
    imp = model.get("feature_importances") or {}
    df = pd.DataFrame({"feature": list(imp), "importance": [float(v) for v in imp.values()]})
    return df.sort_values("importance").reset_index(drop=True)


def empty_object_history() -> pd.DataFrame:
    return object_history_frame([])


def object_history_frame(events: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per event of the object's log: when, what, and its details."""
    df = pd.DataFrame(events, columns=["version", "kind", "at", "recorded_at", "data"])
    df["detail"] = [", ".join(f"{k}={v}" for k, v in (d or {}).items()) for d in df["data"]]
    df["at"] = _utc(df["at"])
    return df.drop(columns=["data"])


def whatif_frame(job: dict[str, Any]) -> pd.DataFrame:
    """A finished what-if job's table: one row per policy, cheapest first."""
    report = job.get("result") or {}
    rows = []
    for name, row in (report.get("policies") or {}).items():
        captured = row.get("savings_captured")
        rows.append({"policy": name, "total_usd": row.get("total_usd"), "moves": row.get("moves"),
                     "savings_captured": None if captured is None else round(captured, 3),
                     "cost_vs_oracle": row.get("cost_vs_oracle"),
                     **{f"{k}_usd": v for k, v in (row.get("breakdown_usd") or {}).items()}})
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).sort_values("total_usd").reset_index(drop=True)


def describe_round(summary: dict[str, Any]) -> str:
    shown = ("mode", "considered", "decided", "published", "took_s", "reason")
    return ", ".join(f"{k} {summary[k]}" for k in shown if k in summary)
