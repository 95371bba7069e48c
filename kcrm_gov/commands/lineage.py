"""``kcrm-gov lineage``: publish static lineage, show a table's or column's lineage, flush the spool."""

from __future__ import annotations

import json
import sys

import click

from ..errors import KcrmGovError
from .options import handle_errors, json_option, project_from, target_option


@click.group()
def lineage() -> None:
    """OpenLineage: publish the project's lineage, show it, resend spooled events.

    Builds and tests emit run events on their own (lineage/openlineage.yml says where to).
    """


@lineage.command()
@target_option(help="Target whose dataset names to use (default: the default target).")
@json_option("a summary")
@click.pass_context
@handle_errors
def publish(ctx: click.Context, target: str | None, as_json: bool) -> None:
    """Send static lineage for the whole project, without running anything.

    One DatasetEvent per contract (schema, owners, documentation, tags, contract id and version,
    column lineage) and one JobEvent per model (its SQL, inputs and output), so that a catalog
    shows the design before the first run.

    Exit codes: 0 sent, 1 some events could not be delivered (they are spooled), 2 bad configuration.
    """
    from ..lineage.events import EventFactory
    from ..lineage.transport import LineageSink

    project = project_from(ctx)
    sink = LineageSink(project)
    if not sink.enabled:
        raise KcrmGovError(f"lineage is off ({sink.config.describe()}): nothing to publish")
    events = EventFactory(project, project.config.target(target)).static_events()
    for event in events:
        sink.emit(event)
    sink.close()
    datasets = sum(1 for e in events if hasattr(e, "dataset"))
    summary = {"datasets": datasets, "jobs": len(events) - datasets, "sent": sink.sent, "spooled": sink.spooled,
               "transport": sink.config.describe(), "error": sink.down}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(f"published {datasets} datasets and {len(events) - datasets} jobs to {summary['transport']}")
        if sink.spooled:
            click.echo(f"{sink.spooled} events could not be delivered ({sink.down}); they are spooled: "
                       "run `kcrm-gov lineage flush` later", err=True)
    sys.exit(1 if sink.spooled else 0)


@lineage.command()
@json_option("the result")
@click.pass_context
@handle_errors
def flush(ctx: click.Context, as_json: bool) -> None:
    """Resend the events an unreachable endpoint did not take (.kcrm/lineage/spool.jsonl).

    Each delivered event is removed from the spool at once, so none is sent twice. Stops at the
    first failure and keeps the rest.

    Exit codes: 0 the spool is empty, 1 events remain, 2 bad configuration.
    """
    from ..lineage.transport import flush_spool

    project = project_from(ctx)
    result = flush_spool(project)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(f"sent {result.sent} spooled events to {result.transport}; {result.remaining} remain")
        if result.error:
            click.echo(f"stopped: {result.error}", err=True)
    sys.exit(1 if result.remaining else 0)


@lineage.command()
@click.argument("name")
@click.option("--depth", type=click.IntRange(min=1), help="How many hops to follow each way (default: all).")
@click.option("--indirect", is_flag=True, help="Column level: also show INDIRECT sources (conditions, "
              "windows, subquery filters).")
@json_option("the lineage")
@click.pass_context
@handle_errors
def show(ctx: click.Context, name: str, depth: int | None, indirect: bool, as_json: bool) -> None:
    """Upstream and downstream of TABLE (layer.table) or of TABLE.COLUMN.

    Table level follows the models' references; column level follows the column lineage worked out
    from each model's SQL, with how each column is derived (identity, transformation, aggregation).
    """
    from rich.console import Console

    from ..lineage.graph import render_tree, show_lineage

    project = project_from(ctx)
    report = show_lineage(project, name, depth=depth, indirect=indirect)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    console = Console()
    console.print(render_tree(report))
