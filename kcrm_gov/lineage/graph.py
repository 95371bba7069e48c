"""Lineage as a graph: upstream and downstream of a table or of one column.

Tables are walked on the project's one DAG (``project.dag``). Columns are walked on the one
:class:`ColumnGraph`, which ``kcrm-gov lineage show``, ``kcrm-gov diff`` (the columns a change
reaches) and the catalog (column lineage, the PII register's flows) all use, with one rule for
nested fields: an input field and a column are connected when one's path is the other's, or a
prefix of it (``event_params`` read whole reaches from ``event_params.value.int_value``, and the
field reaches from the whole column).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import LAYERS
from .columns import DIRECT, LineageError, ModelLineage, Source, project_lineage

if TYPE_CHECKING:
    from rich.tree import Tree

    from ..project import Project


def overlaps(a: str, b: str) -> bool:
    """Whether two dotted column paths name the same data: equal, or one a field of the other."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


@dataclass
class ColumnGraph:
    """Column lineage of every model, as one graph walked in both directions."""

    models: dict[str, ModelLineage] = field(default_factory=dict)  # table -> its model's column lineage
    readers: dict[tuple[str, str], list[tuple[str, str, Source]]] = field(default_factory=dict)
    """``(table, top-level column) -> [(reading table, its output column, the input)]``."""

    @classmethod
    def of(cls, models: dict[str, ModelLineage]) -> ColumnGraph:
        graph = cls(models=models)
        for table, lineage in sorted(models.items()):
            for out, sources in lineage.columns.items():
                for source in sources:
                    graph.readers.setdefault((source.table, source.top_column), []).append((table, out, source))
        return graph

    def inputs(self, table: str, column: str, *, indirect: bool = False) -> list[Source]:
        """What the output ``column`` of ``table`` is computed from (one hop)."""
        lineage = self.models.get(table)
        sources = lineage.columns.get(column.split(".", 1)[0], []) if lineage else []
        return [s for s in sources if indirect or s.type == DIRECT]

    def consumers(self, table: str, path: str, *, indirect: bool = False) -> list[tuple[str, str, Source]]:
        """The output columns computed from ``table``'s column (or nested field) ``path``, one hop."""
        return [(t, c, s) for t, c, s in self.readers.get((table, path.split(".", 1)[0]), [])
                if overlaps(s.column, path) and (indirect or s.type == DIRECT)]

    def downstream(self, table: str, paths: Iterable[str], *, indirect: bool = False) -> list[str]:
        """Every ``layer.table.column`` whose values derive from ``table``'s ``paths``, transitively,
        in the order they are reached (breadth first)."""
        seen: list[str] = []
        todo = [(table, path) for path in paths]
        while todo:
            t, path = todo.pop(0)
            for reader, column, _ in self.consumers(t, path, indirect=indirect):
                name = f"{reader}.{column}"
                if name not in seen:
                    seen.append(name)
                    todo.append((reader, column))
        return seen


def column_graph(project: Project, tables: Iterable[str] | None = None) -> ColumnGraph:
    """The column lineage of every model (or of ``tables``) as a :class:`ColumnGraph` (cached on
    disk per model by :mod:`.columns`; a model whose lineage cannot be derived is left out)."""
    return ColumnGraph.of(project_lineage(project, tables))


def resolve(project: Project, name: str) -> tuple[str, str | None]:
    """``(layer.table, column or None)`` named by ``name`` (``layer.table[.column[.field]]`` or ``table``)."""
    parts = name.split(".")
    if len(parts) >= 2 and parts[0] in LAYERS and f"{parts[0]}.{parts[1]}" in project.contracts:
        return f"{parts[0]}.{parts[1]}", ".".join(parts[2:]) or None
    matches = [q for q, c in project.contracts.items() if c.table == parts[0]]
    if len(matches) == 1:
        return matches[0], ".".join(parts[1:]) or None
    if matches:
        raise LineageError(f"'{parts[0]}' is ambiguous: {', '.join(sorted(matches))} (write layer.table)")
    raise LineageError(f"no table '{name}' (write it as <layer>.<table> or <layer>.<table>.<column>)")


