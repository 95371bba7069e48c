"""Lineage for the catalog: the table DAG two hops out, and column lineage where it exists.

Table lineage comes from :func:`kcrm_gov.dag.build_dag` (the models' references). When the DAG
is invalid (a cycle, a layer violation, a model without a contract) the catalog still shows the
edges it can read and says the DAG has problems, so a broken branch never hides the site.

Column lineage comes from ``column_lineage(project, table)`` of ``kcrm_gov.lineage`` (or its
``columns`` module) when it is installed; its result is normalised to ``{column: [ColumnSource]}``
(``layer.table.column`` plus direct / indirect). Without it,
the page shows what the contract declares per column (ODCS ``transformSourceObjects`` and
``transformDescription``), labelled as declared rather than derived from the SQL.
"""

from __future__ import annotations

import importlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from ..contracts import Contract
from ..dag import Dag, DagError, build_dag
from ..errors import KcrmGovError
from ..project import Project

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ColumnSource:
    """One input of an output column: ``layer.table.column`` and how it is used."""

    ref: str
    direct: bool = True  # False: the input decides which value (filter, window, condition), not the value
    how: str | None = None  # e.g. IDENTITY, TRANSFORMATION, AGGREGATION, WINDOW, FILTER

    def __str__(self) -> str:
        return self.ref


@dataclass
class Lineage:
    """Table edges plus, when available, column lineage for every table."""

    dag: Dag
    problems: list[str] = field(default_factory=list)
    columns: dict[str, dict[str, list[ColumnSource]]] = field(default_factory=dict)  # table -> column -> inputs
    column_source: str | None = None  # "sql" when derived from the models; None when unavailable
    column_note: str | None = None

    def upstream(self, table: str, hops: int = 2) -> list[tuple[str, str]]:
        """Edges ``(upstream, downstream)`` reaching ``table`` from up to ``hops`` hops up."""
        return _hops(table, self.dag.upstream, hops, reverse=True)

    def downstream(self, table: str, hops: int = 2) -> list[tuple[str, str]]:
        """Edges ``(upstream, downstream)`` leaving ``table`` up to ``hops`` hops down."""
        return _hops(table, self.dag.downstream, hops, reverse=False)

    def column_consumers(self) -> dict[str, list[str]]:
        """``layer.table.column`` -> the columns whose *values* are computed from it (direct, one hop).

        A nested input (``event_params.value.string_value``) also counts for its parents, so a
        column read whole (``event_params``) is followed from any of its fields.
        """
        out: dict[str, list[str]] = {}
        for table, columns in self.columns.items():
            for column, sources in columns.items():
                for source in sources:
                    if source.direct:
                        out.setdefault(source.ref, []).append(f"{table}.{column}")
        return out

    def flows_from(self, source: str) -> list[str]:
        """Every column whose values derive from ``layer.table.column``, transitively (breadth-first)."""
        consumers = self.column_consumers()
        seen: list[str] = []
        parts = source.split(".")
        # the field itself, and any ancestor struct/array read whole (layer.table.a.b -> layer.table.a)
        starts = [".".join(parts[:i]) for i in range(len(parts), 2, -1)]
        todo = [c for s in starts for c in consumers.get(s, [])]
        todo += [c for key, found in consumers.items() if key.startswith(source + ".") for c in found]
        while todo:
            item = todo.pop(0)
            if item in seen:
                continue
            seen.append(item)
            todo.extend(consumers.get(item, []))
        return seen


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


def tolerant_dag(project: Project) -> tuple[Dag, list[str]]:
    """The DAG, or (when it is invalid) every edge between known tables plus the problems."""
    try:
        return build_dag(project), []
    except DagError as exc:
        problems = list(exc.problems)
    dag = Dag()
    for name in project.contracts:
        dag.upstream.setdefault(name, [])
        dag.downstream.setdefault(name, [])
    for name, model in project.models.items():
        if name not in project.contracts:
            continue
        try:
            refs = model.refs
        except KcrmGovError:
            continue
        for ref in refs:
            if ref in project.contracts and ref not in dag.upstream[name]:
                dag.upstream[name].append(ref)
                dag.downstream[ref].append(name)
    return dag, problems


