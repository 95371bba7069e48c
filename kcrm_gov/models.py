"""Models: one BigQuery-dialect SELECT per non-raw table, analysed with sqlglot (no regex).

From each model's AST: the tables it reads (``layer.table``), its output columns (``SELECT *``
expanded from the contracts), and unknown tables or columns, each reported with the model's
file, line and column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError

from . import LAYERS
from .errors import KcrmGovError, Location
from .sqlerrors import SQL_ERRORS

if TYPE_CHECKING:
    from .contracts import Contract

MODELS_DIR = "models"
MODEL_SUFFIX = ".sql"


class ModelError(KcrmGovError):
    """A model that cannot be parsed or that reads something that does not exist."""

    exit_code = 1


@dataclass
class Model:
    """One model file: ``models/<layer>/<table>.sql``."""

    layer: str
    table: str
    path: Path  # relative to the project root, as shown to people
    file: Path
    sql: str = field(repr=False)
    reference: bool = False  # a reference table: rows from models/<layer>/<table>.csv (see kcrm_gov.reference)
    source_text: str | None = field(default=None, repr=False)  # a reference table's CSV text

    @property
    def qualified_name(self) -> str:
        return f"{self.layer}.{self.table}"

    def location(self, line: int = 0, column: int = 0) -> Location:
        return Location(self.path, line, column)

    @cached_property
    def ast(self) -> exp.Query:
        """The parsed SELECT (BigQuery dialect)."""
        try:
            statements = [s for s in sqlglot.parse(self.sql, read="bigquery") if s is not None]
        except ParseError as exc:
            err = exc.errors[0] if exc.errors else {}
            raise ModelError(f"SQL syntax error: {err.get('description') or exc}",
                             self.location(err.get("line", 0), err.get("col", 0))) from None
        except SQL_ERRORS as exc:  # a tokenizer error, or compiled sqlglot's TypeError: no position
            raise ModelError(f"SQL syntax error: {exc}", self.location(1, 1)) from None
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):
            raise ModelError("a model must be exactly one SELECT statement", self.location(1, 1))
        return statements[0]

    @cached_property
    def refs(self) -> list[str]:
        """The tables the model reads, as ``layer.table``, in order of first appearance.

        A model reads only tables written ``layer.table``, its own CTEs, UNNEST, VALUES and
        subqueries: anything else in a FROM or JOIN (a table function such as ``read_csv`` or
        ``query``, a file name, a bare or three-part name) raises :class:`ModelError` at its line.
        """
        return read_tables(self.ast, self.location)

    def ref_location(self, ref: str) -> Location:
        """Where the model first names ``ref`` (``layer.table``)."""
        return self.location(*_position(_find_table(self.ast, ref)))

    def render(self, table_for: Callable[[str, str], exp.Table]) -> exp.Query:
        """A copy of the AST with every ``layer.table`` replaced by ``table_for(layer, table)``."""

        def swap(node: exp.Expr) -> exp.Expr:
            # CTE references carry no layer, so only real tables match
            if isinstance(node, exp.Table) and node.db in LAYERS and not node.catalog:
                replacement = table_for(node.db, node.name)
                if node.alias:
                    replacement.set("alias", node.args.get("alias"))
                else:  # keep `layer_table.column` style references working: alias by the table name
                    replacement.set("alias", exp.TableAlias(this=exp.to_identifier(node.name)))
                return replacement
            return node

        rendered = self.ast.transform(swap)  # transform() copies the AST first
        assert isinstance(rendered, exp.Query)  # swapping tables keeps the statement a query
        return rendered

    def output_columns(self, contracts: dict[str, Contract]) -> list[str]:
        """The model's output column names, with ``SELECT *`` expanded from the contracts.

        Raises :class:`ModelError` (with line and column) for an unknown column or table.
        """
        from sqlglot.optimizer.qualify import qualify

        schema = schema_of(contracts, self.refs)
        for ref in self.refs:
            if ref not in contracts:
                raise ModelError(f"unknown table '{ref}' (no contract defines it)",
                                 self.location(*_position(_find_table(self.ast, ref))))
        try:
            qualified = qualify(self.ast.copy(), schema=dict(schema), dialect="bigquery",
                                validate_qualify_columns=True, identify=False)
        except OptimizeError as exc:
            line, col = _line_col(str(exc))
            message = str(exc).split(". Line:")[0]
            raise ModelError(f"{message}", self.location(line, col)) from None
        except SQL_ERRORS as exc:
            raise ModelError(str(exc), self.location(1, 1)) from None
        return list(qualified.named_selects)


MESSAGE_FUNCTIONS = frozenset({"ERROR", "RAISE_ERROR"})
"""Functions that put values into an error message (BigQuery ERROR, a DuckDB alias)."""

SourceLocator = Callable[[int, int], Location]
"""Builds the location of a line and column in the SQL's file."""


