"""Column-level lineage of each model, from its SQL, with sqlglot's lineage.

For every output column of a model: the ``layer.table.column`` it is computed from, each with
how (the OpenLineage column-lineage transformation vocabulary of ColumnLineageDatasetFacet 1-2-0):

* ``DIRECT``: the value is derived from the input. Subtype ``IDENTITY`` (the same value, through
  aliases, CTEs, nested-field access and set operations), ``TRANSFORMATION`` (any function, cast,
  CASE result, UNNEST) or ``AGGREGATION`` (an aggregate function, windowed or not). ``masking`` is
  set when a hash (MD5, SHA*, FARM_FINGERPRINT) lies on the path.
* ``INDIRECT``: the input decides *which* value, not the value: ``CONDITIONAL`` (a CASE / IF
  condition), ``WINDOW`` (a window's PARTITION BY / ORDER BY), ``FILTER`` (the WHERE of a scalar
  subquery, as in GA4's ``(SELECT p.value.int_value FROM UNNEST(event_params) p WHERE p.key = …)``).

Lineage that affects the whole table rather than one column (WHERE, JOIN … ON, GROUP BY, HAVING,
QUALIFY, ORDER BY of the model and its CTEs) is kept apart in :attr:`ModelLineage.dataset`, as the
facet's ``dataset`` list, with subtypes ``FILTER``, ``JOIN``, ``GROUP_BY`` and ``SORT``.

Nested fields are precise: ``device.web_info.browser AS browser`` comes from the field
``device.web_info.browser`` of the raw table, and ``UNNEST(event_params) AS p … p.value.int_value``
from ``event_params.value.int_value``.

The walk uses ``sqlglot.lineage.lineage`` (all columns at once, ``trim_selects=False``: trimming
deep-copies the select for every node and costs seconds on wide models) on the model qualified
against the contracts of the tables it reads, so ``SELECT *`` is expanded from the contracts.

Results are cached in ``.kcrm/lineage/column_lineage.json``, keyed by the sha256 of the model's SQL
and the id, version and schema of every contract it reads: computed once per model change, not
per run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp
from sqlglot.errors import SqlglotError

from ..errors import KcrmGovError

if TYPE_CHECKING:
    from sqlglot.lineage import Node
    from sqlglot.optimizer.scope import Scope
    from sqlglot.schema import Schema

    from ..project import Project

log = logging.getLogger(__name__)

ALGORITHM_VERSION = 1
"""Bumped whenever the analysis changes, so old cache entries are recomputed."""
CACHE_FILE = Path("lineage") / "column_lineage.json"  # under the project's state dir (.kcrm/)

DIRECT, INDIRECT = "DIRECT", "INDIRECT"
IDENTITY, TRANSFORMATION, AGGREGATION = "IDENTITY", "TRANSFORMATION", "AGGREGATION"
FILTER, JOIN, GROUP_BY, SORT, WINDOW, CONDITIONAL = "FILTER", "JOIN", "GROUP_BY", "SORT", "WINDOW", "CONDITIONAL"

_DIRECT_RANK = {IDENTITY: 0, TRANSFORMATION: 1, AGGREGATION: 2}
_MASKING = tuple(getattr(exp, name) for name in ("MD5", "MD5Digest", "SHA", "SHA2", "SHA1Digest", "SHA2Digest",
                                                  "FarmFingerprint") if hasattr(exp, name))


class LineageError(KcrmGovError):
    """A model whose column lineage cannot be worked out."""

    exit_code = 1


@dataclass(frozen=True, order=True)
class Source:
    """One input field of an output column (or of the whole table, for ``dataset`` lineage)."""

    table: str  # layer.table
    column: str  # a column, or a dotted path to a nested field
    type: str = DIRECT
    subtype: str = IDENTITY
    masking: bool = False

    @property
    def qualified(self) -> str:
        """``layer.table.column``."""
        return f"{self.table}.{self.column}"

    @property
    def top_column(self) -> str:
        """The top-level column of :attr:`column` (``device`` for ``device.category``)."""
        return self.column.split(".", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Source:
        return cls(table=data["table"], column=data["column"], type=data.get("type", DIRECT),
                   subtype=data.get("subtype", IDENTITY), masking=bool(data.get("masking", False)))


@dataclass
class ModelLineage:
    """The column lineage of one model."""

    table: str
    key: str
    columns: dict[str, list[Source]] = field(default_factory=dict)
    dataset: list[Source] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "key": self.key,
                "columns": {c: [s.to_dict() for s in srcs] for c, srcs in self.columns.items()},
                "dataset": [s.to_dict() for s in self.dataset]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelLineage:
        return cls(table=data["table"], key=data["key"],
                   columns={c: [Source.from_dict(s) for s in srcs] for c, srcs in data["columns"].items()},
                   dataset=[Source.from_dict(s) for s in data.get("dataset", [])])


# --- the public API ---------------------------------------------------------------------------------

def column_lineage(project: Project, table: str) -> dict[str, list[Source]]:
    """``{output column: [Source, …]}`` of the model that builds ``table`` (cached).

    Raw tables (no model) have no column lineage: an empty dict.
    """
    lineage = model_lineage(project, table)
    return lineage.columns if lineage else {}


def model_lineage(project: Project, table: str) -> ModelLineage | None:
    """The full :class:`ModelLineage` of ``table``; None when no model builds it.

    Raises :class:`LineageError` when the SQL cannot be analysed.
    """
    if table not in project.models:
        if table not in project.contracts:
            raise LineageError(f"no table '{table}' (no contract defines it)")
        return None
    return _cache_for(project).get(project, table)


def project_lineage(project: Project, tables: Iterable[str] | None = None) -> dict[str, ModelLineage]:
    """:class:`ModelLineage` of every model (or of ``tables``), computing only the stale ones.

    A model whose lineage cannot be worked out is left out and logged.
    """
    cache = _cache_for(project)
    out: dict[str, ModelLineage] = {}
    for table in tables if tables is not None else sorted(project.models):
        if table not in project.models:
            continue
        try:
            out[table] = cache.get(project, table, save=False)
        except KcrmGovError as exc:
            log.warning("no column lineage for %s: %s", table, exc)
    cache.save()
    return out


def cache_key(project: Project, table: str) -> str:
    """sha256 of the model's SQL and the id, version and schema of each contract it reads."""
    from ..dag import cached_refs

    model = project.models[table]
    digest = hashlib.sha256()
    digest.update(f"kcrm-gov column lineage v{ALGORITHM_VERSION}\n".encode())
    digest.update(model.sql.encode())
    for ref in sorted(cached_refs(project, model)):  # a fresh hit parses no SQL
        contract = project.contracts.get(ref)
        if contract is None:
            digest.update(f"\n{ref}: no contract".encode())
            continue
        columns = ",".join(f"{c.name}:{c.bigquery_type}" for c in contract.columns)
        digest.update(f"\n{ref}|{contract.id}|{contract.version}|{columns}".encode())
    return digest.hexdigest()


