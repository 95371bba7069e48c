"""Lineage as a graph for people: upstream and downstream of a table or of one column."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import LAYERS
from .columns import DIRECT, LineageError, Source, column_lineage, project_lineage

if TYPE_CHECKING:
    from rich.tree import Tree

    from ..project import Project


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
        downstream_of: dict[str, list[str]] = {}
        for model_name, model in sorted(project.models.items()):
            for ref in model.refs:
                downstream_of.setdefault(ref, []).append(model_name)

        def up(t: str, level: int, seen: frozenset[str]) -> list[dict[str, Any]]:
            model = project.models.get(t)
            if model is None or level >= limit:
                return []
            return [{"name": r, "upstream": up(r, level + 1, seen | {r}) if r not in seen else []}
                    for r in model.refs]

        def down(t: str, level: int, seen: frozenset[str]) -> list[dict[str, Any]]:
            if level >= limit:
                return []
            return [{"name": d, "downstream": down(d, level + 1, seen | {d}) if d not in seen else []}
                    for d in downstream_of.get(t, [])]

        return {"name": table, "table": table, "column": None, "level": "table",
                "upstream": up(table, 0, frozenset({table})), "downstream": down(table, 0, frozenset({table}))}

    top = column.split(".", 1)[0]
    contract = project.contracts[table]
    if contract.column(top) is None and top not in column_lineage(project, table):
        known = ", ".join(c.name for c in contract.columns)
        raise LineageError(f"{table} has no column '{top}' (columns: {known})")
    everything = project_lineage(project)
    readers: dict[tuple[str, str], list[tuple[str, str, Source]]] = {}
    for model_name, lineage in everything.items():
        for out, sources in lineage.columns.items():
            for s in sources:
                if indirect or s.type == DIRECT:
                    readers.setdefault((s.table, s.top_column), []).append((model_name, out, s))

    def up_col(t: str, c: str, level: int, seen: frozenset[str]) -> list[dict[str, Any]]:
        lineage = everything.get(t)
        if lineage is None or level >= limit:
            return []
        out = []
        for s in lineage.columns.get(c, []):
            if not indirect and s.type != DIRECT:
                continue
            key = f"{s.table}.{s.top_column}"
            out.append({"name": s.qualified, "table": s.table, "column": s.column, "type": s.type,
                        "subtype": s.subtype, "masking": s.masking, "how": _label(s),
                        "upstream": up_col(s.table, s.top_column, level + 1, seen | {key}) if key not in seen else []})
        return out

    def down_col(t: str, c: str, level: int, seen: frozenset[str]) -> list[dict[str, Any]]:
        if level >= limit:
            return []
        out = []
        for model_name, col, s in sorted(readers.get((t, c), []), key=lambda r: (r[0], r[1])):
            key = f"{model_name}.{col}"
            out.append({"name": key, "table": model_name, "column": col, "from": s.column, "type": s.type,
                        "subtype": s.subtype, "masking": s.masking, "how": _label(s),
                        "downstream": down_col(model_name, col, level + 1, seen | {key}) if key not in seen else []})
        return out

    start = f"{table}.{top}"
    return {"name": f"{table}.{column}", "table": table, "column": column, "level": "column",
            "upstream": up_col(table, top, 0, frozenset({start})),
            "downstream": down_col(table, top, 0, frozenset({start}))}


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
