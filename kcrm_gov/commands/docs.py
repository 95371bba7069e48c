"""``kcrm-gov generate docs``: the README and docs sections written by the program."""

from __future__ import annotations

import json
import sys

import click

from ._generate import generate
from .options import handle_errors, json_option, project_from


@generate.command("docs")
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; exit 1 listing the files whose generated sections are stale, with a diff.")
@json_option("what changed (or is stale)")
@click.pass_context
@handle_errors
def generate_docs_command(ctx: click.Context, check_only: bool, as_json: bool) -> None:
    """Rewrite the generated sections of README.md and docs/: the lint rules and contract → check
    tables, and the CLI examples of lint, check and lineage show (run for real on a copy of the
    project). A section sits between `<!-- kcrm-gov:generated NAME -->` and
    `<!-- kcrm-gov:end NAME -->`; `kcrm-gov check` fails when one is stale.

    Exit codes: 0 written (or, with --check, all in sync), 1 stale sections (--check), 2 unusable input.
    """
    from .docs_sections import stale_docs, write_docs

    project = project_from(ctx)
    try:
        changed = stale_docs(project) if check_only else write_docs(project)
    except ValueError as exc:  # a marker naming no known section, or an example that no longer applies
        from ..errors import KcrmGovError

        raise KcrmGovError(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"stale" if check_only else "changed": [
            {"path": s.path, "sections": list(s.sections), "diff": s.diff} for s in changed]}, indent=2))
    elif check_only:
        for item in changed:
            click.echo(item.diff, nl=False)
        for item in changed:
            click.echo(f"stale: {item}", err=True)
        click.echo(f"{len(changed)} files with stale generated sections" if changed else
                   "generated sections in sync", err=bool(changed))
    else:
        for item in changed:
            click.echo(f"wrote {item.path} ({', '.join(item.sections)})")
        click.echo(f"{len(changed)} files changed")
    sys.exit(1 if check_only and changed else 0)
