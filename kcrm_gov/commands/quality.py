"""``kcrm-gov generate checks`` and ``kcrm-gov test``: SodaCL from the contracts, run with soda-core."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ._generate import generate
from .options import (
    exit_after_writing,
    handle_errors,
    json_option,
    now_option,
    project_from,
    report_generated,
    select_only,
    select_options,
    selected_tables,
    target_option,
)


@generate.command("checks")
@select_only
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; exit 1 listing the stale files with a unified diff.")
@json_option("what changed (or is stale)")
@target_option(help="Generate for this target of kcrm_gov.yml (its engine's types and "
              "dataset names) instead of the committed local ones; needs --out.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write <layer>/<table>.yml under this folder instead of checks/ (e.g. to run "
                   "`soda scan` on BigQuery with --target prod).")
@click.pass_context
@handle_errors
def generate_checks_command(ctx: click.Context, selectors: tuple[str, ...], check_only: bool,
                            as_json: bool, target: str | None, out_dir: Path | None) -> None:
    """Write checks/<layer>/<table>.yml: SodaCL v3 generated from each contract.

    The files are generated for the project's local (DuckDB) target and committed; `kcrm-gov
    check` fails when one is stale. Without --select, check files whose contract is gone are
    removed too. `--target prod --out DIR` writes the BigQuery variant elsewhere.

    Exit codes: 0 written (or, with --check, all in sync), 1 stale files (--check), 2 unusable input.
    """
    from ..checks import generate_checks, stale_checks, write_checks
    from ..checks.sodacl import CHECKS_DIR

    project = project_from(ctx)
    tables = selected_tables(project, selectors)
    if target is not None or out_dir is not None:
        if out_dir is None:
            raise click.UsageError("checks/ holds the committed checks of the local target: give --out DIR "
                                   "for another target's")
        if check_only:
            raise click.UsageError("--check compares checks/ with the contracts; it takes no --out")
        chosen = project.config.target(target) if target else None
        files = generate_checks(project, chosen.type if chosen else "duckdb", target=chosen, tables=tables)
        for rel, text in files.items():
            path = out_dir / rel.relative_to(CHECKS_DIR)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        click.echo(json.dumps({"written": len(files), "out": str(out_dir)}) if as_json
                   else f"wrote {len(files)} check files under {out_dir}")
        return
    generated = generate_checks(project, "duckdb", tables=tables)
    complete = not selectors
    changed = stale_checks(project, generated, complete=complete) if check_only else \
        write_checks(project, generated, complete=complete)
    report_generated(changed, check_only=check_only, as_json=as_json, count=len(generated), what="check files",
                     command="kcrm-gov generate checks",
                     record=lambda s: {"path": s.path.as_posix(), "reason": s.reason, "diff": s.diff},
                     wrote=lambda s: f"{'removed' if s.path not in generated else 'wrote'} {s.path.as_posix()}")


def sample_columns(available: list[str], wanted: list[str], *, at_least: int = 4) -> list[str]:
    """The sample columns to print: the table's key and the check's columns, in the sample's
    order, topped up with the first others to ``at_least`` (rows of 30 columns do not fit a
    terminal; the JSON results keep them all)."""
    chosen = {name for name in wanted if name in available}
    for name in available:
        if len(chosen) >= at_least:
            break
        chosen.add(name)
    return [name for name in available if name in chosen]


def print_test_run(run: Any, console: Any) -> None:
    """A summary table per table, then the failing checks with their (masked) sample rows."""
    from rich.table import Table

    table = Table(title=f"quality checks on target '{run.target}' ({run.engine})", title_justify="left")
    for name, justify in (("table", "left"), ("outcome", "left"), ("pass", "right"), ("warn", "right"),
                          ("fail", "right"), ("error", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    colors = {"pass": "green", "warn": "yellow", "fail": "red", "error": "red"}
    for t in run.tables:
        counts = t.counts()
        table.add_row(t.table, f"[{colors[t.outcome]}]{t.outcome}[/]", str(counts["pass"]), str(counts["warn"]),
                      str(counts["fail"]), str(counts["error"]))
    console.print(table)
    for t in run.tables:
        for error in t.errors:
            console.print(f"[red]error[/] {t.table}: {error}", highlight=False, soft_wrap=True, markup=True)
        for c in t.checks:
            if c.outcome == "pass" or (c.outcome == "error" and t.errors and c.message and
                                       c.message.startswith("Soda did not")):
                continue
            where = f"{t.contract}:{c.line}" if c.line else t.contract
            value = "" if c.value is None else f" (value {c.value})"
            console.print(f"[{colors[c.outcome]}]{c.outcome}[/] {t.table}: {c.name}{value} — {where}",
                          highlight=False, soft_wrap=True)
            if c.message:
                console.print(f"  {c.message}", highlight=False, markup=False, soft_wrap=True)
            if c.samples and getattr(c, "sample_kind", None) == "keys":
                shown = list(c.sample_columns)  # the failed-rows query's own columns: keys only
                console.print(f"  {len(c.samples)} of {c.failed_rows} failed rows (keys only)",
                              highlight=False, soft_wrap=True)
            elif c.samples:
                shown = sample_columns(c.sample_columns, [*t.key_columns, *c.columns])
                more = len(c.sample_columns) - len(shown)
                console.print(f"  {len(c.samples)} of {c.failed_rows} failed rows (PII masked"
                              + (f"; {more} more columns in the JSON results)" if more else ")"),
                              highlight=False, soft_wrap=True)
            if c.samples:
                sample = Table(show_edge=False, pad_edge=False)
                for name in shown:
                    sample.add_column(name, overflow="ellipsis", no_wrap=True, max_width=40)
                positions = [c.sample_columns.index(name) for name in shown]
                for row in c.samples:
                    sample.add_row(*("NULL" if row[i] is None else str(row[i]) for i in positions))
                console.print(sample)
    for note in run.notes:
        console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    counts = run.counts()
    console.print(f"{len(run.tables)} tables: {counts['pass']} checks passed, {counts['warn']} warned, "
                  f"{counts['fail']} failed, {counts['error']} errors in {run.seconds:.1f} s", highlight=False)


@click.command("test")
@select_options
@target_option()
@now_option
@json_option("the results")
@click.pass_context
@handle_errors
def test_command(ctx: click.Context, selectors: tuple[str, ...], excludes: tuple[str, ...], target: str | None,
                 now_text: str | None, as_json: bool) -> None:
    """Run the tables' quality checks (SodaCL generated from the contracts) with soda-core.

    One Soda scan per layer on the target's warehouse (the local DuckDB file, opened read-only,
    or BigQuery), offline: Soda's telemetry is off and nothing is written to your HOME. Failing
    checks show a few sample rows, with the values of PII and confidential columns masked.
    Results go to .kcrm/test_results.json.

    Exit codes: 0 every check passed or only warned, 1 a check failed or could not run,
    2 unusable input, a run that could not happen (no warehouse, no credentials) or whose results
    could not be written (the summary is printed first).
    """
    from rich.console import Console

    from ..artifacts import ArtifactError
    from ..checks.scan import parse_now, run_tests, write_test_results
    from ..clock import measure_time
    from ..engines import open_engine

    now = parse_now(now_text)
    console = Console(stderr=as_json)
    project = project_from(ctx)
    tables = selected_tables(project, selectors, excludes)
    with open_engine(project, target, read_only=True) as engine:
        now, clock_note = measure_time(engine, now)
        run = run_tests(project, engine, tables, now=now)
        if clock_note:
            run.notes.insert(0, clock_note)
    data = json.loads(json.dumps(run.to_dict(), default=str))
    from ..lineage.events import emit_test_runs

    # the test run's own OpenLineage runs, with quality facets; from this run, not from a results file
    # that may be an older run's when this one cannot be written
    emit_test_runs(project, engine.target, data)
    if as_json:
        click.echo(json.dumps(run.to_dict(), indent=2, default=str))
    else:
        print_test_run(run, console)
    unwritten: list[ArtifactError] = []  # reported after the summary: a run that happened is never lost
    try:
        path = write_test_results(project, run)
    except ArtifactError as exc:
        unwritten.append(exc)
    else:
        if not as_json:
            console.print(f"test results: {path.relative_to(project.root)}", highlight=False)
    exit_after_writing(run.exit_code, unwritten)


