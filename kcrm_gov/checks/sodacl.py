"""SodaCL v3 checks generated from a contract: ``checks for <table>:``, one file per table.

Every check carries a ``name:`` that says which contract rule it comes from (``required:
deal_id``, ``reference: owner_id -> hubspot__owners.owner_id``, ``quality: churn_type #1``...),
so scan results map back to the contract (:class:`CheckSpec` keeps the kind, column and the
line of the rule in the contract file).

What a contract turns into is :data:`CHECK_TABLE` (the docs' table, docs/governance/checks.md,
is generated from it by ``kcrm-gov generate docs``).

**Contract text is never evaluated.** Values (allowed values, patterns, date bounds) reach the
checks only as SQL literals built by sqlglot (:mod:`kcrm_gov.escape`), never as Soda's own
``valid values`` / ``valid regex``, which Soda pastes into SQL unescaped; any contract string
holding template syntax (``${``, ``{{``, ``{%``, ``{#``) is refused, because Soda renders check
text with Jinja; a ``type: sql`` rule is held to the same allow-list as a model (one SELECT over
contracted tables, no table function, no ``ERROR()``).

**Table names.** Checks name a table by its bare name (``checks for hubspot__deals:``) and
are scanned against a data source per layer whose ``schema`` (DuckDB) or ``dataset``
(BigQuery) is the layer's, so one file serves any dataset prefix, and reference checks
(same layer) resolve in the same data source. Only the SQL of ``type: sql`` rules has to
name the table itself: ``${table}`` is replaced with the table's qualified name on the target
the checks are generated for (the committed files: the project's DuckDB target).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sqlglot import exp

from .. import LAYERS, typemap
from ..cache import cache_key, cached, load
from ..config import Target
from ..errors import ContractError, KcrmGovError, Location
from ..escape import OWN_PLACEHOLDER, TemplateSyntaxRefused, soda_text, sql_literal, template_marker
from ..identifiers import identifier_problem

if TYPE_CHECKING:
    from ..contracts import Column, Contract
    from ..project import Project

CHECK_TABLE: tuple[tuple[str, str], ...] = (
    ("the columns and their types", "`schema`: fails when a column is missing or its type differs from the "
     "contract's, spelled as the engine's information schema reports it"),
    ("the table", "`row_count > 0`"),
    ("`required: true`", "`missing_count(col) = 0`"),
    ("`primaryKey` (one or more columns)", "`duplicate_count(a, b) = 0`"),
    ("`unique: true`", "`duplicate_count(col) = 0`"),
    ("`enum` / customProperty `allowedValues`", "`failed rows` with `fail condition: NOT col IS NULL AND NOT col IN "
     "('a', 'b')`: the values as SQL literals (never Soda's `valid values`, which it pastes into SQL unescaped)"),
    ("`logicalTypeOptions.pattern` (or customProperty `pattern`)", "`failed rows`: `NOT REGEXP_MATCHES(col, "
     "'<pattern>')` on DuckDB, `REGEXP_CONTAINS` on BigQuery (a search: anchor it with `^…$`)"),
    ("`minimum` / `maximum`", "`valid min` / `valid max`; on dates and timestamps (an ISO date or timestamp) a "
     "`failed rows` condition `col < '<bound>'`"),
    ("`minLength` / `maxLength`", "`valid min length` / `valid max length`"),
    ("`relationships` (same layer)", "`values in (col) must exist in <table> (<col>)`"),
    ("`required` / allowed values of a nested field (STRUCT, ARRAY&lt;STRUCT&gt;)", "`failed rows` in the engine's "
     "nested SQL (`EXISTS (SELECT 1 FROM UNNEST(…))` for arrays); a required field is missing only where its "
     "parent is present"),
    ("the `freshness` SLA", "`freshness(<element>)`: fail after the SLA's value, warn after its `warnAfter`"),
    ("`quality` rules of `type: library`", "`nullValues` → `missing_count`, `duplicateValues` → `duplicate_count`, "
     "`rowCount` → `row_count` (`unit: percent` → the `_percent` metric); `missingValues` / `invalidValues` "
     "(value lists, patterns) → `failed rows` when none may match, else a metric `query` counting them"),
    ("`quality` rules of `type: sql`", "`SELECT COUNT(*) FROM ${table} WHERE …` with `mustBe: 0` → `failed rows` "
     "(sample rows of the breach); any other query → a user-defined metric; the query may read only contracted "
     "tables, as a model"),
    ("customProperty `failedRowsQuery` of a `type: sql` rule", "no SodaCL: the rule stays a user-defined metric, and "
     "`kcrm-gov test` runs the query when the check fails or warns, keeping its first 20 rows and their count; it "
     "may show only key columns (primary, unique, foreign keys, `*_id` / `*_key`) and counts, never a classified "
     "column (lint KG021)"),
    ("`quality` rules of `type: custom, engine: soda`", "the `implementation` as written, when it carries no SQL"),
    ("`severity`", "`error` (the default) fails the run; `warning` / `info` only warn"),
)
"""What each contract element turns into, as ``(in the contract, the generated SodaCL check)``:
the one description of the generator, rendered into the docs."""

CHECKS_DIR = "checks"
GENERATED_MARK = "# Generated by kcrm-gov from "
ENGINE_KINDS = ("duckdb", "bigquery")
FAIL, WARN = "fail", "warn"

_WARN_SEVERITIES = {"warn", "warning", "info", "low", "minor"}
_OPERATORS = (("mustBe", "="), ("mustNotBe", "!="), ("mustBeGreaterThan", ">"),
              ("mustBeGreaterOrEqualTo", ">="), ("mustBeLessThan", "<"), ("mustBeLessOrEqualTo", "<="),
              ("mustBeBetween", "between"), ("mustNotBeBetween", "not between"))
_NEGATION = {"=": "!=", "!=": "=", ">": "<=", ">=": "<", "<": ">=", "<=": ">",
             "between": "not between", "not between": "between"}


class CheckGenerationError(KcrmGovError):
    """A contract rule that cannot be turned into a SodaCL check (names the contract line)."""


@dataclass(frozen=True)
class CheckSpec:
    """One generated check and the contract rule it comes from."""

    name: str  # the SodaCL ``name:``, unique within the table
    kind: str  # schema, row_count, required, primary_key, unique, allowed_values, pattern, min, max,
    #           min_length, max_length, reference, freshness, quality
    columns: tuple[str, ...]  # the columns it is about (empty for table-level checks)
    rule: str  # the contract element it implements, e.g. "schema[0].properties[3].required"
    line: int  # the line of that element in the contract file
    severity: str  # fail | warn
    key: str  # the SodaCL check line (``missing_count(deal_id) = 0``)
    config: dict[str, Any] = field(default_factory=dict)
    references: str | None = None  # reference checks: the table (same layer) they read
    description: str = ""
    # ``type: sql`` rules with a failed-rows query (:mod:`.failed_rows`): its target SQL, as (the first
    # rows, their count); run by ``kcrm-gov test`` when the check fails or warns
    failed_rows: tuple[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "columns": list(self.columns), "rule": self.rule,
                "line": self.line, "severity": self.severity, "description": self.description}


@dataclass
class TableChecks:
    """The checks of one contract's table for one engine."""

    contract: Contract
    engine: str
    specs: list[CheckSpec]

    @property
    def table(self) -> str:
        return self.contract.table

    @property
    def qualified_name(self) -> str:
        return self.contract.qualified_name

    def spec(self, name: str) -> CheckSpec | None:
        return next((s for s in self.specs if s.name == name), None)

    @functools.cached_property
    def text(self) -> str:
        """The SodaCL file: a header, then ``checks for <table>:``."""
        c = self.contract
        header = (
            f"{GENERATED_MARK}{c.path.as_posix()} ({c.id}, version {c.version}).\n"
            "# Do not edit: change the contract and run `kcrm-gov generate checks`.\n"
            f"# SodaCL v3 for {self.engine}; scan it with a data source whose "
            f"{'schema' if self.engine == 'duckdb' else 'dataset'} holds the {c.layer} layer.\n"
        )
        items = []
        for s in self.specs:
            config = {"name": s.name, **s.config}
            items.append({s.key: config})
        body = yaml.dump({f"checks for {c.table}": items}, Dumper=_Dumper, sort_keys=False,
                         default_flow_style=False, allow_unicode=True, width=4096)
        return header + body