def _label(source: Source) -> str:
    kind = source.subtype.lower().replace("_", " ")
    return f"{kind}{', masked' if source.masking else ''}" if source.type == DIRECT else f"indirect: {kind}"


def show_lineage(project: Project, name: str, *, depth: int | None = None, indirect: bool = False) -> dict[str, Any]:
    """The upstream and downstream trees of a table or column, as plain data (``--json`` prints it)."""
    table, column = resolve(project, name)
    limit = depth if depth is not None else 10_000
    if column is None:
        dag = project.dag

        def up(t: str, level: int, seen: frozenset[str]) -> list[dict[str, Any]]:
            if level >= limit:
                return []
            return [{"name": r, "upstream": up(r, level + 1, seen | {r}) if r not in seen else []}
                    for r in dag.upstream.get(t, [])]

        def down(t: str, level: int, seen: frozenset[str]) -> list[dict[str, Any]]:
            if level >= limit:
                return []
            return [{"name": d, "downstream": down(d, level + 1, seen | {d}) if d not in seen else []}
                    for d in sorted(dag.downstream.get(t, []))]

        return {"name": table, "table": table, "column": None, "level": "table",
                "upstream": up(table, 0, frozenset({table})), "downstream": down(table, 0, frozenset({table}))}

    top = column.split(".", 1)[0]
    graph = column_graph(project)
    contract = project.contracts[table]
    lineage = graph.models.get(table)
    if contract.column(top) is None and (lineage is None or top not in lineage.columns):
        known = ", ".join(c.name for c in contract.columns)
        raise LineageError(f"{table} has no column '{top}' (columns: {known})")

    def node(s: Source, **extra: Any) -> dict[str, Any]:
        return {"type": s.type, "subtype": s.subtype, "masking": s.masking, "how": _label(s), **extra}

    def up_col(t: str, c: str, level: int, seen: frozenset[str]) -> list[dict[str, Any]]:
        if level >= limit:
            return []
        out = []
        for s in graph.inputs(t, c, indirect=indirect):
            key = f"{s.table}.{s.top_column}"
            out.append({"name": s.qualified, "table": s.table, "column": s.column, **node(s),
                        "upstream": up_col(s.table, s.top_column, level + 1, seen | {key}) if key not in seen else []})
        return out

    def down_col(t: str, c: str, level: int, seen: frozenset[str]) -> list[dict[str, Any]]:
        if level >= limit:
            return []
        out = []
        for reader, col, s in sorted(graph.consumers(t, c, indirect=indirect), key=lambda r: (r[0], r[1])):
            key = f"{reader}.{col}"
            out.append({"name": key, "table": reader, "column": col, "from": s.column, **node(s),
                        "downstream": down_col(reader, col, level + 1, seen | {key}) if key not in seen else []})
        return out

    start = f"{table}.{top}"
    return {"name": f"{table}.{column}", "table": table, "column": column, "level": "column",
            "upstream": up_col(table, top, 0, frozenset({start})),
            "downstream": down_col(table, column, 0, frozenset({start}))}


def render_tree(report: dict[str, Any]) -> Tree:
    """A rich Tree of :func:`show_lineage`'s report."""
    from rich.markup import escape
    from rich.tree import Tree

    root = Tree(f"[bold]{escape(report['name'])}[/] ({report['level']} lineage)")

    def add(branch: Tree, nodes: list[dict[str, Any]], key: str) -> None:
        for node in nodes:
            how = f" [dim]({escape(node['how'])})[/]" if node.get("how") else ""
            child = branch.add(f"{escape(node['name'])}{how}")
            add(child, node.get(key, []), key)

    for key, arrow in (("upstream", "upstream ←"), ("downstream", "downstream →")):
        branch = root.add(f"[cyan]{arrow}[/]" + ("" if report[key] else " [dim](none)[/]"))
        add(branch, report[key], key)
    return root
