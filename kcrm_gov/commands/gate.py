"""``kcrm-gov lint`` and ``kcrm-gov check``: the contracts' rules, and the gate CI runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..errors import KcrmGovError
from .options import handle_errors, json_option, project_from


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@json_option("the findings")
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
    from ..lint import lint_project

    for path in paths:
        if not path.exists():
            raise KcrmGovError(f"{path}: no such file or folder")
    project = project_from(ctx, strict=False)
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


@click.command()
@click.option("--base", metavar="REF",
              help="Also enforce the version rules of every contract change since REF (a git ref; the merge "
                   "base of HEAD and REF is compared, as a pull request does). See `kcrm-gov diff`.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github", "junit"]), default="text",
              show_default=True, help="text; json; github (workflow annotations on the pull request); "
                                      "junit (a JUnit XML report).")
@click.option("--target", "-t", help="The warehouse whose scan budget (max_bytes_per_model, max_bytes_per_build in "
              "kcrm_gov.yml) the cost step checks with a dry run of every model (default: the default target; "
              "a DuckDB target, or one without a budget or credentials, skips the step with a note).")
@json_option(help="Same as --format json.")
@click.pass_context
@handle_errors
def check(ctx: click.Context, base: str | None, fmt: str, target: str | None, as_json: bool) -> None:
    """The CI gate: run every project check and exit non-zero on any failure.

    Steps: lint (contracts are ODCS v3 and meet the governance rules); compile (every model
    compiles against empty tables made from the contracts, in memory, and its output equals its
    contract); checks (checks/ is what the contracts generate); servers (each contract's servers
    block is what kcrm_gov.yml's targets generate); codeowners (.github/CODEOWNERS names the
    contracts' stewards); with --base, versions (each changed contract carries the version bump
    its changes need); cost (with a BigQuery --target that sets a scan budget: no model scans more
    than it, by a dry run); docs (the generated sections of README.md and docs/ are current).
    Contracts and models are untrusted input here: see docs/governance/security.md.

    Exit codes: 0 passed, 1 a step failed, 2 unusable input (a contract that is not ODCS, an
    unknown --base ref).
    """
    from ..gate import run_gate
    from ..gate.formats import render

    project = project_from(ctx, strict=False)
    from .docs_sections import docs_step

    result = run_gate(project, base=base, final=(docs_step,), target=target)
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