class _Dumper(yaml.SafeDumper):
    """Block style everywhere, multi-line strings as ``|`` blocks, lists indented."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_BREAKS = ("\r", "\x85", "\u2028", "\u2029")
"""Characters YAML reads as line breaks: in a plain, single-quoted or block scalar they are
normalised on loading, so a string holding one is written double-quoted (escaped)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if any(c in value for c in _BREAKS) or (not value.isprintable() and any(
            not c.isprintable() and c not in "\n\t" for c in value)):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    if "\n" in value and value == value.rstrip():  # a block reads back exactly: no trailing whitespace
        return dumper.represent_scalar("tag:yaml.org,2002:str", value + "\n", style="|")
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


# --- helpers ------------------------------------------------------------------------------------
def check_path(contract: Contract) -> Path:
    """``checks/<layer>/<table>.yml`` (relative to the project root)."""
    return Path(CHECKS_DIR) / contract.layer / f"{contract.table}.yml"


def _number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _literal(value: Any) -> str:
    value = _number(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} is not a number")
    return str(value)


def _severity(rule: dict[str, Any]) -> str:
    return WARN if str(rule.get("severity") or "").strip().lower() in _WARN_SEVERITIES else FAIL


def _threshold(rule: dict[str, Any], where: Location) -> tuple[str, str]:
    """``(operator, value text)`` of an ODCS rule's comparison (mustBe, mustBeBetween...)."""
    found = [(key, op) for key, op in _OPERATORS if rule.get(key) is not None]
    if len(found) != 1:
        raise CheckGenerationError("a quality rule needs exactly one of "
                                   + ", ".join(k for k, _ in _OPERATORS), where)
    key, op = found[0]
    value = rule[key]
    try:
        if op.endswith("between"):
            low, high = sorted(_number(v) for v in value)
            return op, f"{_literal(low)} and {_literal(high)}"
        return op, _literal(value)
    except (TypeError, ValueError):
        raise CheckGenerationError(f"{key}: {value!r} is not a number (or a pair of numbers)", where) from None


def _metric_check(metric: str, op: str, value: str, severity: str) -> tuple[str, dict[str, Any]]:
    """A metric check as SodaCL: ``metric op value`` to fail, or ``metric`` with ``warn: when …``."""
    if severity == FAIL:
        return f"{metric} {op} {value}", {}
    return metric, {"warn": f"when {_NEGATION[op]} {value}"}


def _relation(target: Target, layer: str, table: str) -> exp.Table:
    """The table's qualified name in the target's SQL (what ``${table}`` becomes)."""
    if target.type == "bigquery":
        return exp.table_(table, db=target.dataset(layer), catalog=target.project, quoted=True)
    return exp.table_(table, db=target.dataset(layer))


def engine_types(contracts: list[Contract], kind: str) -> dict[str, dict[str, str]]:
    """Column types as the engine's information schema spells them (what Soda's schema check
    compares): DuckDB's from DuckDB itself (``typeof`` of a NULL cast to each distinct DDL type,
    the same rendering its information schema uses, in one query), BigQuery's through the type
    map. Keyed by ``layer.table``, then column."""
    if kind == "bigquery":
        return {c.qualified_name: {col.name: typemap.to_bigquery(col.data_type) for col in c.columns}
                for c in contracts}
    import duckdb

    from ..engines.duckdb import harden

    distinct = sorted({col.duckdb_type for c in contracts for col in c.columns})
    con = duckdb.connect(":memory:")
    try:
        harden(con)  # the types are rendered from parsed contracts, but nothing here needs files either
        row = con.execute("SELECT " + ", ".join(f"lower(typeof(CAST(NULL AS {t})))" for t in distinct)).fetchone() \
            if distinct else ()
    finally:
        con.close()
    spelled = dict(zip(distinct, row or (), strict=True))
    return {c.qualified_name: {col.name: spelled[col.duckdb_type] for col in c.columns} for c in contracts}


