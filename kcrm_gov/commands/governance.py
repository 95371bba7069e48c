"""``kcrm-gov diff``, ``kcrm-gov generate codeowners`` and ``kcrm-gov generate airflow-dag``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ._generate import generate
from .options import handle_errors, json_option, project_from, target_option


@click.command("diff")
@click.option("--base", metavar="REF",
              help="Git ref to compare with (default: the merge base of HEAD and main, else origin/main). "
                   "The merge base of HEAD and REF is used, as a pull request compares.")
@json_option("the report")
@click.option("--format", "fmt", type=click.Choice(["markdown", "text"]), default="markdown", show_default=True,
              help="markdown: a pull-request comment; text: one line per change.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the markdown report to this file (e.g. $GITHUB_STEP_SUMMARY).")
@click.option("--no-impact", is_flag=True, help="Skip the downstream impact (faster; version rules only).")
@click.pass_context
@handle_errors
def diff_command(ctx: click.Context, base: str | None, as_json: bool, fmt: str, output: Path | None,
                 no_impact: bool) -> None:
    """Classify every contract and model change since a git ref, and check the version rule.

    Breaking changes (table or column removed or renamed, type narrowed or changed, column made
    required, key changed, allowed values narrowed, classification lowered, PII mark removed,
    SLA loosened on a table others read, quality rule removed) need a major version bump;
    additive ones a minor bump; documentation-only ones a patch. Each breaking change lists the
    downstream tables and columns, reverse-ETL syncs and marts it reaches, and the stewards who
    must approve it.

    Exit codes: 0 version rules met, 1 a version rule broken, 2 unusable input (not a git
    repository, unknown ref, unreadable project).
    """
    from ..governance.diff import diff, to_markdown, to_text

    project = project_from(ctx, strict=False)
    report = diff(project.root, base, impact=not no_impact, head=project)
    markdown = to_markdown(report)
    if output is not None:
        with output.open("a", encoding="utf-8") as handle:
            handle.write(markdown)
    if as_json:
        click.echo(report.to_json())
    else:
        click.echo(markdown if fmt == "markdown" else to_text(report))
    sys.exit(report.exit_code)


@generate.command("codeowners")
@click.option("--check", "check_only", is_flag=True, help="Write nothing; exit 1 with a diff when stale.")
@click.pass_context
@handle_errors
def generate_codeowners_command(ctx: click.Context, check_only: bool) -> None:
    """Write .github/CODEOWNERS: each contract, model and checks file needs its stewards' review.

    Owners are the GitHub handles of the contract's data stewards and its owner team's handle,
    from catalog/teams.yml. `kcrm-gov check` fails when the committed file is stale.

    Exit codes: 0 written (or in sync with --check), 1 stale (--check), 2 unusable input.
    """
    from ..governance.codeowners import stale_codeowners, write_codeowners

    project = project_from(ctx)
    if check_only:
        stale = stale_codeowners(project)
        if stale is not None:
            click.echo(stale.diff, nl=False)
            click.echo(str(stale), err=True)
            sys.exit(1)
        click.echo(".github/CODEOWNERS is in sync")
        return
    path, changed = write_codeowners(project)
    click.echo(f"{'wrote' if changed else 'unchanged'} {path.relative_to(project.root)}")


@generate.command("airflow-dag")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the DAG file (default: stdout).")
@target_option(default="prod", show_default=True, help="Target the tasks build.")
@click.option("--schedule", default="0 5 * * *", show_default=True, help="Cron schedule of the build DAG.")
@click.option("--freshness-schedule", default="0 * * * *", show_default=True,
              help="Cron schedule of the freshness DAG.")
@click.option("--dag-id", default="kcrm_gov_build", show_default=True, help="Id of the build DAG.")
@click.pass_context
@handle_errors
def generate_airflow_dag_command(ctx: click.Context, out: Path | None, target: str, schedule: str,
                                 freshness_schedule: str, dag_id: str) -> None:
    """Write a Cloud Composer / Airflow 2 DAG file: one task per model in DAG order, plus freshness.

    Each task runs `kcrm-gov build --select <table> --target <target>` with a BashOperator; the
    task dependencies are the models' DAG. A second DAG runs `kcrm-gov freshness` on its own
    schedule. The file imports only Airflow, never kcrm_gov, so the scheduler parses it without
    the toolkit installed; the workers need `kcrm-gov` on their PATH.
    """
    from ..governance.airflow import render_airflow_dag

    project = project_from(ctx)
    text = render_airflow_dag(project, target=target, schedule=schedule, freshness_schedule=freshness_schedule,
                              dag_id=dag_id)
    if out is None:
        click.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}", err=True)
