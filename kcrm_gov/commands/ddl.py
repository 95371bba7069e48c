"""`kcrm-gov generate ddl`: the tables' CREATE statements for a target, from the contracts."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._generate import generate
from .options import handle_errors, json_option, project_from, select_only, selected_tables, target_option


@generate.command("ddl")
@target_option(help="Target from kcrm_gov.yml: its engine decides the dialect "
              "(local: DuckDB, prod: BigQuery).")
@select_only
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write one file per table under this folder instead of printing.")
@json_option(help="Print the files as JSON ({path: text}).")
@click.pass_context
@handle_errors
def ddl_command(ctx: click.Context, target: str | None, selectors: tuple[str, ...], out_dir: Path | None,
                as_json: bool) -> None:
    """Generate each table's DDL for the target's engine.

    BigQuery (`--target prod`): CREATE TABLE `project.dataset.table` with NOT NULL, PRIMARY KEY
    and FOREIGN KEY ... NOT ENFORCED, PARTITION BY, CLUSTER BY, table labels and descriptions on
    every column and nested field; plus the `bq` JSON schema with policy tags per classified
    column (DDL cannot attach policy tags). DuckDB (the local default): CREATE TABLE with NOT NULL
    and PRIMARY KEY, and COMMENT ON for descriptions.
    """
    from ..ddl.render import ddl_files

    project = project_from(ctx)
    files = ddl_files(project, project.config.target(target), selected_tables(project, selectors))
    if as_json:
        click.echo(json.dumps({f.path: f.text for f in files}, indent=2))
    elif out_dir is None:
        for f in files:
            if f.path.endswith(".sql"):
                click.echo(f.text)
    else:
        for f in files:
            path = out_dir / f.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f.text)
        click.echo(f"wrote {len(files)} files under {out_dir}")
