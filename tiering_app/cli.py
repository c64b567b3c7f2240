"""The ``tiering`` command line. Errors exit with code 2 and say why."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Iterable, Iterator, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from tiering.domain.clock import stretch
from tiering.domain.records import DEFAULT_TENANT, AccessRecord, RecordError, parse_ts
from tiering.ingest.traces import FORMATS

# The trace formats as a choice, so that help lists them and typer refuses others (exit 2).
MAPPING_HELP = ("csv: ts=COL,key=COL[+COL],op=COL[,size=COL][,op.READ=GET][,ts_unit=ms][,header=no]"
                "[,delimiter=tab][,offset=COL,block_bytes=4096][,offset_unit=sectors][,size_unit=kib]")
TraceFormat = Enum("TraceFormat", {f: f for f in FORMATS}, type=str)  # type: ignore[misc]

app = typer.Typer(help="Event-sourced, ML-assisted storage tiering.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
projections_app = typer.Typer(help="Read models built from the event log.", no_args_is_help=True)
app.add_typer(projections_app, name="projections")
out = Console(soft_wrap=True)  # whole lines, so scripts can grep them
err = Console(stderr=True)


def _show_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        out.print(f"tiering {version('tiering')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Event-sourced, ML-assisted storage tiering."""


def fail(message: str) -> typer.Exit:
    # escaped: a message may quote a file's text or name "[time]", which rich would take for markup
    err.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(2)