# --- the cache --------------------------------------------------------------------------------------

class LineageCache:
    """The JSON cache of model lineage under the state dir, shared by every caller in a process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.entries: dict[str, dict[str, Any]] = {}
        self.dirty = False
        self.hits = self.misses = 0
        self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and data.get("version") == ALGORITHM_VERSION:
            self.entries = dict(data.get("models") or {})

    def get(self, project: Project, table: str, *, save: bool = True) -> ModelLineage:
        key = cache_key(project, table)
        with self.lock:
            entry = self.entries.get(table)
            if entry and entry.get("key") == key:
                self.hits += 1
                return ModelLineage.from_dict(entry)
        lineage = analyse_model(project, table)  # outside the lock: other models may be analysed meanwhile
        lineage.key = key
        with self.lock:
            self.misses += 1
            self.entries[table] = lineage.to_dict()
            self.dirty = True
        if save:
            self.save()
        return lineage

    def save(self) -> None:
        """Write the cache atomically (a temporary file renamed over it); errors are only logged."""
        with self.lock:
            if not self.dirty:
                return
            text = json.dumps({"version": ALGORITHM_VERSION, "models": self.entries}, sort_keys=True)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".column_lineage.", suffix=".tmp")
                with os.fdopen(fd, "w") as handle:
                    handle.write(text)
                os.replace(tmp, self.path)
                self.dirty = False
            except OSError as exc:
                log.warning("cannot write the column lineage cache %s: %s", self.path, exc)


_CACHES: dict[Path, LineageCache] = {}
_CACHES_LOCK = threading.Lock()


def _cache_for(project: Project) -> LineageCache:
    path = project.state_dir / CACHE_FILE
    with _CACHES_LOCK:
        cache = _CACHES.get(path)
        if cache is None:
            cache = _CACHES[path] = LineageCache(path)
        return cache


# --- the analysis -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Role:
    type: str = DIRECT
    subtype: str = IDENTITY
    masking: bool = False

    def then(self, outer: _Role) -> _Role:
        """This role (how a source feeds an intermediate) followed by ``outer`` (intermediate → output)."""
        masking = self.masking or outer.masking
        if outer.type == INDIRECT:
            return _Role(INDIRECT, outer.subtype, False)
        if self.type == INDIRECT:
            return _Role(INDIRECT, self.subtype, False)
        subtype = max(self.subtype, outer.subtype, key=_DIRECT_RANK.__getitem__)
        return _Role(DIRECT, subtype, masking)


_ID = _Role()


def analyse_model(project: Project, table: str) -> ModelLineage:
    """Work out the column lineage of ``table``'s model (no cache). Raises :class:`LineageError`."""
    model = project.models[table]
    columns, dataset = _analyse(project, model.ast, model.refs, str(model.path))
    return ModelLineage(table=table, key="", columns=columns, dataset=dataset)


