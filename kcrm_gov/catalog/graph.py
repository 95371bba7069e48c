"""Lineage for the catalog: the table DAG two hops out, and column lineage.

Both come from the project's one graphs: tables from ``project.dag`` (which keeps every edge it can
read, with its problems, so a broken branch never hides the site), columns from the one
:class:`~kcrm_gov.lineage.graph.ColumnGraph` that ``lineage show`` and ``diff`` walk too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..dag import Dag
from ..lineage.columns import Source
from ..lineage.graph import ColumnGraph, column_graph
from ..project import Project

log = logging.getLogger(__name__)


@dataclass
class Lineage:
    """Table edges, their problems and (unless left out) the column graph."""

    dag: Dag
    problems: list[str] = field(default_factory=list)
    columns: ColumnGraph | None = None  # None: column lineage was not asked for
    column_note: str | None = None  # why some models have no column lineage

    def upstream(self, table: str, hops: int = 2) -> list[tuple[str, str]]:
        """Edges ``(upstream, downstream)`` reaching ``table`` from up to ``hops`` hops up."""
        return _hops(table, self.dag.upstream, hops, reverse=True)

    def downstream(self, table: str, hops: int = 2) -> list[tuple[str, str]]:
        """Edges ``(upstream, downstream)`` leaving ``table`` up to ``hops`` hops down."""
        return _hops(table, self.dag.downstream, hops, reverse=False)

    def has_columns(self, table: str) -> bool:
        """Whether the column lineage of ``table``'s model is known."""
        return self.columns is not None and table in self.columns.models

    def inputs(self, table: str, column: str) -> list[Source]:
        """What ``table.column`` is computed from, direct inputs first."""
        if self.columns is None:
            return []
        return sorted(self.columns.inputs(table, column, indirect=True), key=lambda s: (s.type != "DIRECT",
                                                                                       s.qualified))

    def flows_from(self, source: str) -> list[str]:
        """Every column whose values derive from ``layer.table.column[.field]``, transitively."""
        if self.columns is None:
            return []
        parts = source.split(".")
        return self.columns.downstream(".".join(parts[:2]), [".".join(parts[2:])])


def _hops(start: str, edges: dict[str, list[str]], hops: int, *, reverse: bool) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    frontier = [start]
    seen = {start}
    for _ in range(hops):
        nxt: list[str] = []
        for node in frontier:
            for other in sorted(edges.get(node, [])):
                edge = (other, node) if reverse else (node, other)
                if edge not in out:
                    out.append(edge)
                if other not in seen:
                    seen.add(other)
                    nxt.append(other)
        frontier = nxt
    return out


def load_lineage(project: Project, *, columns: bool = True) -> Lineage:
    """Table lineage for the project, and column lineage unless ``columns`` is False."""
    dag = project.dag
    lineage = Lineage(dag=dag, problems=[str(problem) for problem in dag.problems])
    if not columns:
        return lineage
    lineage.columns = column_graph(project)
    missing = sorted(t for t in project.models if t in project.contracts and t not in lineage.columns.models)
    if missing:
        lineage.column_note = f"column lineage could not be derived for {len(missing)} table(s): " + \
            ", ".join(missing[:3])
        log.debug("no column lineage for %s", missing)
    return lineage