# --- the generator ------------------------------------------------------------------------------
class _Builder:
    """Collects the checks of one contract, in a fixed order.

    Every contract value that reaches the SodaCL goes in as a SQL literal built by sqlglot
    (:func:`kcrm_gov.escape.sql_literal`) inside a ``fail condition`` or a metric ``query``, never
    through Soda's own ``valid values`` / ``valid regex`` (Soda pastes those into SQL unescaped),
    and every contract string is refused when it holds template syntax (Soda renders check text
    with Jinja). Identifiers are checked to be plain names before they are written.
    """

    def __init__(self, contract: Contract, target: Target, types: dict[str, str], project: Project | None):
        self.contract = contract
        self.target = target
        self.types = types
        self.project = project
        self.specs: list[CheckSpec] = []
        self.metric_names: set[str] = set()
        self.relation = _relation(target, contract.layer, contract.table)

    def add(self, name: str, kind: str, columns: tuple[str, ...], path: tuple[str | int, ...], severity: str,
            key: str, config: dict[str, Any] | None = None, description: str = "",
            references: str | None = None, failed_rows: tuple[str, str] | None = None) -> None:
        if any(s.name == name for s in self.specs):
            n = 2
            while any(s.name == f"{name} ({n})" for s in self.specs):
                n += 1
            name = f"{name} ({n})"
        rule = _rule_text(path)
        line = self.contract.location(*path).line
        self.specs.append(CheckSpec(name=name, kind=kind, columns=columns, rule=rule, line=line, severity=severity,
                                    key=key, config=config or {}, description=description, references=references,
                                    failed_rows=failed_rows))

    def where(self, *path: str | int) -> Location:
        return self.contract.location(*path)

    def text(self, value: Any, *path: str | int) -> str:
        """A contract string for the SodaCL file (:func:`kcrm_gov.escape.soda_text`)."""
        try:
            return soda_text(str(value))
        except TemplateSyntaxRefused as exc:
            raise CheckGenerationError(str(exc), self.where(*path)) from None

    def sql(self, node: exp.Expr) -> str:
        """A condition or query built as a sqlglot tree, in the target's SQL."""
        return node.sql(dialect=self.target.type)

    def literals(self, values: Any, *path: str | int) -> list[exp.Expr]:
        """A contract's list of values as SQL literal nodes."""
        if not isinstance(values, list | tuple):
            raise CheckGenerationError(f"expected a list of values, not {type(values).__name__}", self.where(*path))
        out = []
        for value in values:
            self.text(value, *path) if isinstance(value, str) else None
            try:
                out.append(sql_literal(value))
            except ValueError as exc:
                raise CheckGenerationError(f"value {exc}", self.where(*path)) from None
        return out

    def identifiers(self) -> None:
        """Table and column names are plain identifiers before any is written into a check (lint
        says so too, as KG001 and KG011, but `test` may run on a contract lint never saw)."""
        problem = identifier_problem(self.contract.table)
        if problem:
            raise CheckGenerationError(f"table name {self.contract.table!r} {problem}", self.where())
        for _, col in self.contract.all_columns():
            problem = identifier_problem(col.name)
            if problem:
                raise CheckGenerationError(f"column name {col.name!r} {problem}", self.where(*col.yaml_path, "name"))

    # table-level -------------------------------------------------------------------------------
    def schema(self) -> None:
        c = self.contract
        columns = [col.name for col in c.columns]
        types = {name: self.types[name] for name in columns if name in self.types}
        self.add("schema", "schema", (), ("schema", 0, "properties"), FAIL, "schema",
                 {"fail": {"when required column missing": columns, "when wrong column type": types}},
                 f"The table has every column of the contract, with the {self.target.type} type it declares.")
        self.add("row_count", "row_count", (), ("schema", 0), FAIL, "row_count > 0", {}, "The table is not empty.")

    def keys(self) -> None:
        c = self.contract
        for col in c.columns:
            if col.required:
                self.add(f"required: {col.name}", "required", (col.name,), (*col.yaml_path, "required"), FAIL,
                         f"missing_count({col.name}) = 0", {}, f"{col.name} is required: no NULLs.")
        pk = c.primary_key
        if pk:
            first = c.column(pk[0])
            path = (*first.yaml_path, "primaryKey") if first else ("schema", 0)
            self.add(f"primary_key: {', '.join(pk)}", "primary_key", tuple(pk), path, FAIL,
                     f"duplicate_count({', '.join(pk)}) = 0", {},
                     f"The primary key ({', '.join(pk)}) identifies one row.")
        for col in c.columns:
            if col.unique and pk != [col.name]:
                self.add(f"unique: {col.name}", "unique", (col.name,), (*col.yaml_path, "unique"), FAIL,
                         f"duplicate_count({col.name}) = 0", {}, f"{col.name} is unique.")

    def column_values(self) -> None:
        for col in self.contract.columns:
            options = col.options
            column = exp.column(col.name)
            if col.allowed_values:
                path = col.allowed_values_path
                condition = exp.and_(exp.not_(column.is_(exp.null())),
                                     exp.not_(column.isin(*self.literals(list(col.allowed_values), *path))))
                self.add(f"allowed_values: {col.name}", "allowed_values", (col.name,), path, FAIL, "failed rows",
                         {"fail condition": self.sql(condition)}, f"{col.name} is one of the allowed values.")
            pattern = col.pattern
            if pattern:
                path = col.pattern_path
                regex = self.text(pattern, *path)
                condition = exp.and_(exp.not_(column.is_(exp.null())),
                                     exp.not_(exp.RegexpLike(this=column, expression=sql_literal(regex))))
                self.add(f"pattern: {col.name}", "pattern", (col.name,), path, FAIL, "failed rows",
                         {"fail condition": self.sql(condition)}, f"{col.name} matches {regex}.")
            temporal = typemap.logical_type_of(col.data_type) in ("date", "timestamp")
            for option, kind, soda, op in (("minimum", "min", "valid min", exp.LT),
                                           ("maximum", "max", "valid max", exp.GT)):
                value = options.get(option)
                if value is None:
                    continue
                path = (*col.yaml_path, "logicalTypeOptions", option)
                bound = ">=" if op is exp.LT else "<="
                if temporal:
                    limit = sql_literal(_iso_bound(value, col.name, option, self.where(*path)))
                    self.add(f"{kind}: {col.name}", kind, (col.name,), path, FAIL, "failed rows",
                             {"fail condition": self.sql(op(this=column, expression=limit))},
                             f"{col.name} {bound} {value}.")
                else:
                    try:
                        number = _literal(value)
                    except ValueError:
                        raise CheckGenerationError(f"logicalTypeOptions.{option} of column '{col.name}' must be a "
                                                   f"number, not {value!r}", self.where(*path)) from None
                    self.add(f"{kind}: {col.name}", kind, (col.name,), path, FAIL,
                             f"invalid_count({col.name}) = 0", {soda: _number(value)},
                             f"{col.name} {bound} {number}.")
            for option, kind, soda in (("minLength", "min_length", "valid min length"),
                                       ("maxLength", "max_length", "valid max length")):
                value = options.get(option)
                if value is None:
                    continue
                path = (*col.yaml_path, "logicalTypeOptions", option)
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise CheckGenerationError(f"logicalTypeOptions.{option} of column '{col.name}' must be a "
                                               "non-negative integer", self.where(*path))
                self.add(f"{kind}: {col.name}", kind, (col.name,), path, FAIL, f"invalid_count({col.name}) = 0",
                         {soda: value}, f"{col.name} is at {'least' if kind == 'min_length' else 'most'} "
                         f"{value} characters long.")

    def nested(self) -> None:
        """``required`` and allowed values of nested fields (STRUCT members and ARRAY<STRUCT>
        elements, at any depth) as failed-rows checks: Soda's column metrics name top-level columns
        only. A required field is missing when its parent is present and it is NULL."""
        for top in self.contract.columns:
            for steps in _nested_paths([top]):
                leaf, dotted = steps[-1], ".".join(s.name for s in steps)
                rules: list[tuple[str, tuple[str | int, ...], str, Predicate]] = []
                if leaf.required:
                    rules.append(("required", (*leaf.yaml_path, "required"), f"{dotted} is required: no NULLs "
                                  "where its parent is present.", lambda value, parent: exp.and_(
                                      exp.not_(parent.copy().is_(exp.null())), value.copy().is_(exp.null()))))
                if leaf.allowed_values:
                    allowed = self.literals(list(leaf.allowed_values), *leaf.allowed_values_path)

                    def not_allowed(value: exp.Expr, parent: exp.Expr, allowed: list[exp.Expr] = allowed) -> exp.Expr:
                        return exp.and_(exp.not_(value.copy().is_(exp.null())),
                                        exp.not_(value.copy().isin(*(a.copy() for a in allowed))))

                    rules.append(("allowed_values", leaf.allowed_values_path, f"{dotted} is one of the allowed "
                                  "values.", not_allowed))
                for kind, path, description, predicate in rules:
                    bigquery = exp.select(exp.Count(this=exp.Star())).from_(self.relation.copy()) \
                        .where(_nested_condition(steps, predicate)).sql(dialect="bigquery")
                    condition = _count_where(self._target_sql(bigquery, self.where(*path)), self.target.type,
                                             self.relation)
                    self.add(f"{kind}: {dotted}", kind, (top.name,), path, FAIL, "failed rows",
                             {"fail condition": condition}, description)

    def references(self) -> None:
        c = self.contract
        for col in c.columns:
            for i, ref in enumerate(col.references):
                parts = ref.split(".")
                if len(parts) == 3 and parts[0] == c.layer:
                    parts = parts[1:]
                if len(parts) != 2:
                    continue  # another layer: lint (KG012) refuses it; Soda cannot join across data sources
                table, column = parts
                path = (*col.yaml_path, "relationships", i, "to")
                for name in (table, column):
                    problem = identifier_problem(name)
                    if problem:
                        raise CheckGenerationError(f"relationship target {ref!r}: {name!r} {problem}",
                                                   self.where(*path))
                self.add(f"reference: {col.name} -> {table}.{column}", "reference", (col.name,), path, FAIL,
                         f"values in ({col.name}) must exist in {table} ({column})", {},
                         f"Every non-null {col.name} exists in {c.layer}.{table}.{column}.", references=table)

    def freshness(self) -> None:
        c = self.contract
        try:
            sla = c.freshness
        except ContractError as exc:
            raise CheckGenerationError(exc.message, exc.location) from None
        if sla is None:
            return
        if sla.element is None:
            return  # the table's last modification: measured by `kcrm-gov freshness`, not by a SodaCL check
        path = ("slaProperties", sla.index)
        column, fail = sla.element, sla.duration()
        if sla.warn_hours is None:
            key, config = f"freshness({column}) < {fail}", {}
        else:
            key, config = f"freshness({column})", {"warn": f"when > {sla.duration(sla.warn_hours)}",
                                                   "fail": f"when > {fail}"}
        self.add(f"freshness: {column}", "freshness", (column,), path, FAIL, key, config,
                 f"The newest {column} is less than {fail} old"
                 + (f" (a warning after {config['warn'][7:]})." if config else "."))

    # contract quality rules --------------------------------------------------------------------
    def quality(self) -> None:
        c = self.contract
        for col in c.columns:
            for i, rule in enumerate(col.quality):
                self.rule(rule, col, (*col.yaml_path, "quality", i), i + 1)
        for i, rule in enumerate(c.table_quality):
            self.rule(rule, None, ("schema", 0, "quality", i), i + 1)

    def rule(self, rule: dict[str, Any], col: Column | None, path: tuple[str | int, ...], number: int) -> None:
        kind = str(rule.get("type") or ("library" if rule.get("metric") or rule.get("rule") else "")).lower()
        label_key = "name" if rule.get("name") else "id"
        label = rule.get(label_key)
        # a check name is one line: whitespace in the rule's name is folded
        label = " ".join(self.text(label, *path, label_key).split()) if label else ""
        name = f"quality: {col.name if col else 'table'} #{number}" + (f" {label}" if label else "")
        description = str(rule.get("description") or "").strip()
        severity = _severity(rule)
        where = self.where(*path)
        from .failed_rows import failed_rows_text

        if kind != "sql" and failed_rows_text(rule) is not None:
            raise CheckGenerationError("a failed-rows query belongs to a `type: sql` rule", where)
        if kind == "text":
            return  # prose for people: nothing to run
        if kind == "library" or (not kind and rule.get("metric")):
            metric = str(rule.get("metric") or rule.get("rule") or "")
            self.library(metric, rule, col, path, name, severity, description, where)
        elif kind == "sql":
            self.sql_rule(rule, col, path, name, severity, description, where)
        elif kind == "custom":
            self.custom(rule, col, path, name, severity, description, where)
        else:
            raise CheckGenerationError(f"quality rule type {kind or '(none)'!r} is not supported "
                                       "(library, sql, custom or text)", where)

    def library(self, metric: str, rule: dict[str, Any], col: Column | None, path: tuple[str | int, ...],
                name: str, severity: str, description: str, where: Location) -> None:
        args = rule.get("arguments") or {}
        percent = str(rule.get("unit") or "").lower() == "percent"
        op, value = _threshold(rule, where)
        columns: tuple[str, ...] = (col.name,) if col else ()
        if metric == "rowCount":
            soda = "row_count"
        elif metric == "duplicateValues":
            if not col:
                names = args.get("properties") or args.get("columns")
                if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                    raise CheckGenerationError("a table-level duplicateValues rule needs arguments.properties "
                                               "(a list of column names)", where)
                unknown = [n for n in names if self.contract.column(n) is None]
                if unknown:
                    raise CheckGenerationError(f"duplicateValues names unknown columns: {', '.join(unknown)}", where)
                columns = tuple(names)
            soda = f"duplicate_{'percent' if percent else 'count'}({', '.join(columns)})"
        elif metric == "nullValues":
            if not col:
                raise CheckGenerationError(f"{metric} is a column rule: put it under the column's `quality`", where)
            soda = f"missing_{'percent' if percent else 'count'}({col.name})"
        elif metric in ("missingValues", "invalidValues"):
            if not col:
                raise CheckGenerationError(f"{metric} is a column rule: put it under the column's `quality`", where)
            condition = self.value_condition(metric, col, args, path)
            self.count_check(name, columns, path, severity, description, condition, op, value, percent)
            return
        else:
            raise CheckGenerationError(f"library metric {metric!r} is not supported (nullValues, missingValues, "
                                       "invalidValues, duplicateValues, rowCount)", where)
        key, extra = _metric_check(soda, op, value, severity)
        self.add(name, "quality", columns, path, severity, key, extra, description)

    def value_condition(self, metric: str, col: Column, args: dict[str, Any],
                        path: tuple[str | int, ...]) -> exp.Expr:
        """The condition that makes a row count for ``missingValues`` / ``invalidValues``, with
        Soda's meaning: NULL is missing, a missing value is never invalid."""
        column = exp.column(col.name)
        here = (*path, "arguments")
        if metric == "missingValues":
            listed = [v for v in args.get("missingValues") or [] if v is not None]
            if not listed:
                return column.is_(exp.null())
            return exp.or_(column.is_(exp.null()), column.isin(*self.literals(listed, *here, "missingValues")))
        parts: list[exp.Expr] = []
        if args.get("validValues") is not None:
            valid = self.literals(args["validValues"], *here, "validValues")
            parts.append(exp.not_(column.isin(*valid)) if valid else exp.true())
        if args.get("invalidValues"):
            parts.append(column.isin(*self.literals(args["invalidValues"], *here, "invalidValues")))
        if args.get("pattern"):
            regex = self.text(args["pattern"], *here, "pattern")
            parts.append(exp.not_(exp.RegexpLike(this=column, expression=sql_literal(regex))))
        if not parts:
            raise CheckGenerationError("invalidValues needs arguments.validValues, invalidValues or pattern",
                                       self.where(*path))
        return exp.and_(exp.not_(column.is_(exp.null())), exp.or_(*parts) if len(parts) > 1 else parts[0])

    def count_check(self, name: str, columns: tuple[str, ...], path: tuple[str | int, ...], severity: str,
                    description: str, condition: exp.Expr, op: str, value: str, percent: bool) -> None:
        """Rows matching ``condition``, compared as the rule says: ``failed rows`` (with samples)
        when none may match, else a metric whose query counts them (or their percentage)."""
        if (op, value, severity, percent) == ("=", "0", FAIL, False):
            self.add(name, "quality", columns, path, severity, "failed rows", {"fail condition": self.sql(condition)},
                     description)
            return
        if percent:
            matched = exp.Count(this=exp.If(this=condition, true=exp.Literal.number(1)))
            measure = exp.func("COALESCE", exp.Div(this=exp.Mul(this=exp.Literal.number("100.0"), expression=matched),
                                                   expression=exp.func("NULLIF", exp.Count(this=exp.Star()),
                                                                       exp.Literal.number(0))),
                               exp.Literal.number(0))
            query = exp.select(measure).from_(self.relation.copy())
        else:
            query = exp.select(exp.Count(this=exp.Star())).from_(self.relation.copy()).where(condition)
        self.metric(name, columns, path, severity, description, self.sql(query), op, value)

    def metric(self, name: str, columns: tuple[str, ...], path: tuple[str | int, ...], severity: str,
               description: str, query: str, op: str, value: str, *,
               failed_rows: tuple[str, str] | None = None) -> None:
        """A user-defined metric: ``<metric> query`` and a threshold on it."""
        metric = re.sub(r"[^a-z0-9_]", "_", f"rule_{columns[0] if columns else 'table'}_{path[-1]}".lower())
        while metric in self.metric_names:
            metric += "_"
        self.metric_names.add(metric)
        key, extra = _metric_check(metric, op, value, severity)
        self.add(name, "quality", columns, path, severity, key, {f"{metric} query": query, **extra}, description,
                 failed_rows=failed_rows)

    def sql_rule(self, rule: dict[str, Any], col: Column | None, path: tuple[str | int, ...], name: str,
                 severity: str, description: str, where: Location) -> None:
        """A ``type: sql`` rule: one SELECT over contracted tables (the same allow-list as a model),
        ``${table}`` for this table, written in BigQuery SQL and translated for the target."""
        query = rule.get("query")
        if not isinstance(query, str) or not query.strip():
            raise CheckGenerationError("a `type: sql` rule needs a `query`", where)
        at = self.where(*path, "query")
        tree, refs = parse_rule_query(query, self.contract, self.project, col, at)
        bigquery_sql = target_tree(tree, refs, self.target).sql(dialect="bigquery")
        failed_rows = self.failed_rows(rule, col, path)
        op, value = _threshold(rule, where)
        columns = (col.name,) if col else ()
        sql = self._target_sql(bigquery_sql, at)
        # a rule with its own failed-rows query stays a metric: Soda's failed-rows check would sample every
        # column of the table, the companion query shows only the keys
        condition = _count_where(sql, self.target.type, self.relation) \
            if (op, value, severity) == ("=", "0", FAIL) and failed_rows is None else None
        if condition is not None:
            self.add(name, "quality", columns, path, severity, "failed rows", {"fail condition": condition},
                     description)
            return
        self.metric(name, columns, path, severity, description, sql, op, value, failed_rows=failed_rows)

    def failed_rows(self, rule: dict[str, Any], col: Column | None,
                    path: tuple[str | int, ...]) -> tuple[str, str] | None:
        """The rule's failed-rows query (:mod:`.failed_rows`), vetted, as ``(rows, count)`` SQL of the
        target; None when the rule has none."""
        from .failed_rows import FailedRowsError, failed_rows_text, vet_failed_rows

        text = failed_rows_text(rule)
        if text is None:
            return None
        at = self.where(*path, "customProperties")
        try:
            vetted = vet_failed_rows(text, self.contract, self.project, col, at)
        except FailedRowsError as exc:
            raise CheckGenerationError(exc.message, at) from None
        rows, count = vetted.wrapped(self.target)
        return self._target_sql(rows, at), self._target_sql(count, at)

    def custom(self, rule: dict[str, Any], col: Column | None, path: tuple[str | int, ...], name: str,
               severity: str, description: str, where: Location) -> None:
        """A ``type: custom`` rule for ``engine: soda``: one SodaCL check written out in the
        contract. It may not carry SQL (a query, a condition, an expression): write SQL as a
        ``type: sql`` rule, whose query kcrm-gov checks reads only contracted tables."""
        if str(rule.get("engine") or "").lower() != "soda":
            return  # another engine's rule (great-expectations, dbt...): not ours to run
        implementation = rule.get("implementation")
        at = self.where(*path, "implementation")
        if isinstance(implementation, str):
            from ..yamlsource import parse_yaml

            try:  # bounded like every YAML kcrm-gov reads: no aliases, no depth bombs
                implementation = parse_yaml(implementation, self.contract.path).data
            except KcrmGovError as exc:
                raise CheckGenerationError(f"the soda implementation is not YAML: {exc.message}", at) from None
        if isinstance(implementation, str):
            implementation = {implementation: {}}
        if not isinstance(implementation, dict) or len(implementation) != 1:
            raise CheckGenerationError("a soda implementation must be one SodaCL check (a string or a mapping "
                                       "with one key)", at)
        ((key, config),) = implementation.items()
        config = dict(config or {}) if isinstance(config, dict) else None
        if config is None:
            raise CheckGenerationError("a soda implementation's configuration must be a mapping", at)
        for text in _strings([key, config]):
            self.text(text, *path, "implementation")
        sql_keys = [k for k in _keys([key, config]) if any(w in k.lower() for w in _SQL_WORDS)]
        if sql_keys or str(key).strip().lower().startswith("failed rows"):
            raise CheckGenerationError(f"a custom soda check may not carry SQL ({', '.join(sql_keys) or key}): "
                                       "write it as a `type: sql` rule, whose query kcrm-gov checks", at)
        config.pop("name", None)
        self.add(name, "quality", (col.name,) if col else (), path, severity, str(key), config, description)

    def _target_sql(self, bigquery_sql: str, where: Location) -> str:
        import sqlglot

        from ..sqlerrors import SQL_ERRORS

        if self.target.type == "duckdb":
            from ..sql.transpile import to_duckdb

            try:
                return to_duckdb(bigquery_sql)
            except KcrmGovError as exc:
                raise CheckGenerationError(f"the rule's query: {exc.message}", where) from None
        try:
            return sqlglot.parse_one(bigquery_sql, read="bigquery").sql(dialect="bigquery")
        except SQL_ERRORS as exc:
            raise CheckGenerationError(f"the rule's query is not BigQuery SQL: {exc}", where) from None