def read_tables(ast: exp.Expr, where: SourceLocator) -> list[str]:
    """The ``layer.table`` names that ``ast`` reads, in order of first appearance.

    This is the allow-list that keeps a model (or a contract's quality SQL) a pure query over
    the warehouse: every FROM and JOIN source must be a ``layer.table`` of a known layer, a CTE
    of the statement, an UNNEST, a VALUES list or a subquery (whose own sources are checked the
    same way). A table function of either engine (``read_csv``, ``read_text``, ``glob``,
    ``query``, ``EXTERNAL_QUERY``, ``ML.PREDICT``, ``generate_series``...) and a quoted file
    name are refused, not because they are listed but because they are not on the list.
    """
    for call in ast.find_all(exp.Anonymous):
        if str(call.this).upper() in MESSAGE_FUNCTIONS:
            line, col = _position(call)
            raise ModelError(f"{str(call.this).upper()}() is not allowed: it turns row values into error messages, "
                             "which reach logs, run results and lineage events", where(line, col))
    ctes = {cte.alias_or_name for cte in ast.find_all(exp.CTE)}
    found: list[str] = []
    for source in _sources(ast):
        if isinstance(source, (exp.Subquery, exp.Unnest, exp.Values)):
            continue
        if isinstance(source, exp.Lateral) and isinstance(source.this, (exp.Subquery, exp.Unnest)):
            continue
        if not isinstance(source, exp.Table) or not isinstance(source.this, exp.Identifier):
            line, col = _position(source)
            raise ModelError(f"{_describe(source)} is not allowed: a model reads only contracted tables "
                             "(<layer>.<table>), its CTEs, UNNEST and VALUES", where(line, col))
        if not source.db and source.name in ctes:
            continue
        if not source.name or not source.db or source.db not in LAYERS or source.catalog:
            line, col = _position(source)
            shown = exp.table_(source.name, db=source.db or None,
                               catalog=source.catalog or None).sql(dialect="bigquery")
            hint = " (it looks like a file: a model reads only contracted tables)" if not source.db and \
                any(c in source.name for c in "./\\") else ""
            raise ModelError(f"table '{shown}' must be written as <layer>.<table> with a layer of "
                             f"{', '.join(LAYERS)}{hint}", where(line, col))
        name = f"{source.db}.{source.name}"
        if name not in found:
            found.append(name)
    return found


def _sources(ast: exp.Expr) -> list[exp.Expr]:
    """Every relation the statement reads: FROM and JOIN sources and any table node, wherever
    it hides (an UNNEST of a subquery, a function argument, a PIVOT)."""
    out: list[exp.Expr] = []
    seen: set[int] = set()
    for node in ast.walk():
        candidate = None
        if isinstance(node, (exp.From, exp.Join)):
            candidate = node.this
        elif isinstance(node, (exp.Table, exp.Lateral)):
            candidate = node
        if candidate is not None and id(candidate) not in seen:
            seen.add(id(candidate))
            out.append(candidate)
    return out


def _describe(node: exp.Expr) -> str:
    """How a refused FROM source is named in the message."""
    inner = node.this if isinstance(node, (exp.Table, exp.Lateral)) else node
    if isinstance(inner, exp.Func):
        name = inner.sql_name() if not isinstance(inner, exp.Anonymous) else str(inner.this)
        return f"table function {name.lower()}(…)"
    if isinstance(inner, exp.Literal):
        return f"reading the file {inner.sql(dialect='bigquery')}"
    return f"'{node.sql(dialect='bigquery')[:80]}'"


def schema_of(contracts: dict[str, Contract], refs: list[str]) -> dict[str, dict[str, dict[str, str]]]:
    """A sqlglot schema mapping ``{layer: {table: {column: BigQuery type}}}`` for ``refs``."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for ref in refs:
        contract = contracts.get(ref)
        if contract is None:
            continue
        out.setdefault(contract.layer, {})[contract.table] = {c.name: c.bigquery_type for c in contract.columns}
    return out


def _find_table(ast: exp.Expr, ref: str) -> exp.Expr | None:
    layer, table = ref.split(".", 1)
    return next((t for t in ast.find_all(exp.Table) if t.db == layer and t.name == table), None)


def _position(node: exp.Expr | None) -> tuple[int, int]:
    if node is None:
        return 0, 0
    for candidate in node.walk():
        meta = candidate.meta
        if "line" in meta:
            width = meta.get("end", 0) - meta.get("start", 0)
            return meta["line"], max(1, meta["col"] - width)
    return 0, 0


def _line_col(message: str) -> tuple[int, int]:
    import re

    found = re.search(r"Line: (\d+), Col: (\d+)", message)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def load_models(root: Path, contracts: dict[str, Contract] | None = None) -> dict[str, Model]:
    """Every ``models/<layer>/<table>.sql`` and reference ``.csv`` under ``root``, by ``layer.table``.

    A reference file's SQL is generated from its rows, typed by its contract in ``contracts``.
    """
    from .reference import REFERENCE_SUFFIX, ReferenceError, reference_sql

    folder = root / MODELS_DIR
    models: dict[str, Model] = {}
    if not folder.is_dir():
        return models
    files = sorted([*folder.rglob(f"*{MODEL_SUFFIX}"), *folder.rglob(f"*{REFERENCE_SUFFIX}")])
    for file in files:
        rel = file.relative_to(root)
        layer, table = file.parent.name, file.stem
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"cannot read the model: {exc}", Location(rel)) from None
        reference = file.suffix == REFERENCE_SUFFIX
        source_text = text if reference else None
        if reference:
            try:
                text = reference_sql(rel, text, (contracts or {}).get(f"{layer}.{table}"))
            except ReferenceError as exc:
                raise ModelError(exc.message, exc.location) from None
        model = Model(layer=layer, table=table, path=rel, file=file, sql=text, reference=reference,
                      source_text=source_text)
        if model.qualified_name in models:
            raise ModelError(f"{model.qualified_name} is defined twice ({models[model.qualified_name].path} "
                             f"and {rel}): keep one model file per table", Location(rel))
        models[model.qualified_name] = model
    return models
