"""The ``kcrm-gov`` command line: a thin shell over the library.

Commands parse options, call one library function and print its result; no business
logic lives here. Heavy libraries are imported inside the commands that need them so
that ``kcrm-gov --help`` and ``kcrm-gov lint`` start fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import KcrmGovError


def _fail(exc: KcrmGovError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn kcrm-gov errors into a one-line message and the documented exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KcrmGovError as exc:
            _fail(exc)

    return wrapper


def _project(ctx: click.Context, strict: bool = True):
    from .project import Project

    root = ctx.obj.get("project_dir")
    return Project.load(Path(root) if root else None, strict=strict)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="kcrm-gov")
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), envvar="KCRM_GOV_PROJECT_DIR",
              help="The project folder (default: the nearest folder holding kcrm_gov.yml).")
@click.pass_context
def cli(ctx: click.Context, project_dir: Path | None) -> None:
    """kcrm-gov: data contracts for K CRM's go-to-market warehouse.

    Every table of every layer (raw → stg → core → enr → retl → marts) is defined by an
    ODCS v3 contract under contracts/<layer>/<table>.odcs.yaml. kcrm-gov lints those
    contracts, generates DDL and Soda checks from them, builds the warehouse on DuckDB
    (default) or BigQuery, emits OpenLineage events and publishes the data catalog.

    Exit codes: 0 success, 1 findings or failures, 2 unusable input or configuration.
    """
    ctx.ensure_object(dict)
    if project_dir is not None and not project_dir.is_dir():
        _fail(KcrmGovError(f"project folder {project_dir} does not exist"))
    ctx.obj["project_dir"] = project_dir


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
@handle_errors
def lint(ctx: click.Context, paths: tuple[Path, ...], as_json: bool) -> None:
    """Check contracts against ODCS v3 and the governance rules.

    PATHS limits the check to those contract files or folders (default: all of
    contracts/). Findings print as `path:line:col: RULE-ID message`; the rules are
    explained in docs/governance/rules.md.

    Exit codes: 0 clean, 1 findings, 2 unusable input (a file that is not YAML or not
    ODCS, a path that does not exist).
    """
    from .lint import lint_project

    for path in paths:
        if not path.exists():
            raise KcrmGovError(f"{path}: no such file or folder")
    project = _project(ctx, strict=False)
    report = lint_project(project, [p.resolve() for p in paths] or None)
    if paths and report.contracts_checked == 0 and not report.unusable:
        raise KcrmGovError(f"no contracts (*.odcs.yaml) under {', '.join(map(str, paths))}")
    if as_json:
        click.echo(json.dumps({
            "contracts_checked": report.contracts_checked,
            "exit_code": report.exit_code,
            "findings": [f.to_dict() for f in report.all()],
        }, indent=2))
    else:
        for finding in report.all():
            click.echo(str(finding))
        summary = f"{report.contracts_checked} contracts checked, {len(report.all())} findings"
        click.echo(summary if report.all() else f"{summary}: all clean", err=bool(report.all()))
    sys.exit(report.exit_code)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the gate's results as JSON.")
@click.pass_context
@handle_errors
def check(ctx: click.Context, as_json: bool) -> None:
    """The CI gate: run every project check and exit non-zero on any failure.

    Today it lints every contract (ODCS v3 and governance rules).
    """
    from .gate import run_gate

    project = _project(ctx, strict=False)
    result = run_gate(project)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        for step in result.steps:
            for line in step.details:
                click.echo(line)
        for step in result.steps:
            mark = "ok  " if step.ok else "FAIL"
            click.echo(f"{mark} {step.name}: {step.summary}")
        click.echo("check passed" if result.ok else "check failed", err=not result.ok)
    sys.exit(result.exit_code)


def _print_run(run, console) -> None:
    from rich.table import Table

    from .enforce import format_mismatches

    table = Table(title=f"{run.command} on target '{run.target}' ({run.engine})", title_justify="left")
    for name, justify in (("table", "left"), ("status", "left"), ("rows", "right"), ("seconds", "right"),
                          ("bytes", "right")):
        table.add_column(name, justify=justify)
    colors = {"success": "green", "error": "red", "skipped": "yellow"}
    for m in run.models:
        table.add_row(m.table, f"[{colors[m.status]}]{m.status}[/]",
                      "" if m.rows_written is None else f"{m.rows_written:,}", f"{m.seconds:.2f}",
                      "" if m.bytes_processed is None else f"{m.bytes_processed:,}")
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


@cli.command()
@click.option("--select", "-s", "selectors", multiple=True,
              help="Tables to build, dbt-style: core.accounts, +core.accounts (with upstream), "
                   "stg.hubspot__deals+ (with downstream), layer:core, source:hubspot, tag:pii.")
@click.option("--exclude", "excludes", multiple=True, help="Tables to leave out (same syntax as --select).")
@click.option("--target", "-t", help="Target from kcrm_gov.yml (default: local, or KCRM_GOV_TARGET).")
@click.option("--fail-fast", is_flag=True, help="Stop scheduling models after the first failure.")
@click.option("--threads", type=int, help="Models built at once (default: the target's threads).")
@click.option("--dry-run", is_flag=True, help="Compile every selected model and report the bytes it would "
              "scan (BigQuery), without building anything.")
@click.option("--no-seed", is_flag=True, help="Do not seed synthetic sources when the raw layer is empty.")
@click.option("--json", "as_json", is_flag=True, help="Print the run results as JSON.")
@click.pass_context
@handle_errors
def build(ctx: click.Context, selectors: tuple[str, ...], excludes: tuple[str, ...], target: str | None,
          fail_fast: bool, threads: int | None, dry_run: bool, no_seed: bool, as_json: bool) -> None:
    """Build the warehouse: run the selected models in DAG order, contracts enforced.

    Each model is compiled from BigQuery SQL for the target's engine, its output compared
    with its contract, built into a temporary table created from the contract's DDL (so
    required columns and primary keys are enforced) and swapped in atomically. A model
    that fails keeps its previous table and its downstream models are skipped.

    On a fresh clone the raw layer is empty: build seeds it with synthetic sources first
    (see `kcrm-gov seed`) unless --no-seed is given. Run results are written to
    .kcrm/build_results.json.

    Exit codes: 0 all models built, 1 any model failed or was skipped, 2 unusable input.
    """
    from rich.console import Console

    from .build import build as run_build
    from .build import write_run_results
    from .dag import build_dag, select
    from .engines import open_engine
    from .workflows import dry_run_models, ensure_raw_layer

    console = Console(stderr=as_json)
    project = _project(ctx)
    dag = build_dag(project)
    tables = select(project, dag, selectors, excludes)
    with open_engine(project, target) as engine:
        if dry_run:
            report = dry_run_models(project, engine, tables)
            if as_json:
                click.echo(json.dumps(report, indent=2))
            else:
                for row in report:
                    size = "" if row["bytes"] is None else f"{row['bytes']:,} bytes"
                    click.echo(f"{row['table']:<45} {row['status']:<8} {size} {row.get('error') or ''}".rstrip())
            sys.exit(1 if any(r["status"] != "ok" for r in report) else 0)
        if not no_seed:
            note = ensure_raw_layer(project, engine, console)
            if note:
                console.print(note, highlight=False)
        with _progress(console, len([t for t in tables if t in project.models]), as_json) as listener:
            run = run_build(project, engine, dag, tables, fail_fast=fail_fast,
                            threads=threads or engine.target.threads, listener=listener)
    path = write_run_results(project, run)
    if as_json:
        click.echo(json.dumps(run.to_dict(), indent=2, default=str))
    else:
        _print_run(run, console)
        console.print(f"run results: {path.relative_to(project.root)}", highlight=False)
    sys.exit(run.exit_code)


class _progress:
    """A rich progress display fed by the build's listener (quiet with --json or off a terminal)."""

    def __init__(self, console, total: int, quiet: bool) -> None:
        self.console, self.total, self.quiet = console, total, quiet

    def __enter__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        if self.quiet or not self.console.is_terminal:
            return None
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.console, transient=True)
        self.task = self.progress.add_task("building", total=self.total)
        self.progress.start()
        return self._listen

    def _listen(self, table: str, result) -> None:
        if result is None:
            self.progress.update(self.task, description=f"building {table}")
        else:
            self.progress.advance(self.task)

    def __exit__(self, *exc: object) -> None:
        if getattr(self, "progress", None):
            self.progress.stop()


def main() -> None:
    """Console-script entry point."""
    cli(obj={})


# command modules (kcrm_gov/commands/*.py) add their commands to the group
from .commands import register_all  # noqa: E402

register_all()
