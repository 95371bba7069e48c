"""Impact of breaking changes: the downstream tables (on the project's one DAG, ``project.dag``),
the downstream columns (on the one column-lineage graph, :func:`kcrm_gov.lineage.graph.column_graph`),
the reverse-ETL syncs and marts reached, and the stewards who must approve."""

from __future__ import annotations

from collections.abc import Iterable

from ...project import Project
from .model import (
    BREAKING,
    DESTINATION_CHANGE,
    EXTERNAL_LAYERS,
    REFERENCE_CHANGE,
    Approver,
    Impact,
    TableDiff,
    table_order,
)


def dependency_graph(project: Project) -> dict[str, list[str]]:
    """``table -> [tables that read it]``: the project's one DAG, which keeps every readable edge
    even when the project has problems (a diff must show the impact on a tree that does not compile)."""
    return project.dag.downstream


def has_dependents(table: str, *graphs: dict[str, list[str]]) -> bool:
    """Whether anything reads ``table``: a table in any of ``graphs`` (``dependency_graph``s), or a
    sync or dashboard outside the warehouse (every retl and marts table has one)."""
    layer = table.split(".", 1)[0]
    return layer in EXTERNAL_LAYERS or any(bool(g.get(table)) for g in graphs)


def descendants(graphs: Iterable[dict[str, list[str]]], table: str) -> set[str]:
    """Every table downstream of ``table`` in the union of ``graphs`` (the base's and the working
    tree's DAG: an edge added or removed by the change counts either way)."""
    graphs = list(graphs)
    seen: set[str] = set()
    todo = [table]
    while todo:
        node = todo.pop()
        for g in graphs:
            for child in g.get(node, []):
                if child not in seen and child != table:
                    seen.add(child)
                    todo.append(child)
    return seen


def approvers_for(projects: list[Project], tables: Iterable[str], reason_for: dict[str, str]) -> list[Approver]:
    """The data stewards of ``tables`` (each once, first table first), from the first of ``projects``
    that has the table's contract, with their GitHub handles from the teams catalog."""
    out: dict[str, Approver] = {}
    for table in tables:
        project = next((p for p in projects if table in p.contracts), None)
        if project is None:
            continue
        contract = project.contracts[table]
        team = project.teams.get(contract.owner_team or "")
        for username in contract.stewards:
            if username in out:
                continue
            member = team.members.get(username) if team else None
            if member is None:  # a steward listed in another team
                member = next((t.members[username] for t in project.teams.values() if username in t.members), None)
            out[username] = Approver(username=username, name=member.name if member else username,
                                     github=member.github if member else None,
                                     team=contract.owner_team or "?", team_github=team.github if team else None,
                                     reason=reason_for.get(table, f"steward of {table}"))
    return list(out.values())


def compute_impact(base: Project, head: Project, table: TableDiff, *, column_level: bool = True) -> Impact:
    """What the breaking changes (or changed reference rows) of ``table`` reach downstream, and who
    must approve them."""
    graphs = [dependency_graph(base), dependency_graph(head)]
    tables = sorted(descendants(graphs, table.table), key=table_order)
    impact = Impact(tables=tables)
    impact.retl = [t for t in tables if t.startswith("retl.")]
    impact.marts = [t for t in tables if t.startswith("marts.")]
    moved = [c for c in table.changes if c.kind == BREAKING or c.change.startswith(REFERENCE_CHANGE)]
    columns = sorted({c.column.split(".")[0] for c in moved if c.column})
    table_wide = any(c.kind == BREAKING and not c.column for c in table.changes)
    if columns and column_level:
        try:
            impact.columns = downstream_columns(base, table.table, columns, tables)
        except ImportError:
            impact.column_level = False
            impact.notes.append("column lineage is not available (kcrm_gov.lineage missing): impact is table-level")
        except Exception as exc:  # lineage is advisory: never lose the report over it
            impact.column_level = False
            impact.notes.append(f"column lineage failed ({exc}): impact is table-level")
        else:
            impact.destinations = reached_destinations([head, base], [f"{table.table}.{c}" for c in columns]
                                                       + impact.columns)
        if table_wide:
            impact.notes.append("table-level changes (key, SLA, removal…) reach every downstream table")
    elif columns:
        impact.column_level = False
    # a changed destination block: the external fields (or objects) it names, before and after
    for change in table.changes:
        if change.change.startswith(DESTINATION_CHANGE):
            for value in (change.before, change.after):
                if isinstance(value, str) and "://" in value and value not in impact.destinations:
                    impact.destinations.append(value)
    reasons = {table.table: f"steward of {table.table} (changed)"}
    for t in tables:
        reasons[t] = f"steward of {t} (downstream)"
    impact.approvers = approvers_for([head, base], [table.table, *tables], reasons)
    return impact


def downstream_columns(project: Project, table: str, columns: list[str], tables: list[str]) -> list[str]:
    """``layer.table.column`` fed (transitively) by ``table``'s ``columns``: the project's one column
    graph (:class:`kcrm_gov.lineage.graph.ColumnGraph`), within ``tables``."""
    # imported here: lineage parses every model's SQL, and compute_impact turns its absence into a note
    from ...lineage.graph import column_graph

    reached = column_graph(project, [t for t in tables if t in project.models]).downstream(table, columns)
    return sorted(reached, key=lambda x: (table_order(".".join(x.split(".")[:2])), x))


def reached_destinations(projects: list[Project], columns: list[str]) -> list[str]:
    """The destination fields (``hubspot://portal/object.field``) that ``columns`` (``layer.table.column``) fill,
    by the retl mappings of the first of ``projects`` that maps each (the working tree's, then the base's)."""
    from ...lineage.reach import destination_fields

    out: list[str] = []
    for column in columns:
        for project in projects:
            fields = destination_fields(project, [column])
            if fields:
                out.extend(f.uri for f in fields if f.uri not in out)
                break
    return out