def parse_rule_query(query: str, contract: Contract, project: Project | None, col: Column | None,
                     at: Location, what: str = "the rule's query", *, placeholders: bool = True
                     ) -> tuple[exp.Query, list[str]]:
    """The safety gate of quality SQL written in a contract (a rule's ``query``, its failed-rows
    query): no template syntax but kcrm-gov's own ``${table}`` / ``${model}`` / ``${column}``,
    exactly one SELECT in BigQuery SQL, reading only contracted tables, as a model (no table
    function, no ``ERROR()``). Returns the parsed query (placeholders filled with ``layer.table``
    and the column) and the ``layer.table`` names it reads. Nothing of it is ever rendered as a
    template: the placeholders are replaced here, by kcrm-gov. Without ``placeholders`` (a query
    in a field other tools resolve ``${...}`` in) even those are refused."""
    import sqlglot

    from ..models import ModelError, read_tables
    from ..sqlerrors import SQL_ERRORS

    marker = template_marker(query, placeholders=placeholders)
    if marker is not None:
        refused = str(TemplateSyntaxRefused(marker))
        raise CheckGenerationError(refused if placeholders else f"{what} {refused} (name the table)", at)

    def fill(match: re.Match[str]) -> str:
        if match.group(1) in ("table", "model"):
            return contract.qualified_name
        if col is None:
            raise CheckGenerationError("${column} is only defined in a column's quality rule", at)
        return col.name

    logical = OWN_PLACEHOLDER.sub(fill, query.strip().rstrip(";"))
    try:
        statements = [s for s in sqlglot.parse(logical, read="bigquery") if s is not None]
    except SQL_ERRORS as exc:
        raise CheckGenerationError(f"{what} is not BigQuery SQL: {exc}", at) from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise CheckGenerationError(f"{what} must be exactly one SELECT statement", at)
    tree = statements[0]
    try:
        refs = read_tables(tree, lambda line, column: at)
    except ModelError as exc:
        raise CheckGenerationError(f"{what}: {exc.message}", at) from None
    known = project.contracts if project is not None else {contract.qualified_name: contract}
    unknown = [ref for ref in refs if ref not in known]
    if unknown:
        raise CheckGenerationError(f"{what} reads {', '.join(unknown)}, which no contract defines", at)
    return tree, refs