def load_lineage(project: Project, *, columns: bool = True) -> Lineage:
    """Table lineage for the project, with column lineage from ``kcrm_gov.lineage`` when present."""
    dag, problems = tolerant_dag(project)
    lineage = Lineage(dag=dag, problems=problems)
    if not columns:
        return lineage
    column_lineage = None
    for module_name in ("kcrm_gov.lineage", "kcrm_gov.lineage.columns"):
        try:
            column_lineage = getattr(importlib.import_module(module_name), "column_lineage", None)
        except ImportError:
            column_lineage = None
        if column_lineage is not None:
            break
    if column_lineage is None:
        lineage.column_note = "column-level lineage is not available in this version of kcrm-gov"
        return lineage
    failures: list[str] = []
    for name in project.models:
        if name not in project.contracts:
            continue
        try:
            result = column_lineage(project, name)
        except Exception as exc:  # a third-party analysis must not take the catalog down
            failures.append(f"{name}: {exc.__class__.__name__}: {exc}")
            continue
        lineage.columns[name] = normalise_column_lineage(result, project)
    lineage.column_source = "sql"
    if failures:
        lineage.column_note = f"column lineage could not be derived for {len(failures)} table(s): " + "; ".join(
            failures[:3])
        log.debug("column lineage failures: %s", failures)
    return lineage


_REF = re.compile(r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_.]+$")


def _as_source(item: Any, project: Project) -> ColumnSource | None:
    """One input with its kind (``type`` DIRECT/INDIRECT and ``subtype``) when the shape carries them."""
    ref = _as_ref(item, project)
    if ref is None:
        return None
    kind = item.get("type") if isinstance(item, dict) else getattr(item, "type", None)
    how = item.get("subtype") if isinstance(item, dict) else getattr(item, "subtype", None)
    direct = str(kind or "DIRECT").upper() != "INDIRECT"
    return ColumnSource(ref=ref, direct=direct, how=str(how) if how else None)


def _dedupe(sources: list[ColumnSource]) -> list[ColumnSource]:
    out: dict[str, ColumnSource] = {}
    for s in sources:
        if s.ref not in out or (s.direct and not out[s.ref].direct):
            out[s.ref] = s
    return list(out.values())


def _as_ref(item: Any, project: Project) -> str | None:
    """One source column, in whatever shape the lineage module gives it, as ``layer.table.column``."""
    if isinstance(item, str):
        text = item.strip().strip("`")
        parts = text.split(".")
        for i in range(len(parts) - 2):  # drop leading project / namespace parts
            if f"{parts[i]}.{parts[i + 1]}" in project.contracts:
                return ".".join(parts[i:])
        return text if _REF.match(text) else None
    if isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(p, str) for p in item):
        return _as_ref(f"{item[0]}.{item[1]}", project)
    if isinstance(item, dict):
        table = item.get("table") or item.get("name") or item.get("dataset")
        column = item.get("column") or item.get("field")
        if isinstance(table, str) and isinstance(column, str):
            layer = item.get("layer")
            return _as_ref(f"{layer}.{table}.{column}" if layer and "." not in table else f"{table}.{column}",
                           project)
        return None
    table = getattr(item, "table", None)
    column = getattr(item, "column", None) or getattr(item, "field", None)
    if isinstance(table, str) and isinstance(column, str):
        return _as_ref(f"{table}.{column}", project)
    return None


def normalise_column_lineage(result: Any, project: Project) -> dict[str, list[ColumnSource]]:
    """``{column: [ColumnSource, ...]}`` from a mapping, a list of records or an object."""
    if result is None:
        return {}
    for attr in ("columns", "fields", "lineage"):
        if not isinstance(result, (dict, list)) and hasattr(result, attr):
            result = getattr(result, attr)
            break
    out: dict[str, list[ColumnSource]] = {}
    if isinstance(result, dict):
        if "fields" in result and isinstance(result["fields"], dict):  # OpenLineage columnLineage facet
            result = result["fields"]
        for column, sources in result.items():
            if isinstance(sources, dict):
                sources = sources.get("inputFields") or sources.get("sources") or sources.get("inputs") or []
            if isinstance(sources, (str, dict)) or not isinstance(sources, (list, tuple, set)):
                sources = [sources]
            found = [r for r in (_as_source(s, project) for s in sources) if r]
            out[str(column)] = _dedupe(found)
    elif isinstance(result, (list, tuple)):
        for record in result:
            column = (record.get("column") or record.get("name") or record.get("output")) if isinstance(
                record, dict) else getattr(record, "column", None) or getattr(record, "name", None)
            sources = (record.get("sources") or record.get("inputs") or record.get("inputFields") or []) if isinstance(
                record, dict) else getattr(record, "sources", None) or getattr(record, "inputs", None) or []
            if not isinstance(column, str):
                continue
            found = [r for r in (_as_source(s, project) for s in sources) if r]
            out[column] = _dedupe(out.get(column, []) + found)
    return out


def declared_sources(contract: Contract, path: tuple[str | int, ...]) -> tuple[list[str], str | None]:
    """What the contract declares for one column: ``transformSourceObjects`` and ``transformDescription``."""
    node: Any = contract.document.data
    for key in path:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return [], None
    if not isinstance(node, dict):
        return [], None
    objects = node.get("transformSourceObjects") or []
    if isinstance(objects, str):
        objects = [objects]
    text = node.get("transformDescription")
    return [str(o) for o in objects], str(text) if text else None
