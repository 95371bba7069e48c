"""``kcrm-gov build``, ``seed`` and ``load``: filling the warehouse, contracts enforced."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import KcrmGovError
from .options import (
    ModelProgress,
    TableProgress,
    exit_after_writing,
    handle_errors,
    json_option,
    project_from,
    select_options,
    target_option,
)


def print_run(run: Any, console: Any) -> None:
    from rich.table import Table

    from ..enforce import format_mismatches

    table = Table(title=f"{run.command} on target '{run.target}' ({run.engine})", title_justify="left")
    columns = [("table", "left"), ("status", "left"), ("rows", "right"), ("seconds", "right")]
    with_bytes = any(m.bytes_processed is not None for m in run.models)  # only engines that know (BigQuery)
    for name, justify in [*columns, *([("bytes processed", "right")] if with_bytes else [])]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    colors = {"success": "green", "error": "red", "skipped": "yellow"}
    for m in run.models:
        cells = [m.table, f"[{colors[m.status]}]{m.status}[/]",
                 "" if m.rows_written is None else f"{m.rows_written:,}", f"{m.seconds:.2f}"]
        if with_bytes:
            cells.append("" if m.bytes_processed is None else f"{m.bytes_processed:,}")
        table.add_row(*cells)
    console.print(table)
    for m in run.models:
        if m.status == "error":
            console.print(f"[red]error[/] {m.table}:", highlight=False)
            if m.mismatches:
                console.print(f"  {m.table} does not match its contract:", highlight=False, soft_wrap=True)
                console.print(format_mismatches(m.mismatches), highlight=False, markup=False, soft_wrap=True)
            else:
                console.print(f"  {m.error}", highlight=False, markup=False, soft_wrap=True)
    counts = run.counts()
    console.print(f"{counts['success']} built, {counts['error']} failed, {counts['skipped']} skipped "
                  f"in {run.seconds:.1f} s", highlight=False)


def print_cost(report: Any, console: Any) -> None:
    """``build --dry-run``: bytes and estimated on-demand cost per model and in total."""
    from rich.table import Table

    from ..workflows import format_bytes

    if not report.priced:
        for m in report.models:
            console.print(f"{m.table:<45} {m.status:<6} {m.error or ''}".rstrip(), highlight=False, markup=False)
        for note in report.notes:
            console.print(note, highlight=False, markup=False, soft_wrap=True)
        return
    table = Table(title=f"dry run on target '{report.target}' ({report.engine}), on demand at "
                        f"${report.price_per_tib:g} per TiB", title_justify="left")
    for name in ("table", "status", "bytes processed", "est. cost (USD)", "inputs' size", "scanned", "window"):
        table.add_column(name, justify="left" if name in ("table", "status", "window") else "right",
                         no_wrap=name != "table")
    for m in report.models:
        fraction = m.scanned_fraction
        window = "window" if m.window_from else ("full" if m.note else "")
        table.add_row(m.table, m.status, "" if m.bytes is None else f"{m.bytes:,}",
                      "" if m.cost_usd is None else f"{m.cost_usd:,.4f}",
                      "" if m.input_bytes is None else f"{m.input_bytes:,}",
                      "" if fraction is None else f"{fraction:.0%}", window)
    total, cost = report.total_bytes or 0, report.total_cost_usd or 0.0
    table.add_row("total", "", f"{total:,}", f"{cost:,.4f}", "", "", "", end_section=True)
    console.print(table)
    console.print(f"{len(report.models)} models would scan {format_bytes(total)} ({total:,} bytes): about "
                  f"${cost:,.4f} on demand. "
                  "\"scanned\" is bytes processed / the full size of the tables the model reads; below 100 % "
                  "the warehouse prunes columns or partitions. An incremental model is priced as the next build "
                  "runs it (\"window\": each source read from its cutoff on).", highlight=False,
                  markup=False, soft_wrap=True)
    for m in report.models:
        if m.window_from:
            console.print(f"{m.table}: incremental, priced by its window: each source read from {m.window_from} on",
                          highlight=False, markup=False, soft_wrap=True)
        elif m.note:
            console.print(f"{m.table}: incremental, {m.note}", highlight=False, markup=False, soft_wrap=True)
    for m in report.models:
        if m.error:
            console.print(f"error {m.table}: {m.error}", highlight=False, markup=False, soft_wrap=True)


@click.command()
@select_options
@target_option()
@click.option("--fail-fast", is_flag=True, help="Stop scheduling models after the first failure.")
@click.option("--threads", type=int, help="Models built at once (default: the target's threads).")
@click.option("--dry-run", is_flag=True, help="Compile every selected model and report the bytes it would "
              "scan and its estimated on-demand cost (BigQuery dry run; the target's price_per_tib), per model "
              "and in total, without building anything; an incremental model is priced by the window the next "
              "build reads (all of it with --full-refresh). DuckDB has no cost model: it only compiles.")
@click.option("--no-seed", is_flag=True, help="Do not seed synthetic sources when the raw layer is empty.")
@click.option("--test", "with_tests", is_flag=True, help="Run each table's quality checks right after it is "
              "built; a table whose checks fail skips its downstream (see `kcrm-gov test`).")
@click.option("--nominal-time", help="The scheduled time of this run (ISO 8601), for the lineage events.")
@click.option("--full-refresh", is_flag=True, help="Rebuild incremental models in full instead of merging their "
              "newest rows (needed after a change to an incremental model's contract columns).")
@json_option("the run results")
@click.pass_context
@handle_errors
def build(ctx: click.Context, selectors: tuple[str, ...], excludes: tuple[str, ...], target: str | None,
          fail_fast: bool, threads: int | None, dry_run: bool, no_seed: bool, with_tests: bool,
          nominal_time: str | None, full_refresh: bool, as_json: bool) -> None:
    """Build the warehouse: run the selected models in DAG order, contracts enforced.

    Each model is compiled from BigQuery SQL for the target's engine, its output compared
    with its contract, built into a temporary table created from the contract's DDL (so
    required columns and primary keys are enforced) and swapped in atomically. A model
    that fails keeps its previous table and its downstream models are skipped.

    On a fresh clone the raw layer is empty: build seeds it with synthetic sources first
    (see `kcrm-gov seed`) unless --no-seed is given. Run results are written to
    .kcrm/build_results.json.

    Exit codes: 0 all models built, 1 any model failed or was skipped, 2 unusable input, a
    warehouse that cannot be reached (no credentials), or run results that could not be written
    (the summary is printed first).
    """
    from rich.console import Console

    from ..artifacts import ArtifactError
    from ..build import build as run_build
    from ..build import write_run_results
    from ..dag import select
    from ..engines import open_engine
    from ..lineage.events import build_lineage, parse_nominal_time
    from ..workflows import dry_run_models, ensure_raw_layer

    console = Console(stderr=as_json)
    try:
        nominal_time = parse_nominal_time(nominal_time) if nominal_time else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--nominal-time") from None
    project = project_from(ctx)
    dag = project.dag.valid()
    tables = select(project, dag, selectors, excludes)
    with open_engine(project, target, building=not dry_run) as engine:
        if dry_run:
            report = dry_run_models(project, engine, tables, full_refresh=full_refresh)
            if as_json:
                click.echo(json.dumps(report.to_dict(), indent=2))
            else:
                print_cost(report, console)
            sys.exit(0 if report.ok else 1)
        if not no_seed:
            note = ensure_raw_layer(project, engine, console, models=tables)
            if note:
                console.print(note, highlight=False, soft_wrap=True)
        gate = None
        if with_tests:
            from ..checks.scan import BuildQualityGate

            gate = BuildQualityGate(project, engine)
        with build_lineage(project, engine, nominal_time=nominal_time) as lineage, \
                ModelProgress(console, len([t for t in tables if t in project.models]), as_json) as listener:
            run = run_build(project, engine, dag, tables, fail_fast=fail_fast, threads=threads or engine.target.threads,
                            listener=lineage.listener(listener), after_build=gate, full_refresh=full_refresh)
            lineage.finish(run)
    unwritten: list[KcrmGovError] = []  # reported after the summary: a run that happened is never lost
    if gate is not None:
        from ..checks.scan import write_test_results

        checked = gate.finish()
        counts = checked.counts()
        try:
            where = str(write_test_results(project, checked).relative_to(project.root))
        except ArtifactError as exc:
            unwritten.append(exc)
            where = "not written"  # the error follows the summary
        run.notes.extend(checked.notes)  # e.g. the clock freshness was measured against
        run.notes.append(f"quality checks of {len(checked.tables)} tables: {counts['pass']} passed, {counts['warn']} "
                         f"warned, {counts['fail']} failed, {counts['error']} errors; results: {where}")
    if as_json:
        click.echo(json.dumps(run.to_dict(), indent=2, default=str))
    else:
        print_run(run, console)
    try:
        path = write_run_results(project, run)
    except ArtifactError as exc:
        unwritten.append(exc)
        path = None
    if not as_json:
        if path is not None:
            console.print(f"run results: {path.relative_to(project.root)}", highlight=False)
        for note in run.notes:
            console.print(note, highlight=False, markup=False)
    exit_after_writing(run.exit_code, unwritten)


@click.command()
@click.option("--scale", type=float, default=1.0, show_default=True,
              help="Multiply the row-bearing tables (not products or owners).")
@click.option("--seed", "seed_value", type=int, default=42, show_default=True,
              help="Random seed: the same seed and scale give the same data, byte for byte.")
@target_option()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write export files into this folder instead of loading the warehouse.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "jsonl", "csv"]), default="parquet",
              show_default=True, help="File format with --out (CSV writes nested GA4 records as JSON text).")
@click.option("--table", "tables", multiple=True, help="Only these raw tables (repeatable).")
@json_option("the tables written")
@click.pass_context
@handle_errors
def seed(ctx: click.Context, scale: float, seed_value: int, target: str | None, out_dir: Path | None, fmt: str,
         tables: tuple[str, ...], as_json: bool) -> None:
    """Generate synthetic GTM source data into every raw table.

    One company (2,000 accounts, 8,000 contacts, 120 owners, 12 products at scale 1) seen
    through HubSpot, GA4, Mixpanel, QuickBooks, Zendesk and the CS tool, with cause and
    effect (fit, risk, trials, expansions: see kcrm_gov.seed.truth) and the mess a real
    loader lands (soft deletes, duplicate companies, rebrands, voided invoices, messy emails,
    local times, late GA4 shards, test accounts). Each table is recreated from its contract
    and replaced all or nothing. Big tables stream in bounded chunks, so memory stays within a
    few GiB at any scale (DuckDB's memory_limit is 1GB while seeding unless the target sets one).
    With --out, writes one file per table instead, as a source export would arrive.
    """
    from rich.console import Console

    from ..seed import seed as run_seed
    from ..seed import seed_to_files

    console = Console(stderr=True)
    project = project_from(ctx)
    with TableProgress(console, "seeding", as_json) as progress:
        if out_dir is not None:
            results = seed_to_files(project, out_dir, fmt, scale=scale, seed=seed_value, progress=progress,
                                    tables=list(tables) or None)
        else:
            from ..engines import open_engine
            from ..seed import SEED_MEMORY_LIMIT

            with open_engine(project, target, building=True, memory_limit=SEED_MEMORY_LIMIT) as engine:
                results = run_seed(project, engine, scale=scale, seed=seed_value, progress=progress,
                                   tables=list(tables) or None)
    if as_json:
        click.echo(json.dumps({"scale": scale, "seed": seed_value, "tables": [r.to_dict() for r in results]},
                              indent=2))
        return
    for r in results:
        where = f"  {r.path}" if r.path else ""
        status = f"skipped: {r.skipped}" if r.skipped else f"{r.rows:>10,} rows  {r.seconds:6.2f} s"
        click.echo(f"{r.table:<40} {status}{where}")
    total = sum(r.rows for r in results)
    click.echo(f"seeded {len([r for r in results if not r.skipped])} raw tables, {total:,} rows "
               f"(scale {scale:g}, seed {seed_value})")


@click.command()
@click.argument("table")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@target_option()
@click.option("--allow-new-columns", is_flag=True,
              help="Load files with columns the contract does not know, recording those columns in the "
                   "quarantine table instead of failing.")
@json_option("the load result")
@click.pass_context
@handle_errors
def load(ctx: click.Context, table: str, files: tuple[Path, ...], target: str | None, allow_new_columns: bool,
         as_json: bool) -> None:
    """Load export files (CSV, JSONL, Parquet) into a raw table, checked against its contract.

    Every row is checked for types, required columns, allowed values and primary-key
    uniqueness (within the files and against the rows already loaded). Valid rows are
    appended; the others go to raw._quarantine with the file, row number, rule broken and
    original values. All or nothing: on any error the raw table is left as it was.

    Exit codes: 0 loaded (even with quarantined rows), 2 unusable input (missing, empty or
    garbled file, unknown table, unknown columns).
    """
    from ..engines import open_engine
    from ..load import load as run_load

    project = project_from(ctx)
    with open_engine(project, target) as engine:
        result = run_load(project, engine, table, list(files), allow_new_columns=allow_new_columns)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    click.echo(f"{result.table}: loaded {result.loaded:,} / quarantined {result.quarantined:,} / "
               f"total {result.total:,}")
    for rule, count in sorted(result.rules.items()):
        click.echo(f"  {rule}: {count:,} rows")
    if result.new_columns:
        click.echo(f"  new columns recorded in {result.quarantine_table}: {', '.join(result.new_columns)}")
    if result.quarantined:
        click.echo(f"  quarantined rows are in {result.quarantine_table} (load_id {result.load_id})")