def target_tree(tree: exp.Expr, refs: list[str], target: Target) -> exp.Expr:
    """``tree`` (BigQuery SQL over ``layer.table`` names) with each contracted table named as on
    ``target`` (its dataset of the layer, its project)."""

    def to_target(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and f"{node.db}.{node.name}" in refs and not node.catalog:
            replacement = _relation(target, node.db, node.name)
            if node.alias:
                replacement.set("alias", node.args.get("alias"))
            return replacement
        return node

    return tree.transform(to_target)  # transform() works on a copy: the caller's tree is left as it was


def _iso_bound(value: Any, column: str, option: str, where: Location) -> str:
    """A date or timestamp bound as ISO text (what the engines compare a DATE or TIMESTAMP with)."""
    import datetime as dt

    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    try:
        dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CheckGenerationError(f"logicalTypeOptions.{option} of column '{column}' must be an ISO date or "
                                   f"timestamp, not {value!r}", where) from None
    return text


_SQL_WORDS = ("query", "condition", "expression", "sql", "filter")
"""Configuration keys of a SodaCL check that carry SQL (``fail query``, ``fail condition``,
``<metric> expression``, ``filter``...)."""


def _strings(value: Any) -> list[str]:
    """Every string in a nested structure of lists and mappings (keys included)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []


def _keys(value: Any) -> list[str]:
    """Every mapping key (and the check line itself) in a SodaCL check."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [str(k) for k in value] + [k for v in value.values() for k in _keys(v) if not isinstance(v, str)]
    if isinstance(value, list | tuple):
        return [k for item in value for k in _keys(item) if not isinstance(item, str)]
    return []


Predicate = Callable[[exp.Expr, exp.Expr], exp.Expr]
"""``predicate(field, parent)``: the condition on a nested field, given its parent."""


def _nested_paths(steps: list[Column]) -> list[list[Column]]:
    """Every nested field under ``steps[-1]``, as the columns from the top-level one down to it."""
    out = []
    for child in steps[-1].fields:
        out.append([*steps, child])
        out.extend(_nested_paths([*steps, child]))
    return out


def _nested_condition(steps: list[Column], predicate: Predicate, depth: int = 0,
                      value: exp.Expr | None = None) -> exp.Expr:
    """A BigQuery condition, true for a row where ``predicate(field, parent)`` holds for the field at
    the end of ``steps``; ARRAY<STRUCT> steps become ``EXISTS (… UNNEST …)``."""
    value = value if value is not None else exp.column(steps[0].name)
    parent, child = steps[depth], steps[depth + 1]
    array = parent.data_type.this == exp.DataType.Type.ARRAY
    holder: exp.Expr = exp.column(f"__kcrm_e{depth}") if array else value  # what the child is a field of
    field = exp.Dot(this=holder.copy(), expression=exp.to_identifier(child.name))
    inner = predicate(field, holder) if depth + 2 == len(steps) else \
        _nested_condition(steps, predicate, depth + 1, field)
    if not array:
        return inner
    # BigQuery names an UNNEST's element by a column alias (``UNNEST(x) AS e``)
    elements = exp.Unnest(expressions=[value.copy()],
                          alias=exp.TableAlias(columns=[exp.to_identifier(f"__kcrm_e{depth}")]))
    return exp.Exists(this=exp.select(exp.Literal.number(1)).from_(elements).where(inner))


def _rule_text(path: tuple[str | int, ...]) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else key)
    return out


