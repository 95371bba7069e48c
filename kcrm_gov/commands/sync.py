"""``kcrm-gov sync plan|export|push``: reverse-ETL change sets against the state of the last sync."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .options import handle_errors, json_option, project_from, select_only, selected_tables, target_option

if TYPE_CHECKING:
    from ..project import Project
    from ..sync.plan import DestinationPlan


@click.group("sync")
def sync() -> None:
    """Reverse ETL: send each retl table's changes (not a full dump) to its destination.

    A retl table with a `destination` block is compared with the state of the last successful sync,
    kept in the warehouse (schema `sync`, or `<dataset_prefix>sync`), by its row_hash: keys not synced
    yet are inserts, changed hashes updates, keys gone from the table deletes (onDelete: clear, archive
    or keep). Output names keys, counts and fields, never values.
    """


def _plans(project: Project, selectors: tuple[str, ...], target: str | None,
           read_only: bool = True) -> tuple[list[DestinationPlan], object]:
    from ..engines import open_engine
    from ..sync.plan import plan

    tables = selected_tables(project, selectors) if selectors else None
    engine = open_engine(project, target, read_only=read_only)
    try:
        return plan(project, engine, tables), engine
    except BaseException:
        engine.close()
        raise


def _print_plans(plans: list[DestinationPlan], keys: bool) -> None:
    for p in plans:
        c = p.counts()
        click.echo(f"{p.table} -> {p.label} (match key {p.destination.match_key}, onDelete "
                   f"{p.destination.on_delete}): {c['insert']} insert, {c['update']} update, {c['delete']} delete, "
                   f"{c['archive']} archive, {c['unchanged']} unchanged, {c['kept']} kept")
        top = p.top_fields()
        if top:
            click.echo("  fields changed most: " + ", ".join(f"{f} ({n})" for f, n in top))
        if keys:
            for op in ("insert", "update", "delete", "archive"):
                chosen = sorted(ch.key for ch in p.changes if ch.op == op)
                if chosen:
                    click.echo(f"  {op}: {', '.join(chosen)}")
    total = sum(len(p.changes) for p in plans)
    click.echo(f"{len(plans)} destinations, {total} changes")


@sync.command("plan")
@select_only
@target_option()
@click.option("--keys", is_flag=True, help="List the match keys of every change.")
@click.option("--dry-run", is_flag=True, help="Accepted for symmetry: a plan never sends or changes anything.")
@json_option("the change sets (counts, fields changed most and keys)")
@click.pass_context
@handle_errors
def plan_command(ctx: click.Context, selectors: tuple[str, ...], target: str | None, keys: bool, dry_run: bool,
                 as_json: bool) -> None:
    """Print what a push would send: counts per destination and the fields that changed most.

    Exit codes: 0 planned, 1 a table cannot be planned (no row_hash, not built), 2 unusable input.
    """
    plans, engine = _plans(project_from(ctx), selectors, target)
    engine.close()  # type: ignore[attr-defined]
    if as_json:
        click.echo(json.dumps({"destinations": [p.to_dict() for p in plans]}, indent=2))
        return
    _print_plans(plans, keys)


@sync.command("export")
@select_only
@target_option()
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the change set files (one sub-folder per destination, one file a batch).")
@click.option("--dry-run", is_flag=True, help="Print the counts and the files it would write; write nothing.")
@json_option("the files written")
@click.pass_context
@handle_errors
def export_command(ctx: click.Context, selectors: tuple[str, ...], target: str | None, out: Path, dry_run: bool,
                   as_json: bool) -> None:
    """Write the change sets as files: HubSpot CRM v3 batch upsert JSON (100 records a file), Salesforce
    Bulk API 2.0 upsert CSV, Gainsight Company upsert JSON. The state is not changed."""
    from ..sync.plan import export

    plans, engine = _plans(project_from(ctx), selectors, target)
    engine.close()  # type: ignore[attr-defined]
    files = export(plans, out, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps({"dryRun": dry_run, "files": [str(f) for f in files],
                               "destinations": [p.to_dict() for p in plans]}, indent=2))
        return
    _print_plans(plans, keys=False)
    click.echo(f"{len(files)} files {'would be written' if dry_run else 'written'} to {out}")


def _print_dry_run(plans: list[DestinationPlan], preview: dict[str, object]) -> None:
    _print_plans(plans, keys=False)
    entries: list[dict[str, object]] = preview["destinations"]  # type: ignore[assignment]
    for entry in entries:
        batches: list[dict[str, object]] = entry["batches"]  # type: ignore[assignment]
        if batches:
            kinds = sorted({str(b["kind"]) for b in batches})
            click.echo(f"{entry['table']} -> {entry['destination']}: would send {len(batches)} batch(es) "
                       f"({', '.join(kinds)}), {sum(int(str(b['records'])) for b in batches)} records")
    for note in preview["skipped"]:  # type: ignore[attr-defined]
        click.echo(f"skipped: {note}")
    click.echo("dry run: nothing sent, the sync state unchanged")


@sync.command("push")
@select_only
@target_option()
@click.option("--dry-run", is_flag=True,
              help="Print the counts per destination, the fields changed most and the batches push would send; "
                   "send nothing, need no credentials, change no state.")
@json_option("the batches sent")
@click.pass_context
@handle_errors
def push_command(ctx: click.Context, selectors: tuple[str, ...], target: str | None, dry_run: bool,
                 as_json: bool) -> None:
    """Send the change sets (HubSpot through hubspot-api-client, Salesforce through simple-salesforce's
    Bulk API 2.0) and mark each record in the state once the destination acknowledged it.

    Credentials: KCRM_GOV_HUBSPOT_TOKEN (KCRM_GOV_HUBSPOT_BASE_URL), KCRM_GOV_SALESFORCE_INSTANCE_URL and
    KCRM_GOV_SALESFORCE_SESSION_ID. A push that stopped resumes by running it again.

    Exit codes: 0 everything acknowledged, 1 some records failed or a destination gave up, 2 unusable input.
    """
    from ..lineage.events import emit_sync_run, open_emitter
    from ..sync.plan import SyncState
    from ..sync.push import dry_run as preview_push
    from ..sync.push import push

    project = project_from(ctx)
    if dry_run:  # read only: the engine opens read-only and nothing reaches a destination or the lineage log
        plans, engine = _plans(project, selectors, target)
        try:
            preview = preview_push(plans)
        finally:
            engine.close()  # type: ignore[attr-defined]
        if as_json:
            click.echo(json.dumps(preview, indent=2))
        else:
            _print_dry_run(plans, preview)
        return
    chosen = project.config.target(target)

    emitter = open_emitter(project, chosen, command="sync")  # one for the push: its runs share the lineage graph

    def lineage(table: str, records: int, error: str | None) -> None:  # one OpenLineage run per table sent
        emit_sync_run(project, chosen, table, records=records, error=error, emitter=emitter)

    try:
        plans, engine = _plans(project, selectors, target, read_only=False)
        try:
            run = push(plans, SyncState(engine), after_table=lineage)  # type: ignore[arg-type]
        finally:
            engine.close()  # type: ignore[attr-defined]
    finally:
        emitter.sink.close()
    if as_json:
        click.echo(json.dumps(run.to_dict(), indent=2))
    else:
        for b in run.batches:
            click.echo(f"{b.table} -> {b.destination} batch {b.number} ({b.batch_id}): {b.acknowledged}/{b.records} "
                       "acknowledged" + (f", failed keys: {', '.join(b.failed_keys)}" if b.failed_keys else ""))
        for note in run.skipped:
            click.echo(f"skipped: {note}")
        click.echo(f"{len(run.batches)} batches, {sum(b.acknowledged for b in run.batches)} records acknowledged, "
                   f"{run.failed} failed")
    sys.exit(1 if run.failed else 0)
