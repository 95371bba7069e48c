"""``kcrm-gov generate lookml``: Looker views and explores for the marts, from the contracts and metrics."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._generate import generate
from .options import handle_errors, json_option, project_from, report_generated, target_option


@generate.command("lookml")
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; exit 1 listing the stale files under lookml/ with a unified diff.")
@json_option("what changed (or is stale)")
@target_option(help="Name the tables on this BigQuery target of kcrm_gov.yml instead of the project's "
              "BigQuery target; needs --out.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write views/ and explores/ under this folder instead of lookml/ (e.g. into a Looker "
                   "project's repository, or for another target).")
@click.pass_context
@handle_errors
def generate_lookml_command(ctx: click.Context, check_only: bool, as_json: bool, target: str | None,
                            out_dir: Path | None) -> None:
    """Write the BI semantic layer for Looker: lookml/views/<table>.view.lkml for every marts table
    and lookml/explores/<table>.explore.lkml for every mart built by a model.

    \b
    A view reads the table on the project's BigQuery target (sql_table_name) and has
      - a dimension per contract column: string, number or yesno from its type, a
        dimension_group of timeframes for a DATE or TIMESTAMP; label = businessName,
        description = the contract's description; `hidden: yes` when the contract marks the
        column sensitive (pii, confidential or restricted);
      - `primary_key: yes` on the key column (a hidden compound `primary_key` dimension for a
        composite or date key);
      - a measure per column a metric of catalog/metrics.yml is bound to (`columns:`),
        aggregated as the metric's `aggregation:` says (sum -> total_<column>, average, max,
        min, count, count_distinct, or a ratio of sums -> overall_<column>), with the metric's
        name as group label, its description, and a value format from its unit.

    The files are committed: `kcrm-gov check` fails when one is stale. Without --out, files whose
    table is gone are removed too. Contract text reaches LookML only as escaped quoted strings.

    Exit codes: 0 written (or, with --check, all in sync), 1 stale files (--check), 2 unusable input.
    """
    from ..bi.lookml import LOOKML_DIR, generate_lookml, stale_lookml, write_lookml

    project = project_from(ctx)
    if target is not None or out_dir is not None:
        if out_dir is None:
            raise click.UsageError(f"{LOOKML_DIR}/ holds the committed LookML of the project's BigQuery target: "
                                   "give --out DIR for another target's")
        if check_only:
            raise click.UsageError(f"--check compares {LOOKML_DIR}/ with the contracts; it takes no --out")
        chosen = project.config.target(target) if target else None
        if chosen is not None and chosen.type != "bigquery":
            raise click.UsageError(f"target '{chosen.name}' is a {chosen.type} target: LookML reads BigQuery")
        files = generate_lookml(project, chosen)
        for rel, text in files.items():
            path = out_dir / rel.relative_to(LOOKML_DIR)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        click.echo(json.dumps({"written": len(files), "out": str(out_dir)}) if as_json
                   else f"wrote {len(files)} LookML files under {out_dir}")
        return
    generated = generate_lookml(project)
    changed = stale_lookml(project, generated) if check_only else write_lookml(project, generated)
    report_generated(changed, check_only=check_only, as_json=as_json, count=len(generated), what="LookML files",
                     command="kcrm-gov generate lookml",
                     record=lambda s: {"path": s.path.as_posix(), "reason": s.reason, "diff": s.diff},
                     wrote=lambda s: f"{'removed' if s.path not in generated else 'wrote'} {s.path.as_posix()}")