def _count_where(sql: str, dialect: str, relation: exp.Table) -> str | None:
    """The WHERE condition of ``SELECT COUNT(*) FROM <this table> WHERE <cond>`` (in ``dialect``),
    or None when the query has any other shape."""
    import sqlglot

    from ..sqlerrors import SQL_ERRORS

    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except SQL_ERRORS:
        return None
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 1:
        return None
    if any(tree.args.get(k) for k in ("joins", "group", "having", "with", "limit", "qualify", "laterals")):
        return None
    projection = tree.expressions[0].unalias()
    if not isinstance(projection, exp.Count) or not isinstance(projection.this, exp.Star | exp.Literal):
        return None
    source = tree.args.get("from_") or tree.args.get("from")
    table = source.this if source else None
    if not isinstance(table, exp.Table) or table.alias or \
            (table.name, table.db, table.catalog) != (relation.name, relation.db, relation.catalog):
        return None
    where = tree.args.get("where")
    return where.this.sql(dialect=dialect) if where else None


def generate_table_checks(contract: Contract, target: Target, types: dict[str, str],
                          project: Project | None = None) -> TableChecks:
    """The checks of one contract for ``target`` (``types``: its columns' engine types).

    Raises :class:`CheckGenerationError` (with the contract's line) for a rule it cannot turn into
    a check, for contract text Soda would evaluate as a template, and for quality SQL that reads
    anything but contracted tables.
    """
    builder = _Builder(contract, target, types, project)
    builder.identifiers()
    builder.schema()
    builder.keys()
    builder.column_values()
    builder.nested()
    builder.references()
    builder.freshness()
    builder.quality()
    checks = TableChecks(contract=contract, engine=target.type, specs=builder.specs)
    marker = template_marker(checks.text)
    if marker is not None:  # the last line of defence: nothing above should let one through
        raise CheckGenerationError(f"the generated checks would contain template syntax {marker!r}",
                                   contract.location())
    return checks