def query_lineage(project: Project, ast: exp.Expr, refs: list[str], label: str) -> dict[str, list[Source]]:
    """``{output column: [Source, …]}`` of any query over contracted tables ``refs`` (not cached):
    what a quality rule's failed-rows query shows (:mod:`kcrm_gov.checks.failed_rows`). ``label``
    names the query in errors. Raises :class:`LineageError`."""
    return _analyse(project, ast, refs, label)[0]


def _analyse(project: Project, ast: exp.Expr, refs: list[str], label: str
             ) -> tuple[dict[str, list[Source]], list[Source]]:
    from sqlglot.lineage import lineage
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import build_scope, traverse_scope
    from sqlglot.schema import MappingSchema

    from ..models import schema_of

    try:
        schema = MappingSchema(dict(schema_of(project.contracts, refs)), dialect="bigquery")
        query = qualify(ast.copy(), schema=schema, dialect="bigquery", validate_qualify_columns=False,
                        identify=False)
        scopes = list(traverse_scope(query))
        root = build_scope(query) if not scopes else scopes[-1]
        nodes = lineage(None, query, schema, dialect="bigquery", scope=root, trim_selects=False, copy=False)
    except KcrmGovError as exc:
        raise LineageError(f"{label}: {exc.message}") from None
    except (SqlglotError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise LineageError(f"{label}: sqlglot could not trace the column lineage: {exc}") from None
    walker = _Walker(schema, {id(s.expression): s for s in scopes})
    columns = {name: _dedupe(walker.leaves(node, "")) for name, node in nodes.items()}
    return columns, _dedupe(walker.dataset_sources(scopes))


def _dedupe(pairs: Iterable[tuple[str, str, _Role]]) -> list[Source]:
    best: dict[tuple[str, str, str, str], Source] = {}
    for tbl, col, role in pairs:
        key = (tbl, col, role.type, role.subtype)
        current = best.get(key)
        if current is None or (role.masking and not current.masking):
            best[key] = Source(tbl, col, role.type, role.subtype, role.masking)
    return sorted(best.values())


class _Walker:
    """Turns sqlglot lineage nodes into ``(table, field, role)`` leaves, classifying every edge."""

    def __init__(self, schema: Schema, scopes: dict[int, Scope]) -> None:
        self.schema = schema
        self.scopes = scopes
        self.memo: dict[tuple[int, str], list[tuple[str, str, _Role]]] = {}

    # -- per-column lineage ------------------------------------------------------------------
    def leaves(self, node: Node, suffix: str) -> list[tuple[str, str, _Role]]:
        """Base-table fields feeding ``node`` (``suffix``: the nested path asked of its value)."""
        key = (id(node), suffix)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = []  # a guard against cycles in malformed graphs
        expression = node.expression
        out: list[tuple[str, str, _Role]] = []
        if isinstance(expression, exp.Table):
            column = node.name.rsplit(".", 1)[-1]
            if column != "*":
                out.append((f"{expression.db}.{expression.name}", column + suffix, _ID))
        elif not isinstance(expression, exp.Star):
            for child in node.downstream:
                for role, child_suffix in self._edges(node, child, suffix):
                    if isinstance(child.expression, exp.Placeholder):  # a correlated reference sqlglot left open
                        found = self._correlated(node, child, child_suffix)
                    else:
                        found = self.leaves(child, child_suffix)
                    out.extend((t, c, r.then(role)) for t, c, r in found)
            out.extend(self._subquery_filters(node))
        self.memo[key] = out
        return out

    def _edges(self, node: Node, child: Node, suffix: str) -> list[tuple[_Role, str]]:
        """How ``child`` feeds ``node``: one (role, nested suffix) per reference to it."""
        source = node.source
        if isinstance(source, exp.Unnest):  # the element of an array: its fields are the array's fields
            return [(_Role(DIRECT, TRANSFORMATION), suffix)]
        if isinstance(source, exp.SetOperation) or child.name.isdigit():  # a branch of UNION / INTERSECT
            return [(self._whole(node.expression), suffix if _bare_column(node.expression) else "")]
        root = _unalias(node.expression)
        if "." in child.name:
            alias, column = child.name.split(".", 1)
            refs = [c for c in _columns_in_scope(root) if c.table == alias and c.name == column]
        else:  # the output of a scalar subquery in this select
            refs = [q for q in root.find_all(exp.Subquery) if child.name in q.named_selects]  # type: ignore[misc]
        if not refs:
            return [(self._whole(node.expression), "")]
        edges = []
        for ref in refs:
            top, path = _dot_path(ref)
            role = _classify(top, root)
            edges.append((role, path + (suffix if role.subtype == IDENTITY and top is root else "")))
        return edges

    def _correlated(self, node: Node, child: Node, suffix: str) -> list[tuple[str, str, _Role]]:
        """Resolve ``child`` (``alias.column``, unresolved by sqlglot) from ``node``'s scope outwards."""
        scope = self.scopes.get(id(node.source))
        if scope is None or "." not in child.name:
            return []
        alias, column = child.name.split(".", 1)
        refs = [c for c in node.source.find_all(exp.Column) if c.table == alias and c.name == column][:1]
        return [leaf for ref in refs for leaf in self.resolve(scope, ref, extra=suffix, own_path=False)]

    def _whole(self, expression: exp.Expr) -> _Role:
        root = _unalias(expression)
        if _bare_column(root):
            return _ID
        if any(not _in_window_spec(a) for a in root.find_all(exp.AggFunc)):
            return _Role(DIRECT, AGGREGATION, _masks(root))
        return _Role(DIRECT, TRANSFORMATION, _masks(root))

    def _subquery_filters(self, node: Node) -> list[tuple[str, str, _Role]]:
        """The WHERE of a scalar subquery decides which value a column gets: INDIRECT FILTER."""
        scope = self.scopes.get(id(node.source))
        if scope is None or not scope.is_subquery or not isinstance(node.source, exp.Select):
            return []
        where = node.source.args.get("where")
        if where is None:
            return []
        role = _Role(INDIRECT, FILTER)
        return [(t, c, r.then(role)) for ref in _columns_in_scope(where) for t, c, r in self.resolve(scope, ref)]

    # -- whole-table lineage -----------------------------------------------------------------
    def dataset_sources(self, scopes: list[Scope]) -> list[tuple[str, str, _Role]]:
        """Fields used by WHERE / JOIN / GROUP BY / HAVING / QUALIFY / ORDER BY of the model's scopes."""
        out: list[tuple[str, str, _Role]] = []
        for scope in scopes:
            select = scope.expression
            if scope.is_subquery or scope.is_udtf or not isinstance(select, exp.Select):
                continue
            clauses: list[tuple[exp.Expr | None, str]] = [
                (select.args.get("where"), FILTER), (select.args.get("having"), FILTER),
                (select.args.get("qualify"), FILTER), (select.args.get("group"), GROUP_BY),
                (select.args.get("order"), SORT)]
            clauses += [(join.args.get("on"), JOIN) for join in select.args.get("joins") or []]
            for clause, subtype in clauses:
                if clause is None:
                    continue
                role = _Role(INDIRECT, subtype)
                for ref in _columns_in_scope(clause):
                    out.extend((t, c, r.then(role)) for t, c, r in self.resolve(scope, ref))
        return out

    def resolve(self, scope: Scope, ref: exp.Column, *, extra: str = "",
                own_path: bool = True) -> list[tuple[str, str, _Role]]:
        """The base-table fields behind a column reference made in ``scope`` (correlated ones too).

        ``extra``: a nested path asked of the referenced value; ``own_path``: whether the reference's
        own ``.field`` accesses count (they do for a reference in a clause, not for one already walked).
        """
        from sqlglot.lineage import to_node
        from sqlglot.optimizer.scope import Scope as ScopeClass

        path = (_dot_path(ref)[1] if own_path else "") + extra
        here: Scope | None = scope
        while here is not None and ref.table not in here.sources:
            here = here.parent
        if here is None:
            return []
        source = here.sources[ref.table]
        if isinstance(source, exp.Table):
            return [(f"{source.db}.{source.name}", ref.name + path, _ID)]
        if not isinstance(source, ScopeClass):
            return []
        try:
            node = to_node(ref.name, source, "bigquery", self.schema, scope_name=ref.table, trim_selects=False)
        except (SqlglotError, ValueError):
            return []
        return self.leaves(node, path)


def _unalias(expression: exp.Expr) -> exp.Expr:
    while isinstance(expression, (exp.Alias, exp.Paren)):
        expression = expression.this
    return expression


def _bare_column(expression: exp.Expr) -> bool:
    root = _unalias(expression)
    while isinstance(root, exp.Dot):
        root = root.this
    return isinstance(root, exp.Column)


def _dot_path(ref: exp.Expr) -> tuple[exp.Expr, str]:
    """For ``col.a.b`` (``Dot(Dot(col, a), b)``): the outermost Dot and ``".a.b"``."""
    node, path = ref, ""
    while isinstance(node.parent, exp.Dot) and node.parent.this is node:
        node = node.parent
        path += f".{node.expression.name}"
    return node, path


def _columns_in_scope(root: exp.Expr) -> list[exp.Column]:
    """Column references in ``root`` that belong to its own scope (not to nested subqueries)."""
    out: list[exp.Column] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, exp.Column):
            out.append(node)
            continue
        for child in node.iter_expressions():
            if isinstance(child, (exp.Subquery, exp.Query)) and child is not root:
                continue
            stack.append(child)
    return out


