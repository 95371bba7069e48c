"""Engines: where a target's warehouse lives. One module per engine behind one interface."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .base import Engine, EngineError, WarehouseBusy, WarehouseUnavailable

if TYPE_CHECKING:
    from ..project import Project

__all__ = ["Engine", "EngineError", "WarehouseBusy", "WarehouseUnavailable", "open_engine"]


def open_engine(project: Project, target: str | None = None, *, read_only: bool = False,
                building: bool = False, memory_limit: str | None = None) -> Engine:
    """Open the engine of ``target`` (default: the project's default target).

    ``building``: the connection will load and build tables, several models at once (``build``,
    ``seed``); the embedded engine then runs each statement on one thread (see
    :data:`~kcrm_gov.engines.duckdb.BUILD_THREADS`). ``memory_limit``: the embedded engine's
    memory limit for this connection when the target sets none (see ``seed.SEED_MEMORY_LIMIT``)."""
    chosen = project.config.target(target)
    if chosen.type == "duckdb" and memory_limit and not chosen.memory_limit:
        chosen = replace(chosen, memory_limit=memory_limit)
    if chosen.type == "duckdb":
        from .duckdb import BUILD_THREADS, DuckDBEngine

        return DuckDBEngine(project, chosen, read_only=read_only,
                            statement_threads=BUILD_THREADS if building else None)
    from .bigquery import BigQueryEngine

    return BigQueryEngine(project, chosen)