def generate_all(project: Project, target_kind: str = "duckdb", *, target: Target | None = None,
                 tables: list[str] | None = None) -> list[TableChecks]:
    """The checks of every contract (or of ``tables``), layer by layer, for one engine.

    ``target`` defaults to the project's target of that kind (see :meth:`ProjectConfig.target_of_kind`).
    """
    if target_kind not in ENGINE_KINDS:
        raise CheckGenerationError(f"unknown engine '{target_kind}' (known: {', '.join(ENGINE_KINDS)})")
    target = target or project.config.target_of_kind(target_kind)
    everything = project.ordered()
    # Checks of one table read other contracts (references), so the key covers every contract.
    key = cache_key([target.type, *(f"{layer}={target.dataset(layer)}" for layer in LAYERS), str(target.project),
                     *(f"{c.qualified_name}:{c.document.digest}" for c in everything)])
    chosen = [c for c in everything if tables is None or c.qualified_name in tables]

    def valid(value: Any, contracts: list[Contract]) -> bool:  # an entry of another shape is rebuilt
        return isinstance(value, dict) and all(
            isinstance(pair := value.get(c.qualified_name), tuple) and len(pair) == 2
            and isinstance(pair[0], list) and all(isinstance(spec, CheckSpec) for spec in pair[0])
            and isinstance(pair[1], str) for c in contracts)

    # every contract's (list of CheckSpec, SodaCL text); a selection (`test --select`) reads them from
    # the whole project's entry when there is one, else generates only its own tables
    part = len(chosen) < len(everything)
    generated = load(project.state_dir, "checks", key, lambda value: valid(value, everything)) if part else None
    if generated is None:
        if part:
            key = cache_key([key, *(c.qualified_name for c in chosen)])
        generated = cached(project.state_dir, "checks", key, lambda: _generate(project, target, chosen),
                           valid=lambda value: valid(value, chosen))
    out = []
    for contract in chosen:
        specs, text = generated[contract.qualified_name]
        tc = TableChecks(contract=contract, engine=target.type, specs=list(specs))
        tc.__dict__["text"] = text  # the cached_property, already known
        out.append(tc)
    return out


