"""Multi-step operations that commands share (kept out of the CLI, which only prints)."""

from __future__ import annotations

from typing import Any

from .build import compile_model
from .engines.base import Engine
from .errors import KcrmGovError
from .project import Project

DEFAULT_SEED = 42


def ensure_raw_layer(project: Project, engine: Engine, console: Any = None) -> str | None:
    """Seed synthetic sources when no raw table exists on the target yet (a fresh clone).

    Returns a note saying what was done, or None when the raw layer already had data.
    """
    raw = project.layer("raw")
    if any(engine.table_exists(c.layer, c.table) for c in raw):
        return None
    from .seed import seed

    if console is not None:
        console.print(f"the raw layer of target '{engine.target.name}' is empty: seeding synthetic "
                      f"sources (scale 1, seed {DEFAULT_SEED}) first", highlight=False, soft_wrap=True)
    results = seed(project, engine, scale=1.0, seed=DEFAULT_SEED)
    rows = sum(r.rows for r in results)
    return f"seeded {len(results)} raw tables, {rows:,} rows"


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
