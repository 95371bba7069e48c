"""What the command modules share: options, error handling, loading the project, progress displays.

Every command module imports from here; nothing here imports a command module, and :mod:`kcrm_gov.cli`
only assembles the commands into the ``kcrm-gov`` group.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from ..errors import KcrmGovError

if TYPE_CHECKING:
    from ..project import Project

F = TypeVar("F", bound=Callable[..., Any])

SELECT_HELP = ("Tables, dbt-style: core.accounts, +core.accounts (with upstream), stg.hubspot__deals+ (with "
               "downstream), layer:core, source:hubspot, tag:pii (default: every table).")


def fail(exc: KcrmGovError) -> NoReturn:
    """Print ``exc`` as one line and exit with its documented code."""
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


def exit_after_writing(exit_code: int, errors: Sequence[KcrmGovError]) -> NoReturn:
    """End a command whose summary is already printed: report the run results that could not be
    written (after the summary, on stderr) and exit with ``exit_code``, at least 2 when any failed."""
    for exc in errors:
        failures = getattr(exc, "failures", None) or [str(exc)]
        click.echo(f"error: could not write the run results: {'; '.join(failures)}", err=True)
    sys.exit(max(exit_code, 2) if errors else exit_code)


def _os_reason(exc: OSError) -> str:
    if not exc.filename or not exc.strerror:
        return str(exc)
    path = Path(exc.filename)
    if isinstance(exc, FileExistsError) and path.exists() and not path.is_dir():
        return f"{path} is a file, not a folder"
    return f"{path}: {exc.strerror}"


def handle_errors(fn: F) -> F:
    """Turn kcrm-gov errors into a one-line message and the documented exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KcrmGovError as exc:
            fail(exc)
        except OSError as exc:  # a read-only or full disk, a file where .kcrm/ should be: a message, not a traceback
            fail(KcrmGovError(_os_reason(exc)))

    return wrapper  # type: ignore[return-value]


def project_from(ctx: click.Context, strict: bool = True) -> Project:
    """The project of the command line's ``--project-dir`` (default: found from the working directory)."""
    from ..project import Project

    root = (ctx.obj or {}).get("project_dir")
    return Project.load(Path(root) if root else None, strict=strict)


# --- options several commands take, declared once ----------------------------------------------------
def target_option(help: str = "Target from kcrm_gov.yml (default: local, or KCRM_GOV_TARGET).",
                  **kwargs: Any) -> Callable[[F], F]:
    """``--target/-t``: a target of kcrm_gov.yml."""
    return click.option("--target", "-t", help=help, **kwargs)


def json_option(what: str = "the results", *, help: str | None = None) -> Callable[[F], F]:
    """``--json``: print ``what`` as JSON instead of text."""
    return click.option("--json", "as_json", is_flag=True, help=help or f"Print {what} as JSON.")


def select_options(fn: F, *, exclude: bool = True) -> F:
    """``--select/-s`` (and ``--exclude``): dbt-style table selection."""
    if exclude:
        fn = click.option("--exclude", "excludes", multiple=True,
                          help="Tables to leave out (same syntax as --select).")(fn)
    return click.option("--select", "-s", "selectors", multiple=True, help=SELECT_HELP)(fn)


def select_only(fn: F) -> F:
    """``--select/-s`` without ``--exclude``."""
    return select_options(fn, exclude=False)


def now_option(fn: F) -> F:
    """``--now``: the time freshness is measured against."""
    return click.option("--now", "now_text", metavar="TIMESTAMP", envvar="KCRM_GOV_NOW",
                        help="Measure freshness against this time (ISO, e.g. 2024-01-02T06:00:00Z; env "
                             "KCRM_GOV_NOW). Default: the real clock, or for a warehouse seeded with synthetic "
                             "sources, their last sync.")(fn)


def selected_tables(project: Project, selectors: tuple[str, ...], excludes: tuple[str, ...] = ()) -> list[str]:
    """The selected tables in DAG order; every contract, layer by layer, when nothing is selected."""
    if not selectors and not excludes:
        return [c.qualified_name for c in project.ordered()]
    from ..dag import select

    return select(project, project.dag.valid(), selectors, excludes)


def report_generated(changed: Sequence[Any], *, check_only: bool, as_json: bool, count: int, what: str,
                     command: str, record: Callable[[Any], dict[str, Any]], wrote: Callable[[Any], str]) -> NoReturn:
    """The ending every ``generate`` command shares: what changed (or, with ``--check``, what is
    stale, with its diff on stdout and one line each on stderr), as text or JSON; exit 1 only when
    ``--check`` found something stale."""
    import json

    if as_json:
        click.echo(json.dumps({"checked" if check_only else "written": count,
                               "stale" if check_only else "changed": [record(item) for item in changed]}, indent=2))
    elif check_only:
        for item in changed:
            click.echo(item.diff, nl=False)
        for item in changed:
            click.echo(f"stale: {item}", err=True)
        click.echo(f"{count} {what}, {len(changed)} stale" + (f": run `{command}`" if changed else ", all in sync"),
                   err=bool(changed))
    else:
        for item in changed:
            click.echo(wrote(item))
        click.echo(f"{count} {what}, {len(changed)} changed")
    sys.exit(1 if check_only and changed else 0)


# --- progress ------------------------------------------------------------------------------------------
class ModelProgress:
    """A rich progress display fed by the build's listener (quiet with --json or off a terminal)."""

    def __init__(self, console: Any, total: int, quiet: bool) -> None:
        self.console, self.total, self.quiet = console, total, quiet
        self.progress: Any = None

    def __enter__(self) -> Callable[[str, Any], None] | None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        if self.quiet or not self.console.is_terminal:
            return None
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.console, transient=True)
        self.task = self.progress.add_task("building", total=self.total)
        self.progress.start()
        return self._listen

    def _listen(self, table: str, result: Any) -> None:
        if result is None:
            self.progress.update(self.task, description=f"building {table}")
        else:
            self.progress.advance(self.task)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


class TableProgress:
    """A rich progress bar over tables, fed by ``progress(table, index, count)`` callbacks."""

    def __init__(self, console: Any, verb: str, quiet: bool) -> None:
        self.console, self.verb, self.quiet = console, verb, quiet
        self.progress: Any = None

    def __enter__(self) -> Callable[[str, int, int], None] | None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        if self.quiet or not self.console.is_terminal:
            return None
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.console, transient=True)
        self.task = self.progress.add_task(self.verb, total=None)
        self.progress.start()
        return self._update

    def _update(self, table: str, index: int, count: int) -> None:
        self.progress.update(self.task, total=count, completed=index,
                             description=f"{self.verb} {table}" if table else self.verb)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