def _in_window_spec(node: exp.Expr) -> bool:
    """Whether ``node`` sits in a window's PARTITION BY / ORDER BY."""
    child, parent = node, node.parent
    while parent is not None:
        if isinstance(parent, exp.Window) and child is not parent.this:
            return True
        child, parent = parent, parent.parent
    return False


def _masks(expression: exp.Expr) -> bool:
    return bool(_MASKING) and any(True for _ in expression.find_all(*_MASKING))


def _classify(ref: exp.Expr, root: exp.Expr) -> _Role:
    """How the value at ``ref`` feeds the value of ``root`` (its select expression, unaliased)."""
    if ref is root:
        return _ID
    aggregated = masked = False
    child, parent = ref, ref.parent
    while parent is not None and child is not root:
        if isinstance(parent, exp.Window) and child is not parent.this:
            return _Role(INDIRECT, WINDOW)
        if isinstance(parent, exp.If) and child is parent.this:
            return _Role(INDIRECT, CONDITIONAL)
        if isinstance(parent, exp.Case) and child is parent.this:  # CASE x WHEN …: x is compared, not copied
            return _Role(INDIRECT, CONDITIONAL)
        if isinstance(parent, exp.AggFunc):
            aggregated = True
        if isinstance(parent, _MASKING):
            masked = True
        child, parent = parent, parent.parent
    return _Role(DIRECT, AGGREGATION if aggregated else TRANSFORMATION, masked)
