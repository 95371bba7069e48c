"""``kcrm-gov generate servers``: each contract's ODCS ``servers`` block, from the targets of kcrm_gov.yml."""

from __future__ import annotations

import click

from ._generate import generate
from .options import handle_errors, json_option, project_from, report_generated, select_only, selected_tables


@generate.command("servers")
@select_only
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; exit 1 listing the contracts whose block is missing or stale, with a diff.")
@json_option("what changed (or is stale)")
@click.pass_context
@handle_errors
def generate_servers_command(ctx: click.Context, selectors: tuple[str, ...], check_only: bool,
                             as_json: bool) -> None:
    """Write the `servers` block of every contract: where its table lives on each target.

    One ODCS server per target of kcrm_gov.yml, named like the target: the DuckDB file and the
    layer's schema for a duckdb target, the project and the layer's dataset for a bigquery target.
    Upstream tools then find the data (`datacontract test --server local`, run from the project
    root after `kcrm-gov build`). The block replaces the contract's `servers:` block, or is
    appended at its end; the rest of the file is kept byte for byte. `kcrm-gov check` fails when
    a block is missing or stale.

    Exit codes: 0 written (or, with --check, all in sync), 1 stale blocks (--check), 2 unusable input.
    """
    from ..governance.servers import stale_servers, write_servers

    project = project_from(ctx)
    tables = selected_tables(project, selectors) if selectors else None
    count = len(tables) if tables is not None else len(project.contracts)
    changed = stale_servers(project, tables) if check_only else write_servers(project, tables)
    report_generated(changed, check_only=check_only, as_json=as_json, count=count, what="contracts",
                     command="kcrm-gov generate servers",
                     record=lambda s: {"path": s.path.as_posix(), "line": s.line, "reason": s.reason, "diff": s.diff},
                     wrote=lambda s: f"wrote {s.path.as_posix()} ({'added' if s.reason == 'missing' else 'updated'} "
                                     "servers block)")
