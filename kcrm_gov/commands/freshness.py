"""``kcrm-gov freshness``: the contracts' freshness SLAs measured on a target."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .options import (
    exit_after_writing,
    handle_errors,
    json_option,
    now_option,
    project_from,
    selected_tables,
    target_option,
)


@click.command("freshness")
@click.option("--select", "-s", "selectors", multiple=True,
              help="Tables, dbt-style: raw.ga4__events, layer:raw, source:hubspot (default: every contract "
                   "with a freshness SLA).")
@target_option()
@now_option
@json_option("the results")
@click.pass_context
@handle_errors
def freshness_command(ctx: click.Context, selectors: tuple[str, ...], target: str | None, now_text: str | None,
                      as_json: bool) -> None:
    """Measure each contract's freshness SLA: the age of MAX(element) against warn and breach thresholds.

    warnAfter warns, the SLA value breaches. lateArrivalAllowance extends the breach threshold
    of event-time elements (late rows fill in the past); load-time elements (_loaded_at,
    _fivetran_synced…) keep their thresholds and report the provisional window instead.
    Results go to .kcrm/freshness_results.json (shown by the catalog) and to OpenLineage as
    data-quality assertions.

    Data dated in the future of now (beyond 5 minutes of clock skew) is an error: its age cannot
    be measured. The value of a sensitive element (PII, confidential, restricted) is never shown,
    only its age.

    Exit codes: 0 all fresh, 1 a warning, 2 a breach, an error, a missing or empty table, unusable
    input, a run that could not happen (no warehouse, no credentials) or whose results could not be
    written (the summary is printed first).
    """
    from rich.console import Console
    from rich.table import Table

    from ..artifacts import ArtifactError
    from ..clock import measure_time
    from ..engines import open_engine
    from ..governance.freshness import emit_lineage, evaluate, parse_now, write_results

    now = parse_now(now_text)
    project = project_from(ctx)
    tables = None
    if selectors:
        tables = selected_tables(project, selectors)
    with open_engine(project, target, read_only=True) as engine:
        now, clock_note = measure_time(engine, now)
        run = evaluate(project, engine, tables, now=now)
        if clock_note:
            run.notes.insert(0, clock_note)
        note = emit_lineage(project, engine, run)
    if note:
        run.notes.append(note)
    unwritten: list[ArtifactError] = []  # reported after the summary: a run that happened is never lost

    def write() -> Path | None:
        try:
            return write_results(project, run)
        except ArtifactError as exc:
            unwritten.append(exc)
            return None

    if as_json:
        click.echo(json.dumps(run.to_dict(), indent=2))
        write()
        exit_after_writing(run.exit_code, unwritten)
    console = Console()
    table = Table(title=f"freshness on target '{run.target}' at {run.now}", title_justify="left")
    for name, justify in (("table", "left"), ("status", "left"), ("latest", "left"), ("age", "right"),
                          ("warn / breach", "right"), ("element", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    colors = {"fresh": "green", "warn": "yellow", "breach": "red", "error": "red", "unknown": "dim"}
    for r in run.results:
        limits = f"{r.warn_after_hours:g} / {r.threshold_hours:g} h" if r.warn_after_hours else \
            f"- / {r.threshold_hours:g} h"
        latest = "(sensitive)" if r.latest_hidden else r.latest or ""  # a sensitive element's value is not shown
        table.add_row(r.table, f"[{colors[r.status]}]{r.status}[/]", latest, r.age or "", limits,
                      f"{r.element or 'last modified'} ({r.element_kind})")
    console.print(table)
    for r in run.results:
        if r.status != "fresh":
            console.print(f"{r.contract}:{r.line}: {r.status} {r.table}: {r.message}", highlight=False,
                          markup=False, soft_wrap=True)
    for n in run.notes:
        console.print(f"note: {n}", highlight=False, markup=False, soft_wrap=True)
    c = run.counts()
    path = write()
    console.print(f"{len(run.results)} tables: {c['fresh']} fresh, {c['warn']} warn, {c['breach']} breach, "
                  f"{c['error']} error, {c['unknown']} unknown"
                  + (f"; results: {path.relative_to(project.root)}" if path is not None else ""), highlight=False)
    exit_after_writing(run.exit_code, unwritten)
