"""``kcrm-gov generate docs``: the README and docs sections written by the program."""

from __future__ import annotations

import click

from ._generate import generate
from .options import handle_errors, json_option, project_from, report_generated


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
    from .docs_sections import SECTIONS, stale_docs, write_docs

    project = project_from(ctx)
    try:
        changed = stale_docs(project) if check_only else write_docs(project)
    except ValueError as exc:  # a marker naming no known section, or an example that no longer applies
        from ..errors import KcrmGovError

        raise KcrmGovError(str(exc)) from None
    report_generated(changed, check_only=check_only, as_json=as_json, count=len(SECTIONS), what="generated sections",
                     command="kcrm-gov generate docs",
                     record=lambda s: {"path": s.path, "sections": list(s.sections), "diff": s.diff},
                     wrote=lambda s: f"wrote {s.path} ({', '.join(s.sections)})")
