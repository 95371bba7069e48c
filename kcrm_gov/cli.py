"""The ``kcrm-gov`` command line: a thin shell over the library.

Commands parse options, call one library function and print its result; no business
logic lives here. Heavy libraries are imported inside the commands that need them so
that ``kcrm-gov --help`` and ``kcrm-gov lint`` start fast.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn

import click

from . import __version__
from .errors import KcrmGovError


def _fail(exc: KcrmGovError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


def exit_after_writing(exit_code: int, errors: list[KcrmGovError]) -> NoReturn:
    """End a command whose summary is already printed: report the run results that could not be
    written (after the summary, on stderr) and exit with ``exit_code``, at least 2 when any failed."""
    for exc in errors:
        failures = getattr(exc, "failures", None) or [str(exc)]
        click.echo(f"error: could not write the run results: {'; '.join(failures)}", err=True)
    sys.exit(max(exit_code, 2) if errors else exit_code)


def _os_reason(exc: OSError) -> str:
    if not exc.filename or not exc.strerror:
        return str(exc)
    path = Path(exc.filename)
    if isinstance(exc, FileExistsError) and path.exists() and not path.is_dir():
        return f"{path} is a file, not a folder"
    return f"{path}: {exc.strerror}"


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn kcrm-gov errors into a one-line message and the documented exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KcrmGovError as exc:
            _fail(exc)
        except OSError as exc:  # a read-only or full disk, a file where .kcrm/ should be: a message, not a traceback
            _fail(KcrmGovError(_os_reason(exc)))

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
    # google-api-core warns on import that it will drop this Python in future releases: noise around
    # every BigQuery command's own message, and nothing the user of kcrm-gov can act on
    warnings.filterwarnings("ignore", message=r"You are using a Python version .* which Google will stop",
                            category=FutureWarning)
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
        count = len(report.all())
        summary = f"{report.contracts_checked} contracts checked, {count} finding{'' if count == 1 else 's'}"
        click.echo(summary if report.all() else f"{summary}: all clean", err=bool(report.all()))
    sys.exit(report.exit_code)


@cli.command()
@click.option("--base", metavar="REF",
              help="Also enforce the version rules of every contract change since REF (a git ref; the merge "
                   "base of HEAD and REF is compared, as a pull request does). See `kcrm-gov diff`.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github", "junit"]), default="text",
              show_default=True, help="text; json; github (workflow annotations on the pull request); "
                                      "junit (a JUnit XML report).")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.pass_context
@handle_errors
def check(ctx: click.Context, base: str | None, fmt: str, as_json: bool) -> None:
    """The CI gate: run every project check and exit non-zero on any failure.

    Steps: lint (contracts are ODCS v3 and meet the governance rules); compile (every model
    compiles against empty tables made from the contracts, in memory, and its output equals its
    contract); checks (checks/ is what the contracts generate); codeowners (.github/CODEOWNERS
    names the contracts' stewards); and with --base, versions (each changed contract carries the
    version bump its changes need).

    Exit codes: 0 passed, 1 a step failed, 2 unusable input (a contract that is not ODCS, an
    unknown --base ref).
    """
    from .gate import run_gate
    from .governance.formats import render

    project = _project(ctx, strict=False)
    result = run_gate(project, base=base)
    fmt = "json" if as_json else fmt
    text = render(result, fmt)
    if fmt == "text" and not result.ok:
        body, _, verdict = text.rpartition("\n")
        if body:
            click.echo(body)
        click.echo(verdict, err=True)
    else:
        click.echo(text)
    sys.exit(result.exit_code)


def _print_run(run, console) -> None:
    from rich.table import Table

    from .enforce import format_mismatches

    table = Table(title=f"{run.command} on target '{run.target}' ({run.engine})", title_justify="left")
    columns = [("table", "left"), ("status", "left"), ("rows", "right"), ("seconds", "right")]
    with_bytes = any(m.bytes_processed is not None for m in run.models)  # only engines that know (BigQuery)
    for name, justify in [*columns, *([("bytes processed", "right")] if with_bytes else [])]:
        table.add_column(name, justify=justify)
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
@click.option("--test", "with_tests", is_flag=True, help="Run each table's quality checks right after it is "
              "built; a table whose checks fail skips its downstream (see `kcrm-gov test`).")
@click.option("--nominal-time", help="The scheduled time of this run (ISO 8601), for the lineage events.")
@click.option("--json", "as_json", is_flag=True, help="Print the run results as JSON.")
@click.pass_context
@handle_errors
def build(ctx: click.Context, selectors: tuple[str, ...], excludes: tuple[str, ...], target: str | None,
          fail_fast: bool, threads: int | None, dry_run: bool, no_seed: bool, with_tests: bool,
          nominal_time: str | None, as_json: bool) -> None:
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

    from .artifacts import ArtifactError
    from .build import build as run_build
    from .build import write_run_results
    from .dag import build_dag, select
    from .engines import open_engine
    from .lineage.events import build_lineage, parse_nominal_time
    from .workflows import dry_run_models, ensure_raw_layer

    console = Console(stderr=as_json)
    try:
        nominal_time = parse_nominal_time(nominal_time) if nominal_time else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--nominal-time") from None
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
                console.print(note, highlight=False, soft_wrap=True)
        gate = None
        if with_tests:
            from .checks.scan import BuildQualityGate

            gate = BuildQualityGate(project, engine)
        with build_lineage(project, engine, nominal_time=nominal_time) as lineage, \
                _progress(console, len([t for t in tables if t in project.models]), as_json) as listener:
            run = run_build(project, engine, dag, tables, fail_fast=fail_fast, threads=threads or engine.target.threads,
                            listener=lineage.listener(listener), after_build=gate)
            lineage.finish(run)
    unwritten: list[KcrmGovError] = []  # reported after the summary: a run that happened is never lost
    if gate is not None:
        from .checks.scan import write_test_results

        checked = gate.finish()
        counts = checked.counts()
        try:
            where = str(write_test_results(project, checked).relative_to(project.root))
        except ArtifactError as exc:
            unwritten.append(exc)
            where = "not written"  # the error follows the summary
        run.notes.append(f"quality checks of {len(checked.tables)} tables: {counts['pass']} passed, {counts['warn']} "
                         f"warned, {counts['fail']} failed, {counts['error']} errors; results: {where}")
    if as_json:
        click.echo(json.dumps(run.to_dict(), indent=2, default=str))
    else:
        _print_run(run, console)
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

# --- seed and load (synthetic sources, contract-checked raw loading) ------------------------------
class _table_progress:
    """A rich progress bar over tables, fed by ``progress(table, index, count)`` callbacks."""

    def __init__(self, console, verb: str, quiet: bool) -> None:
        self.console, self.verb, self.quiet = console, verb, quiet
        self.progress = None

    def __enter__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        if self.quiet or not self.console.is_terminal:
            return None
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.console, transient=True)
        self.task = self.progress.add_task(self.verb, total=None)
        self.progress.start()
        return self._update

    def _update(self, table: str, index: int, count: int) -> None:
        self.progress.update(self.task, total=count, completed=index,
                             description=f"{self.verb} {table}" if table else self.verb)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


@cli.command()
@click.option("--scale", type=float, default=1.0, show_default=True,
              help="Multiply the row-bearing tables (not products or owners).")
@click.option("--seed", "seed_value", type=int, default=42, show_default=True,
              help="Random seed: the same seed and scale give the same data, byte for byte.")
@click.option("--target", "-t", help="Target from kcrm_gov.yml (default: local, or KCRM_GOV_TARGET).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write export files into this folder instead of loading the warehouse.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "jsonl", "csv"]), default="parquet",
              show_default=True, help="File format with --out (CSV writes nested GA4 records as JSON text).")
@click.option("--table", "tables", multiple=True, help="Only these raw tables (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the tables written as JSON.")
@click.pass_context
@handle_errors
def seed(ctx: click.Context, scale: float, seed_value: int, target: str | None, out_dir: Path | None, fmt: str,
         tables: tuple[str, ...], as_json: bool) -> None:
    """Generate synthetic GTM source data into every raw table.

    One company (2,000 accounts, 8,000 contacts, 120 owners, 12 products at scale 1) seen
    through HubSpot, GA4, Mixpanel, QuickBooks, Zendesk and the CS tool, with the mess a
    real loader lands (re-syncs, soft deletes, messy emails, late GA4 shards, test
    accounts). Each table is recreated from its contract. With --out, writes one file per
    table instead, as a source export would arrive.
    """
    from rich.console import Console

    from .seed import seed as run_seed
    from .seed import seed_to_files

    console = Console(stderr=True)
    project = _project(ctx)
    with _table_progress(console, "seeding", as_json) as progress:
        if out_dir is not None:
            results = seed_to_files(project, out_dir, fmt, scale=scale, seed=seed_value, progress=progress,
                                    tables=list(tables) or None)
        else:
            from .engines import open_engine

            with open_engine(project, target) as engine:
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


@cli.command()
@click.argument("table")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--target", "-t", help="Target from kcrm_gov.yml (default: local, or KCRM_GOV_TARGET).")
@click.option("--allow-new-columns", is_flag=True,
              help="Load files with columns the contract does not know, recording those columns in the "
                   "quarantine table instead of failing.")
@click.option("--json", "as_json", is_flag=True, help="Print the load result as JSON.")
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
    from .engines import open_engine
    from .load import load as run_load

    project = _project(ctx)
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


def main() -> None:
    """Console-script entry point."""
    cli(obj={})


# command modules (kcrm_gov/commands/*.py) add their commands to the group
from .commands import register_all  # noqa: E402

register_all()
