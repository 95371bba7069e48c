"""``kcrm-gov catalog build|serve``: the mkdocs-material data dictionary (kcrm_gov/catalog)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from .options import handle_errors


def _root(ctx: click.Context) -> Path:
    from ..config import find_root

    given = ctx.obj.get("project_dir") if ctx.obj else None
    return Path(given).resolve() if given else find_root().resolve()


def _log_to_stderr(quiet: bool) -> None:
    """Show mkdocs' own messages (warnings always; progress unless --quiet) as mkdocs does."""
    logger = logging.getLogger("mkdocs")
    if not any(getattr(h, "_kcrm_gov", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)-7s -  %(message)s"))
        handler._kcrm_gov = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.WARNING if quiet else logging.INFO)


@click.group()
def catalog() -> None:
    """The data catalog: an mkdocs-material site generated from the contracts.

    A page per table (what, who, schema, trust, lineage, how, change), layer, source and team
    indexes, the PII register, glossary and metrics (catalog/*.yml). The latest build, test and
    freshness results in .kcrm/ are shown when present. `mkdocs build` and `mkdocs serve` work too.
    """


@catalog.command("build")
@click.option("--strict/--no-strict", default=True, show_default=True,
              help="Fail on any mkdocs warning (broken link, unknown page...).")
@click.option("--site-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write the site (default: site/, as mkdocs.yml says).")
@click.option("--quiet", "-q", is_flag=True, help="Print warnings and errors only.")
@click.pass_context
@handle_errors
def build_command(ctx: click.Context, strict: bool, site_dir: Path | None, quiet: bool) -> None:
    """Build the catalog site (mkdocs build, strict by default).

    Exit codes: 0 built, 1 warnings in strict mode, 2 unusable configuration or project.
    """
    from ..catalog.site import build_site

    _log_to_stderr(quiet)
    result = build_site(_root(ctx), site_dir=site_dir, strict=strict)
    for problem in result.warnings:
        click.echo(f"warning: {problem}: the catalog shows no results from it (the next run replaces it)", err=True)
    click.echo(f"catalog built: {result.pages} pages in {result.seconds:.1f} s -> {result.site_dir}")


@catalog.command("serve")
@click.option("--dev-addr", "-a", default="127.0.0.1:8000", show_default=True, metavar="IP:PORT",
              help="Address to serve on.")
@click.option("--open", "open_in_browser", is_flag=True, help="Open the site in a browser.")
@click.option("--strict", is_flag=True, help="Fail on any mkdocs warning.")
@click.pass_context
@handle_errors
def serve_command(ctx: click.Context, dev_addr: str, open_in_browser: bool, strict: bool) -> None:
    """Serve the catalog with live reload while contracts, models or docs change."""
    from ..catalog.site import serve_site

    _log_to_stderr(False)
    serve_site(_root(ctx), dev_addr=dev_addr, strict=strict, open_in_browser=open_in_browser)