def load_settings(**overrides):
    from tiering.config import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        first = e.errors()[0]
        # Named as the user sets it: the environment variable (a cross-field rule has no loc).
        where = f"TIERING_{first['loc'][0]}".upper() if first["loc"] else "settings"
        raise fail(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None


def load_existing_store(**overrides):
    """Settings of a stack that has run. Commands that read its log refuse to
    create an empty store where there is none (and then report "no object")."""
    settings = load_settings(**overrides)
    if not settings.uses_postgres and not settings.sqlite_path.is_file():
        raise fail(f"no event store at {settings.sqlite_path}: run this where the stack ran, or set "
                   "TIERING_DATA_DIR (or TIERING_DATABASE_URL) to its data")
    return settings


@app.command()
def launch(
    produce: Annotated[bool, typer.Option(help="Also run the synthetic producer.")] = False,
    objects: Annotated[int, typer.Option(min=1, help="Producer: number of objects.")] = 100_000,
    rate: Annotated[float, typer.Option(min=0, help="Producer: records per wall second (0 = max).")] = 2_000,
    seed: Annotated[int, typer.Option(help="Producer: random seed.")] = 1,
    port: Annotated[Optional[int], typer.Option(help="REST port (default from settings).")] = None,
    address: Annotated[Optional[str], typer.Option(
        help="Ray cluster to join (host:port, or 'auto' for the one `ray start` made here); "
             "default: TIERING_RAY_ADDRESS, else a Ray of this stack's own.")] = None,
) -> None:
    """Run shards, projection runner, snapshotter and the REST API on Ray.

    Starts a Ray of its own unless told which cluster to join; its actors live
    in a namespace of this deployment's own, so stacks never mix. Ctrl-C shuts
    everything down cleanly.
    """
    from tiering.app.cluster import ForeignActor
    from tiering.app.launch import run
    from tiering.app.stack_lock import StackRunning
    from tiering.devstack._proc import PortInUse

    try:
        run(load_settings(api_port=port, ray_address=address), produce=produce, objects=objects, rate=rate, seed=seed)
    except (PortInUse, StackRunning, ForeignActor) as e:
        raise fail(str(e)) from None
    except ConnectionError as e:  # the cluster it was told to join is not there
        raise fail(f"cannot join the Ray cluster: {e}") from None


def _good_records(items: Iterable, stats, bad_limit: int = 5) -> Iterator[AccessRecord]:
    from tiering.ingest.traces import BadLine

    for item in items:
        if isinstance(item, BadLine):
            stats.bad_lines += 1
            if len(stats.bad_examples) < bad_limit:
                stats.bad_examples.append(f"line {item.line_no}: {item.reason}")
            continue
        yield item


def _run_feed(batches, settings, stats, speed: float, total: int | None, label: str,
              materialize: bool | None = False, read=None) -> None:
    """``total`` records, or, with ``read`` (a trace's ``ReadProgress``), the
    trace file's bytes: the bar shows how much of the file is read."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from tiering.app.client import ApiClient, ApiError
    from tiering.app.feeding import Pacer, feed
    from tiering.app.moves_cli import materializing_post

    client = ApiClient(settings.resolved_api_url, settings.client_key())
    # a replay writes bytes only when asked (--materialize); None is the server's default
    post = materializing_post(client) if materialize else (
        lambda records: client.post_batch(records, materialize=materialize))
    done = (lambda s: s.records) if read is None else (lambda s: read.bytes)  # noqa: E731
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn() if read is None else DownloadColumn(),
               TextColumn("{task.fields[rate]:>9,.0f} rec/s"), TimeElapsedColumn(), TimeRemainingColumn()]
    try:
        with Progress(*columns, console=err, transient=False) as progress:
            task = progress.add_task(label, total=total, rate=0.0)
            feed(batches, post, stats, Pacer(speed),
                 on_batch=lambda s: progress.update(task, completed=done(s), rate=s.rate))
    except ApiError as e:
        raise fail(str(e)) from None
    finally:
        client.close()


def _parse_time(option: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_ts(value)
    except RecordError as e:
        raise fail(f"{option}: {e.reason}") from None


def _stretched(records, scale: float):
    """Event time stretched by ``scale`` around the first record's time."""
    if scale == 1.0:
        yield from records
        return
    from dataclasses import replace

    t0 = None
    for r in records:
        t0 = r.ts if t0 is None else t0
        yield replace(r, ts=stretch(r.ts, t0, scale))


@app.command("replay-trace")
def replay_trace(
    file: Annotated[Path, typer.Argument(help="Trace file to replay.")],
    format: Annotated[TraceFormat, typer.Option("--format", "-f",
                                                help="The trace's format (csv needs --mapping).")],
    speed: Annotated[float, typer.Option(min=0, help="Event-time speed-up (0 = as fast as possible).")] = 0,
    tenant: Annotated[str, typer.Option(help="Tenant for every record.")] = DEFAULT_TENANT,
    mapping: Annotated[Optional[str], typer.Option(help=MAPPING_HELP)] = None,
    lbn_grain: Annotated[int, typer.Option(min=1, help="Block traces: LBNs per object.")] = 1,
    base_time: Annotated[Optional[str], typer.Option(help="Event time that relative trace time 0 maps to.")] = None,
    materialize: Annotated[bool, typer.Option(help="Also write each object's bytes (up to the materialize cap) to the object store.")] = False,
    time_scale: Annotated[float, typer.Option(min=0, help="Stretch event time: seconds of event time per trace second, from the first record (as tiering evaluate --time-scale).")] = 1.0,
) -> None:
    """Feed a real trace through the REST ingest path; bad lines are counted, not fatal."""
    from tiering.app.feeding import FeedStats, batched
    from tiering.ingest.traces import ReadProgress, iter_trace, parse_csv_mapping

    format = TraceFormat(format).value
    if not file.is_file():
        raise fail(f"no such trace file: {file}")
    if format == "csv" and not mapping:
        raise fail("--format csv needs --mapping, e.g. ts=time,key=path,op=method,size=bytes")
    settings = load_settings()
    try:
        csv_mapping = parse_csv_mapping(mapping) if mapping else None
    except ValueError as e:
        raise fail(f"--mapping: {e}") from None
    read = ReadProgress()
    kwargs = {"tenant": tenant, "csv_mapping": csv_mapping, "lbn_grain": lbn_grain, "progress": read}
    if base_time is not None:
        kwargs["base_time"] = _parse_time("--base-time", base_time)
    stats = FeedStats()
    try:
        if time_scale <= 0:
            raise fail("--time-scale must be > 0")
        records = _stretched(_good_records(iter_trace(file, format, **kwargs), stats), time_scale)
        _run_feed(batched(records, settings.ingest_batch_size), settings, stats, speed, file.stat().st_size,
                  f"replay {file.name}", materialize=materialize, read=read)
    except ValueError as e:
        raise fail(_local_error(e)) from None
    out.print(f"replayed [bold]{stats.records:,}[/] records in {stats.batches} batches "
              f"({stats.rate:,.0f} rec/s), {stats.events:,} events written, "
              f"[{'red' if stats.bad_lines else 'green'}]{stats.bad_lines} bad lines[/]")
    for example in stats.bad_examples:
        out.print(f"  bad {escape(example)}")
    if stats.records == 0 and stats.bad_lines:
        raise fail(f"no line of {file.name} is a valid {format} record")


@app.command()
def produce(
    objects: Annotated[int, typer.Option(min=1, help="Number of objects (Zipf popularity).")] = 100_000,
    total: Annotated[int, typer.Option(min=1, help="Records to send.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same load.")] = 1,
    tenants: Annotated[int, typer.Option(min=1, help="Number of tenants.")] = 1,
    speed: Annotated[float, typer.Option(min=0, help="Event-time speed-up (0 = as fast as possible).")] = 0,
    materialize: Annotated[Optional[bool], typer.Option(
        "--materialize/--no-materialize",
        help="Write PUT bytes to the object store; unset leaves it to the API (it writes them "
             "when it has an object store). Writing bytes is far slower than logging accesses.")] = None,
) -> None:
    """Send seeded synthetic load through the REST ingest path."""
    from tiering.app.feeding import FeedStats
    from tiering.ingest.producer import SyntheticProducer

    settings = load_settings()
    producer = SyntheticProducer(objects=objects, seed=seed, tenants=tenants)
    stats = FeedStats()
    _run_feed(producer.batches(settings.ingest_batch_size, total=total), settings, stats, speed,
              total, "produce", materialize=materialize)
    out.print(f"sent {stats.records:,} records ({stats.rate:,.0f} rec/s), {stats.events:,} events")


@app.command("import-bucket")
def import_bucket(
    bucket: Annotated[str, typer.Argument(help="Bucket whose objects to register.")],
    tenant: Annotated[str, typer.Option(help="Tenant for the imported keys.")] = DEFAULT_TENANT,
    prefix: Annotated[str, typer.Option(help="Only object names starting with this.")] = "",
    page: Annotated[int, typer.Option(min=1, max=10_000, help="Objects per API call.")] = 1000,
) -> None:
    """Register objects already in a bucket; their bytes are copied to the tier the log names (hot when new)."""
    from tiering.app.client import ApiClient, ApiError
    from tiering.app.moves_cli import import_bucket as run_import

    settings = load_settings()
    client = ApiClient(settings.resolved_api_url, settings.client_key())
    try:
        totals = run_import(client, bucket, tenant, prefix, page,
                            lambda t: err.print(f"imported {t['imported']:,}", end="\r"))
    except ApiError as e:
        raise fail(str(e)) from None
    finally:
        client.close()
    out.print(f"imported [bold]{totals['imported']:,}[/] objects from {bucket}, "
              f"{totals['events']:,} events, {len(totals['skipped'])} skipped")
    for skipped in totals["skipped"][:10]:
        out.print(f"  skipped {skipped['name']}: {skipped['reason']}")


@projections_app.command("rebuild")
def projections_rebuild(
    force: Annotated[bool, typer.Option("--force", help="Rebuild even while a stack runs on this data dir "
                                                        "(its projection runner then competes).")] = False,
) -> None:
    """Drop every read model and rebuild it from the event log."""
    from tiering.app.admin import rebuild_projections
    from tiering.app.stack_lock import running_stack

    settings = load_existing_store()
    pid = running_stack(settings.data_dir)
    if pid is not None and not force:
        raise fail(f"a stack (pid {pid}) is running on {settings.data_dir}: stop it first, or pass --force")
    rebuild_projections(settings, err)


@app.command()
def audit(
    key: Annotated[Optional[str], typer.Argument(help="Object key.")] = None,
    tenant: Annotated[Optional[str], typer.Option(help=f"Tenant of the key (default {DEFAULT_TENANT}).")] = None,
    at: Annotated[Optional[str], typer.Option(help="Show the state as of this event time (ISO-8601 or epoch s).")] = None,
    incarnation: Annotated[Optional[int], typer.Option(min=0, help="Which incarnation (default: the latest).")] = None,
    actions: Annotated[bool, typer.Option("--actions", help="Show what operators and admins did instead "
                                                            "(of --tenant if given).")] = False,
) -> None:
    """Replay one object's log: its whole history, and its state as of --at."""
    from tiering.app.admin import audit_object

    if actions:
        from tiering.app.keys_cli import show_actions

        return show_actions(tenant)
    if key is None:
        raise fail("name an object KEY, or pass --actions")
    tenant = tenant or DEFAULT_TENANT

    when = _parse_time("--at", at)
    if not audit_object(load_existing_store(), tenant, key, when, incarnation, out):
        raise fail(f"no object {tenant}/{key} in the log")


@app.command()
def evaluate(
    trace: Annotated[Path, typer.Option("--trace", help="Trace file to replay.")],
    format: Annotated[TraceFormat, typer.Option("--format", "-f",
                                                help="The trace's format (csv needs --mapping).")],
    time_scale: Annotated[Optional[float], typer.Option("--time-scale", help="Billing seconds per trace second (720: 1 trace hour = 30 days); instead of --days.")] = None,
    days: Annotated[Optional[float], typer.Option("--days", help="Stretch the trace to span this many billing days (default 180 when no --time-scale is given).")] = None,
    policies: Annotated[Optional[str], typer.Option("--policies", help="Comma-separated policies (default: all).")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the results as JSON here.")] = None,
    mapping: Annotated[Optional[str], typer.Option(help=MAPPING_HELP)] = None,
    lbn_grain: Annotated[int, typer.Option(min=1, help="Block traces: LBNs per object.")] = 2048,
    train_frac: Annotated[float, typer.Option(help="Share of the steps used for training.")] = 0.5,
    policy_file: Annotated[Optional[Path], typer.Option(help="YAML price overrides (defaults and tenant layers apply).")] = None,
) -> None:
    """Replay a trace through the domain and compare tiering policies by cost."""
    from tiering.app.evaluate_cli import run_evaluate

    try:
        if time_scale is not None and days is not None:
            raise ValueError("give --days or --time-scale, not both")
        run_evaluate(trace, TraceFormat(format).value, time_scale, policies, json_out, mapping, lbn_grain, train_frac,
                     policy_file, out, err, days=days if time_scale is not None or days is not None else 180.0)
    except ValueError as e:
        raise fail(_local_error(e)) from None


def _local_error(e: ValueError) -> str:
    """A trace error as the local user may see it: with the file's header,
    which the API never shows."""
    from tiering.ingest.csvmap import CsvHeaderError

    return e.for_file_owner() if isinstance(e, CsvHeaderError) else str(e)


def _add_subcommands() -> None:
    from tiering.app.keys_cli import keys_app
    from tiering.app.quarantine_cli import quarantine_app

    app.add_typer(keys_app, name="keys")
    projections_app.add_typer(quarantine_app, name="quarantine")


_add_subcommands()


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
