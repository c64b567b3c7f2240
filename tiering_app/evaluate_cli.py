"""Rendering ``tiering evaluate``: argument checks, progress, tables, JSON."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from tiering.simulation.evaluate import POLICIES, Options, evaluate


def run_evaluate(trace: Path, fmt: str, scale: float | None, policies: str | None, json_out: Path | None,
                 mapping: str | None, lbn_grain: int, train_frac: float, policy_file: Path | None,
                 out: Console, err: Console, tenant: str = "default", days: float | None = None) -> dict:
    """ValueError for bad input (the CLI turns it into exit 2)."""
    from tiering.ingest.traces import FORMATS, parse_csv_mapping

    if fmt not in FORMATS:  # the CLI offers only these; other callers may not
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not Path(trace).is_file():
        raise ValueError(f"no such trace file: {trace}")
    if fmt == "csv" and not mapping:
        raise ValueError("--format csv needs --mapping, e.g. ts=time,key=path,op=method,size=bytes")
    if scale is None and days is None:
        raise ValueError("give --days or --time-scale")
    if scale is not None and scale <= 0:
        raise ValueError(f"--time-scale must be > 0, got {scale}")
    if days is not None and not 0 < days <= 36_500:
        raise ValueError(f"--days must be between 0 and 36500, got {days}")
    if not 0 < train_frac < 1:
        raise ValueError(f"--train-frac must be between 0 and 1, got {train_frac}")
    names = [p.strip() for p in policies.split(",") if p.strip()] if policies else list(POLICIES)
    csv_mapping = parse_csv_mapping(mapping) if mapping else None
    model = None
    if policy_file is not None:
        from tiering.adapters.policy_file import load_policy_file

        model = load_policy_file(policy_file).model_for(tenant, "")
    opts = Options(scale=scale or Options.scale, days=days, train_frac=train_frac, lbn_grain=lbn_grain)
    if not err.is_terminal:  # a log, not a bar: a line per stage and per tenth of the replay
        report = evaluate(trace, fmt, opts, names, model, csv_mapping, tenant, ProgressLines(err))
    else:
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      console=err, transient=True) as bar:
            task = bar.add_task("reading trace", total=None)
            report = evaluate(trace, fmt, opts, names, model, csv_mapping, tenant,
                              lambda what, i, n: bar.update(task, description=what, completed=i, total=n))
    render(report, out)
    if json_out is not None:
        Path(json_out).write_text(json.dumps(report, indent=2, default=str))
        out.print(f"wrote {json_out}")
    return report


class ProgressLines:
    """Progress as log lines: each stage once, and the replay every tenth of its steps."""

    def __init__(self, err: Console):
        self.err, self.last = err, ("", -1)

    def __call__(self, what: str, done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if (what, tenth) != self.last and (what != self.last[0] or what == "replay"):
            self.last = (what, tenth)
            self.err.print(f"evaluate: {what} {done}/{total}", highlight=False)


def _plain(v: object) -> str:
    """A value as a person reads it: no Python reprs of dicts and lists."""
    if isinstance(v, dict):
        return "(" + ", ".join(f"{k}={_plain(x)}" for k, x in v.items()) + ")"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_plain(x) for x in v) + "]"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def render(r: dict, out: Console) -> None:
    out.print(f"trace {r['trace']} ({r['format']}): {r['records']:,} records, {r['bad_lines']} bad, "
              f"{r['objects']:,} objects, {r['events']:,} events")
    out.print(f"time scale {r['scale']:g} ({r['scale_note']}); {r['steps']} steps of 1 day; "
              f"train on steps {r['train_steps'][0]}-{r['train_steps'][1] - 1}, "
              f"evaluate on steps {r['eval_steps'][0]}-{r['eval_steps'][1] - 1}")
    cols = ("storage", "requests", "retrieval", "transition", "early_deletion")
    out.print(f"{'policy':24} {'total $':>10} " + " ".join(f"{c:>14}" for c in cols)
              + f" {'moves':>6} {'GET B warm/cold':>15} {'savings':>8} {'x oracle':>8}")
    for name, row in r["policies"].items():
        b = row["breakdown_usd"]
        sc, ratio = row["savings_captured"], row["cost_vs_oracle"]
        out.print(f"{name:24} {row['total_usd']:10.6f} " + " ".join(f"{b[c]:14.6f}" for c in cols)
                  + f" {row['moves']:6d} {row['get_bytes_warm_cold_share']:15.1%} "
                  + ("     n/a" if sc is None else f"{sc:8.1%}")
                  + ("      n/a" if ratio is None else f" {ratio:8.3f}"))
    if "s3_it_bill" in r:
        it = r["s3_it_bill"]
        out.print(f"S3 Intelligent-Tiering at its own prices: ${it['total_usd']:.6f} "
                  f"(incl. monitoring fee ${it['monitoring_fee_usd']:.6f})")
    for note in r.get("degenerate", []):
        out.print(f"[yellow]note[/]: {note}")
    if "ours_training" in r:
        # the per-candidate validation costs are in the JSON; the table gets the gist
        t = {k: v for k, v in r["ours_training"].items() if k != "validation_usd"}
        out.print("ours trained with " + ", ".join(f"{k}={_plain(v)}" for k, v in t.items()))
