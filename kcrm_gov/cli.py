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


def _project(ctx: click.Context, strict: bool = True):  # noqa: ANN202 - Project imported lazily
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


def main() -> None:
    """Console-script entry point."""
    cli(obj={})
