"""``kcrm-gov train``: fit a scoring table's propensity model and write its coefficients as data."""

from __future__ import annotations

import json

import click

from .options import handle_errors, json_option, project_from, target_option


@click.command("train")
@click.argument("models", nargs=-1, metavar="[TABLE]...")
@target_option()
@click.option("--dry-run", is_flag=True, help="Fit and report, but write no file.")
@json_option("the fit: coefficients, metrics and files written")
@click.pass_context
@handle_errors
def train_command(ctx: click.Context, models: tuple[str, ...], target: str | None, dry_run: bool,
                  as_json: bool) -> None:
    """Train the propensity model of each scoring TABLE (default: every table whose contract declares
    a propensityModel, e.g. enr.churn_propensity).

    A logistic regression is fitted on the rows of the model's point-in-time features table whose
    label is complete, in TARGET's warehouse (build the features first). The last heldOutMonths
    months are held out: their AUC, top-decile lift and calibration say how the model does on
    months it never saw. The coefficients and those metrics are written to the model's two
    reference tables (models/<layer>/<table>.csv): review them in the pull request, then
    `kcrm-gov build --select <coefficients table>+` scores every row in SQL.

    Exit codes: 0 trained, 1 the data cannot train the model (too few months, one class only), 2
    unusable input (no such table, a malformed propensityModel, no warehouse).
    """
    from rich.console import Console
    from rich.table import Table

    from ..propensity import train
    from ..propensity_spec import propensity_models

    project = project_from(ctx)
    names = list(models) or sorted(propensity_models(project))
    if not names:
        raise click.UsageError("no contract declares a propensityModel: name the scoring table to train")
    results = [train(project, name, target=target, write=not dry_run) for name in names]
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in results], indent=2))
        return
    console = Console(highlight=False)
    for r in results:
        console.print(f"[bold]{r.model}[/bold]: {len(r.spec.inputs)} inputs from {r.spec.features}, "
                      f"trained on {r.trained_from} .. {r.trained_through}, "
                      f"held out {r.tested_from} .. {r.tested_through}")
        table = Table("", "train", "held out", show_edge=False)
        for metric, fmt in (("rows", "{:,.0f}"), ("positives", "{:,.0f}"), ("base_rate", "{:.1%}"),
                            ("auc", "{:.3f}"), ("top_decile_rate", "{:.1%}"), ("top_decile_lift", "{:.2f}×"),
                            ("brier_score", "{:.4f}")):
            table.add_row(metric.replace("_", " "), fmt.format(r.metric("train", metric)),
                          fmt.format(r.metric("test", metric)))
        console.print(table)
        for path in r.written:
            console.print(f"wrote {path}")
        for path in r.unchanged:
            console.print(f"unchanged {path}")
        if dry_run:
            console.print("dry run: no file written")
        elif r.written:
            console.print(f'next: kcrm-gov build --select "{r.spec.coefficients}+ {r.spec.metrics}+"')
