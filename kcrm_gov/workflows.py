"""Multi-step operations that commands share (kept out of the CLI, which only prints)."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from .build import compile_model
from .engines.base import Engine
from .errors import KcrmGovError
from .project import Project

DEFAULT_SEED = 42


def ensure_raw_layer(project: Project, engine: Engine, console: Any = None,
                     models: list[str] | None = None) -> str | None:
    """Seed synthetic sources when no raw table exists on the target yet (a fresh clone).

    ``models``: tables about to be built; while the seed writes, they are compiled for the engine
    (see :func:`precompile`). Returns a note saying what was done, or None when the raw layer
    already had data.
    """
    raw = project.layer("raw")
    if any(engine.table_exists(c.layer, c.table) for c in raw):
        return None
    from .seed import seed

    if console is not None:
        console.print(f"the raw layer of target '{engine.target.name}' is empty: seeding synthetic "
                      f"sources (scale 1, seed {DEFAULT_SEED}) first", highlight=False, soft_wrap=True)
    stop = threading.Event()  # a seed that fails (or is interrupted) does not wait for the compiling
    compiling = threading.Thread(target=precompile, args=(project, engine, models or [], stop),
                                 name="kcrm-gov precompile", daemon=True)
    compiling.start()
    try:
        results = seed(project, engine, scale=1.0, seed=DEFAULT_SEED)
    except BaseException:
        stop.set()
        raise
    finally:
        compiling.join()
    rows = sum(r.rows for r in results)
    return f"seeded {len(results)} raw tables, {rows:,} rows"


def precompile(project: Project, engine: Engine, tables: list[str], stop: threading.Event | None = None) -> None:
    """Compile ``tables``' models for ``engine`` into the compiled-SQL cache, ignoring failures.

    On a fresh clone the build first seeds the raw layer and then transpiles every model (a few
    seconds of Python). The seed spends most of its time in the engine, which releases the
    interpreter, so a thread transpiling meanwhile uses the other core and the build finds the
    SQL ready. A model that does not compile is not cached: the build meets the error again and
    reports it in its place."""
    for table in tables:
        if stop is not None and stop.is_set():
            return
        if table in project.models:
            with contextlib.suppress(Exception):
                compile_model(project, engine, table)


def dry_run_models(project: Project, engine: Engine, tables: list[str]) -> list[dict[str, Any]]:
    """Compile each selected model for the engine and ask it what the model would scan."""
    report = []
    for table in tables:
        if table not in project.models:
            continue
        row: dict[str, Any] = {"table": table, "status": "ok", "bytes": None}
        try:
            sql = compile_model(project, engine, table)
            row["bytes"] = engine.dry_run(sql)
        except KcrmGovError as exc:
            row["status"], row["error"] = "error", str(exc)
        report.append(row)
    return report