def generation_problems(project: Project, target_kind: str = "duckdb") -> list[CheckGenerationError]:
    """Every contract's reason it cannot generate checks (one per contract), for reports that list
    them all; :func:`generate_all` stops at the first."""
    target = project.config.target_of_kind(target_kind)
    problems = []
    for contract in project.ordered():
        try:
            generate_table_checks(contract, target, {}, project)
        except CheckGenerationError as exc:
            problems.append(exc)
    return problems


def _generate(project: Project, target: Target, contracts: list[Contract]) -> dict[str, tuple[list[CheckSpec], str]]:
    types = engine_types(contracts, target.type)
    out = {}
    for contract in contracts:
        tc = generate_table_checks(contract, target, types[contract.qualified_name], project)
        out[contract.qualified_name] = (tc.specs, tc.text)
    return out


def generate_checks(project: Project, target_kind: str = "duckdb", *, target: Target | None = None,
                    tables: list[str] | None = None) -> dict[Path, str]:
    """``{checks/<layer>/<table>.yml: SodaCL text}`` for every contract (or ``tables``)."""
    return {check_path(tc.contract): tc.text for tc in generate_all(project, target_kind, target=target,
                                                                    tables=tables)}


def _existing(project: Project) -> list[Path]:
    """Generated check files on disk (only files carrying the generated header)."""
    out = []
    for layer in LAYERS:
        folder = project.root / CHECKS_DIR / layer
        for path in sorted(folder.glob("*.yml")) if folder.is_dir() else []:
            try:
                if path.read_text().startswith(GENERATED_MARK):
                    out.append(path.relative_to(project.root))
            except OSError:
                continue
    return out


@dataclass(frozen=True)
class StaleFile:
    """A committed check file that differs from what its contract generates."""

    path: Path
    reason: str  # "changed", "missing", "orphaned"
    diff: str

    def __str__(self) -> str:
        return f"{self.path.as_posix()}: {self.reason}"


def stale_checks(project: Project, generated: dict[Path, str], *, complete: bool = True) -> list[StaleFile]:
    """Files under checks/ that are not what the contracts generate, with a unified diff.

    ``complete``: ``generated`` covers every contract, so generated files without a contract
    are reported too.
    """
    out = []
    for rel, text in sorted(generated.items()):
        path = project.root / rel
        old = path.read_text() if path.is_file() else None
        if old == text:
            continue
        diff = "".join(difflib.unified_diff((old or "").splitlines(keepends=True), text.splitlines(keepends=True),
                                            fromfile=f"a/{rel.as_posix()}", tofile=f"b/{rel.as_posix()}"))
        out.append(StaleFile(rel, "missing" if old is None else "changed", diff))
    if complete:
        for rel in _existing(project):
            if rel not in generated and f"{rel.parent.name}.{rel.stem}" not in project.unreadable:
                old = (project.root / rel).read_text()
                diff = "".join(difflib.unified_diff(old.splitlines(keepends=True), [],
                                                    fromfile=f"a/{rel.as_posix()}", tofile="/dev/null"))
                out.append(StaleFile(rel, "orphaned (no contract)", diff))
    return out


def write_checks(project: Project, generated: dict[Path, str], *, complete: bool = True) -> list[StaleFile]:
    """Write the generated files that changed (and, when ``complete``, delete orphaned ones).

    Returns what was changed.
    """
    return apply_stale(project.root, generated, stale_checks(project, generated, complete=complete))


def apply_stale(root: Path, generated: dict[Path, str], changed: list[StaleFile]) -> list[StaleFile]:
    """Bring the generated files under ``root`` up to date: write each changed or missing one and delete
    each orphaned one (a stale path with no generated text). Returns ``changed``."""
    for item in changed:
        path = root / item.path
        if item.path in generated:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(generated[item.path])
        else:
            path.unlink()
    return changed
