"""Governance rules. Each has a stable id; its reason is documented in docs/governance/rules.md.

A rule is a function from a contract (and the project, for what it knows about teams and
sources) to findings, registered with :func:`rule`. Project-wide rules see every contract.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from .. import LAYERS, typemap
from ..contracts import API_VERSION, CLASSIFICATIONS, Column, Contract
from ..errors import ContractError, KcrmGovError, Location
from ..escape import template_marker
from ..identifiers import identifier_problem, label_problem
from ..project import Project
from ..retl.destination import DEFAULT_CLASSIFICATIONS, Destination
from .findings import Finding

ContractCheck = Callable[[Contract, Project], Iterator[Finding]]
ProjectCheck = Callable[[Project], Iterator[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    check: ContractCheck


@dataclass(frozen=True)
class ProjectRule:
    id: str
    title: str
    check_project: ProjectCheck


@dataclass(frozen=True)
class BuiltinRule:
    """A rule applied by the loader or the upstream schema rather than a function here."""

    id: str
    title: str
    why: str


BUILTIN_RULES = (
    BuiltinRule("KG000", "The file can be read as an ODCS contract at all",
                "A file that is not YAML, has a duplicate key, an anchor or alias, a NUL character, is larger than "
                "1 MiB or nested more than 64 levels deep, or is not a data contract cannot be checked further. "
                "Exit code 2."),
    BuiltinRule("ODCS001", "The contract is valid ODCS v3 (the upstream JSON Schema)",
                "The contract is the standard, not a private dialect: DataHub, datacontract-cli and Soda read the "
                "same file."),
)
"""Rules applied before the registered ones: reading the file (KG000) and the ODCS JSON Schema."""

RULES: list[Rule] = []
PROJECT_RULES: list[ProjectRule] = []


def rule(rule_id: str, title: str) -> Callable[[ContractCheck], ContractCheck]:
    def register(fn: ContractCheck) -> ContractCheck:
        RULES.append(Rule(rule_id, title, fn))
        return fn
    return register


def project_rule(rule_id: str, title: str) -> Callable[[ProjectCheck], ProjectCheck]:
    def register(fn: ProjectCheck) -> ProjectCheck:
        PROJECT_RULES.append(ProjectRule(rule_id, title, fn))
        return fn
    return register


def _props(contract: Contract) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """Every column dict of the raw YAML (nested too) with its YAML path: rules must work on
    what the file says, even where the typed model would have filled in defaults."""
    schema = contract.document.data.get("schema") or []
    if not schema or not isinstance(schema[0], dict):
        return

    def walk(items: object, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
        for i, prop in enumerate(items if isinstance(items, list) else []):
            if not isinstance(prop, dict):
                continue
            here = (*path, i)
            yield here, prop
            yield from walk(prop.get("properties"), (*here, "properties"))
            item = prop.get("items")
            if isinstance(item, dict):
                yield from walk(item.get("properties"), (*here, "items", "properties"))

    yield from walk(schema[0].get("properties"), ("schema", 0, "properties"))


def _at(contract: Contract, rule_id: str, message: str, *keys: str | int) -> Finding:
    return Finding.at(contract.location(*keys), rule_id, message)


# --- KG001 naming ----------------------------------------------------------------------------------
@rule("KG001", "Table names follow the layer's naming convention")
def naming(contract: Contract, project: Project) -> Iterator[Finding]:
    """`raw` and `stg` tables are `<source>__<object>` with a source from `catalog/sources.yml`; `core`, `enr` and
    `marts` tables are named by business entity (no `__`); `retl` tables are `<destination>__<object>`. The
    contract's `name` is `<layer>.<table>`, its `id` `kcrm.<layer>.<table>`, its one schema object is named after
    the file. A reader must find a table from its name alone."""
    table, layer = contract.table, contract.layer
    problem = identifier_problem(table)
    if problem:
        yield _at(contract, "KG001", f"table name '{table}' (from the file name) {problem}")
        return
    if layer in ("raw", "stg"):
        source, sep, obj = table.partition("__")
        if not sep or not obj:
            yield _at(contract, "KG001", f"{layer} table '{table}' must be named <source>__<object>")
        elif project.sources and source not in project.sources:
            yield _at(contract, "KG001", f"{layer} table '{table}': source '{source}' is not in "
                      f"catalog/sources.yml ({', '.join(sorted(project.sources))})")
    elif layer == "retl":
        if "__" not in table:
            yield _at(contract, "KG001", f"retl table '{table}' must be named <destination>__<object>")
    elif "__" in table:
        yield _at(contract, "KG001", f"{layer} table '{table}' is named by its business entity; "
                  "<source>__<object> names belong in raw and stg")
    expected_name = contract.qualified_name
    if contract.model.name != expected_name:
        yield _at(contract, "KG001", f"name must be '{expected_name}' (the file's layer and table), "
                  f"not '{contract.model.name}'", "name")
    expected_id = f"kcrm.{expected_name}"
    if contract.id != expected_id:
        yield _at(contract, "KG001", f"id must be '{expected_id}', not '{contract.id}'", "id")
    schemas = contract.model.schema_ or []
    if len(schemas) != 1:
        yield _at(contract, "KG001", f"a contract defines exactly one table; found {len(schemas)} schema "
                  "objects", "schema")
    elif schemas[0].name != table:
        yield _at(contract, "KG001", f"schema name must be '{table}' (the file name), "
                  f"not '{schemas[0].name}'", "schema", 0, "name")
    elif schemas[0].physicalName not in (None, table):
        yield _at(contract, "KG001", f"physicalName must be '{table}', not '{schemas[0].physicalName}'",
                  "schema", 0, "physicalName")


# --- KG002 / KG003 ownership -----------------------------------------------------------------------
@rule("KG002", "An owner team is named and known in catalog/teams.yml")
def owner_team(contract: Contract, project: Project) -> Iterator[Finding]:
    """`team.name` must be a key of `catalog/teams.yml`. Every table needs a team that answers for it."""
    team = contract.owner_team
    if not team:
        yield _at(contract, "KG002", "no owner team: set team.name to a team of catalog/teams.yml", "team")
    elif team not in project.teams:
        yield _at(contract, "KG002", f"unknown team '{team}' (known: {', '.join(sorted(project.teams))})",
                  "team", "name")


@rule("KG003", "A data steward is named and is a steward of the owner team")
def steward(contract: Contract, project: Project) -> Iterator[Finding]:
    """A `team.members` entry with `role: data steward` whose username is a steward of the team in
    `catalog/teams.yml`. Stewards approve changes (CODEOWNERS is generated from them)."""
    stewards = contract.stewards
    if not stewards:
        yield _at(contract, "KG003", "no data steward: add a team member with role 'data steward'", "team")
        return
    team = project.teams.get(contract.owner_team or "")
    if team is None:
        return  # KG002 already says so
    known = {m.username for m in team.stewards}
    members = (contract.document.data.get("team") or {}).get("members") or []
    for i, member in enumerate(members):
        name = member.get("username") if isinstance(member, dict) else None
        if name in stewards and name not in known:
            yield _at(contract, "KG003", f"'{name}' is not a data steward of team '{team.key}' in "
                      f"catalog/teams.yml (stewards: {', '.join(sorted(known)) or 'none'})",
                      "team", "members", i, "username")


# --- KG004 descriptions ----------------------------------------------------------------------------
@rule("KG004", "The contract, its table and every column are described")
def descriptions(contract: Contract, project: Project) -> Iterator[Finding]:
    """`description.purpose`, `usage` and `limitations`, the table's description and every column's (nested fields
    included). The catalog is only as good as these."""
    desc = contract.document.data.get("description")
    for part in ("purpose", "usage", "limitations"):
        if not isinstance(desc, dict) or not str(desc.get(part) or "").strip():
            yield _at(contract, "KG004", f"description.{part} is missing", "description")
    schema = (contract.document.data.get("schema") or [{}])[0]
    if isinstance(schema, dict) and not str(schema.get("description") or "").strip():
        yield _at(contract, "KG004", "the table has no description", "schema", 0)
    for path, prop in _props(contract):
        if not str(prop.get("description") or "").strip():
            yield _at(contract, "KG004", f"column '{prop.get('name')}' has no description", *path)


# --- KG005 classification --------------------------------------------------------------------------
@rule("KG005", "Every column is classified; PII is confidential or restricted")
def classification(contract: Contract, project: Project) -> Iterator[Finding]:
    """`classification` is one of public, internal, confidential, restricted. A column tagged `pii` must be
    confidential or restricted: policy tags and the catalog's PII register are driven by it."""
    for path, prop in _props(contract):
        name, level = prop.get("name"), prop.get("classification")
        if not level:
            yield _at(contract, "KG005", f"column '{name}' has no classification "
                      f"({' / '.join(CLASSIFICATIONS)})", *path)
        elif level not in CLASSIFICATIONS:
            yield _at(contract, "KG005", f"column '{name}': classification '{level}' is not one of "
                      f"{', '.join(CLASSIFICATIONS)}", *path, "classification")
        elif "pii" in [str(t).lower() for t in prop.get("tags") or []] and level not in CLASSIFICATIONS[2:]:
            yield _at(contract, "KG005", f"column '{name}' is PII but classified '{level}': PII must be "
                      "confidential or restricted", *path, "classification")


# --- KG006 primary key -----------------------------------------------------------------------------
@rule("KG006", "A primary key is declared, required, with positions 1..n")
def primary_key(contract: Contract, project: Project) -> Iterator[Finding]:
    """At least one `primaryKey: true` column, positions 1..n, every key column `required`. Duplicate checks,
    reference checks and the loader's de-duplication all need it."""
    keyed = [(path, p) for path, p in _props(contract) if p.get("primaryKey") and len(path) == 4]
    if not keyed:
        yield _at(contract, "KG006", "no primary key: mark the key column(s) with primaryKey: true", "schema", 0)
        return
    positions = sorted(int(p.get("primaryKeyPosition") or 1) for _, p in keyed)
    if positions != list(range(1, len(keyed) + 1)):
        yield _at(contract, "KG006", f"primaryKeyPosition values must be 1..{len(keyed)}, found {positions}",
                  *keyed[0][0])
    for path, prop in keyed:
        if not prop.get("required"):
            yield _at(contract, "KG006", f"primary-key column '{prop.get('name')}' must be required", *path)


# --- KG007 SLA -------------------------------------------------------------------------------------
@rule("KG007", "Raw tables carry a freshness SLA on an existing timestamp column")
def sla(contract: Contract, project: Project) -> Iterator[Finding]:
    """`slaProperties` holds `property: freshness` with a positive `value`, a unit (m, h, d) and an `element` naming
    a TIMESTAMP or DATE column of the table as `<table>.<column>`. The scheduled freshness check reads it. Other
    layers may declare one too; when they do, it must be well-formed."""
    try:
        freshness = contract.freshness  # the one parser every consumer uses
    except ContractError as exc:
        yield Finding.at(exc.location or contract.location("slaProperties"), "KG007", exc.message)
        return
    if contract.layer != "raw":
        return
    if freshness is None:
        yield _at(contract, "KG007", "raw table without a freshness SLA (slaProperties: property: "
                  "freshness, element: <table>.<loader sync column>)", "slaProperties")
    elif freshness.element is None:
        yield _at(contract, "KG007", "a raw table's freshness SLA names its loader's sync column as element "
                  f"({contract.table}.<column>)", "slaProperties", freshness.index)


# --- KG008 version ---------------------------------------------------------------------------------
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?$")


@rule("KG008", "The contract version is a semantic version")
def version(contract: Contract, project: Project) -> Iterator[Finding]:
    """`version` is MAJOR.MINOR.PATCH (the breaking-change gate compares them); `apiVersion` is v3.2.0 in every
    contract."""
    if not SEMVER.match(str(contract.version or "")):
        yield _at(contract, "KG008", f"version '{contract.version}' is not a semantic version "
                  "(MAJOR.MINOR.PATCH)", "version")
    if contract.model.apiVersion != API_VERSION:
        yield _at(contract, "KG008", f"apiVersion must be {API_VERSION} (one ODCS version for every "
                  f"contract), not {contract.model.apiVersion}", "apiVersion")


# --- KG009 layer -----------------------------------------------------------------------------------
@rule("KG009", "The layer property matches the contract's folder")
def layer(contract: Contract, project: Project) -> Iterator[Finding]:
    """`customProperties: [{property: layer, value: <folder>}]`; the folder is one of raw, stg, core, enr, retl,
    marts. Layer read-rules are enforced from it."""
    if contract.layer not in LAYERS:
        yield _at(contract, "KG009", f"folder '{contract.layer}' is not a layer ({', '.join(LAYERS)})")
        return
    declared = contract.declared_layer
    keys = [p.get("property") for p in contract.document.data.get("customProperties") or []
            if isinstance(p, dict)]
    where = ("customProperties", keys.index("layer")) if "layer" in keys else ("customProperties",)
    if declared is None:
        yield _at(contract, "KG009", f"no layer property: add customProperties: [{{property: layer, value: "
                  f"{contract.layer}}}]", *where)
    elif declared != contract.layer:
        yield _at(contract, "KG009", f"layer property '{declared}' does not match the folder "
                  f"'{contract.layer}'", *where)


# --- KG011 identifiers -----------------------------------------------------------------------------
@rule("KG011", "Column names and labels are safe SQL identifiers")
def identifiers(contract: Contract, project: Project) -> Iterator[Finding]:
    """Column names are lower-case `[a-z_][a-z0-9_]*`, at most 128 characters, not a reserved word of BigQuery or
    DuckDB, not repeated; label values (layer, domain, owner team, tags) are valid BigQuery labels. Quotes,
    backticks, semicolons and spaces never reach generated SQL."""
    for path, prop in _props(contract):
        problem = identifier_problem(prop.get("name"))
        if problem:
            yield _at(contract, "KG011", f"column name {prop.get('name')!r} {problem}", *path, "name")
    siblings: dict[tuple[str | int, ...], set[str]] = {}
    for path, prop in _props(contract):
        seen = siblings.setdefault(path[:-1], set())
        if prop.get("name") in seen:
            yield _at(contract, "KG011", f"column '{prop.get('name')}' is defined twice", *path, "name")
        seen.add(str(prop.get("name")))
    # values that become BigQuery labels
    labels = {"layer": contract.declared_layer, "domain": contract.model.domain, "owner": contract.owner_team}
    for key, value in labels.items():
        if value is not None and label_problem(value):
            yield _at(contract, "KG011", f"{key} {value!r} {label_problem(value)}")
    for i, tag in enumerate(contract.model.tags or []):
        if label_problem(tag):
            yield _at(contract, "KG011", f"tag {tag!r} {label_problem(tag)}", "tags", i)


# --- KG013 types -----------------------------------------------------------------------------------
@rule("KG013", "Each column's physical type is a BigQuery type that agrees with its logical type")
def types(contract: Contract, project: Project) -> Iterator[Finding]:
    """`physicalType` is a BigQuery type (INT64, STRING, NUMERIC, TIMESTAMP, STRUCT with `properties`, ARRAY with
    `items`...) and `logicalType` is the ODCS type it belongs to. Every engine's DDL is generated from it."""
    for (_, column), (path, _) in zip(contract.all_columns(), _props(contract), strict=False):
        actual = typemap.logical_type_of(column.data_type)
        declared = column.logical_type
        if declared is None:
            yield _at(contract, "KG013", f"column '{column.name}' has no logicalType", *path)
        elif actual is not None and declared != actual:
            yield _at(contract, "KG013", f"column '{column.name}': logicalType '{declared}' does not match "
                      f"physicalType {column.bigquery_type} ({actual})", *path, "logicalType")


# --- KG014 PII marking -----------------------------------------------------------------------------
# the personal-data word must end the name: `author_email` is personal, `email_status` is not
PII_NAME = re.compile(r"(^|_)(email|email_address|phone|phone_number|mobile|first_?name|last_?name|full_?name|"
                      r"given_name|family_name|address|street|ip_address|comment|notes?|body)$")


@rule("KG014", "Columns that look like personal data are marked pii")
def pii_marking(contract: Contract, project: Project) -> Iterator[Finding]:
    """A column whose name ends in email, phone, first/last name, address, comment, note or body must be tagged
    `pii` (or renamed if it is not personal). Unmarked PII would leak into the catalog and sample rows."""
    for path, prop in _props(contract):
        name = str(prop.get("name") or "")
        tags = [str(t).lower() for t in prop.get("tags") or []]
        nested = prop.get("properties") or (prop.get("items") or {}).get("properties")
        if PII_NAME.search(name) and "pii" not in tags and not nested:
            yield _at(contract, "KG014", f"column '{name}' looks like personal data: tag it pii and classify "
                      "it confidential or restricted (or rename it if it is not personal)", *path)


# --- KG015 template syntax ------------------------------------------------------------------------
PROSE_FIELDS = frozenset({"description", "purpose", "usage", "limitations", "transformDescription", "businessName",
                          "dataGranularityDescription"})
"""Fields that are prose for people: rendered (escaped) into the catalog and DDL comments, never
into checks, so they may quote template syntax."""


@rule("KG015", "No template syntax in fields rendered into checks")
def template_syntax(contract: Contract, project: Project) -> Iterator[Finding]:
    """Soda Core renders check text as a Jinja template, so a contract string that reached a check could run code.
    `${`, `{{`, `{%` and `{#` are refused in every field rendered into checks (prose fields such as `description`
    may quote them); a quality `query` may use kcrm-gov's own `${table}`, `${model}` and `${column}`. See
    [Security](security.md)."""
    def walk(node: object, path: tuple[str | int, ...]) -> Iterator[Finding]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key not in PROSE_FIELDS:
                    yield from walk(value, (*path, str(key)))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                yield from walk(item, (*path, i))
        else:
            marker = template_marker(node, placeholders=bool(path) and path[-1] == "query")
            if marker is not None:
                field = ".".join(str(k) for k in path)
                yield _at(contract, "KG015", f"{field} holds template syntax {marker!r}: Soda Core evaluates check "
                          "text as a template, so contract text may not contain '${', '{{', '{%' or '{#' (in a "
                          "quality query only ${table}, ${model} and ${column} are allowed)", *path)

    yield from walk(contract.document.data, ())


# --- KG021 failed-rows queries show keys only ------------------------------------------------------
@rule("KG021", "A quality rule's failed-rows query shows keys only, never a classified column")
def failed_rows_queries(contract: Contract, project: Project) -> Iterator[Finding]:
    """A `type: sql` quality rule may list the rows that break it with a `failedRowsQuery` custom property,
    which `kcrm-gov test` runs when the rule fails or warns and whose rows go to the terminal, the JSON results
    and `.kcrm/test_results.json`. So it is held to what a report may show: one SELECT over contracted tables
    (the gate of every quality query), each output column traced through its lineage to key columns (primary,
    unique or foreign keys, `*_id` / `*_key` identifiers) or a `COUNT(...)`, and no column tagged `pii` or
    classified confidential / restricted, however it is transformed. Reported at the rule's customProperties."""
    from ..checks.failed_rows import FailedRowsError, failed_rows_text, vet_failed_rows

    rules: list[tuple[Column | None, tuple[str | int, ...], dict[str, Any]]] = [
        (column, (*column.yaml_path, "quality", i), rule) for _, column in contract.all_columns()
        for i, rule in enumerate(column.quality)]
    rules += [(None, ("schema", 0, "quality", i), rule) for i, rule in enumerate(contract.table_quality)]
    for column, path, rule in rules:
        text = failed_rows_text(rule)
        if text is None:
            continue
        where = (*path, "customProperties")
        if str(rule.get("type") or "").lower() != "sql":
            yield _at(contract, "KG021", "a failedRowsQuery belongs to a `type: sql` rule", *where)
            continue
        try:
            vet_failed_rows(text, contract, project, column, contract.location(*where))
        except FailedRowsError as exc:
            yield _at(contract, "KG021", exc.message, *where)


# --- KG010 unique ids (project-wide) ---------------------------------------------------------------
@project_rule("KG010", "Contract ids are unique")
def unique_ids(project: Project) -> Iterator[Finding]:
    """Lineage and the catalog identify a contract by its id."""
    first: dict[str, Contract] = {}
    for contract in project.ordered():
        if contract.id is None:
            continue
        if contract.id in first:
            other = first[contract.id]
            yield _at(contract, "KG010", f"id '{contract.id}' is also used by {other.path}", "id")
        else:
            first[contract.id] = contract


# --- KG012 relationships (project-wide) ------------------------------------------------------------
@project_rule("KG012", "Relationships point at existing columns of the same layer")
def relationships(project: Project) -> Iterator[Finding]:
    """A `relationships: [{to: table.column}]` must name a column of a contract (in the same layer when
    unqualified). Reference checks are generated from it."""
    for contract in project.ordered():
        for path, prop in _props(contract):
            for i, rel in enumerate(prop.get("relationships") or []):
                to = rel.get("to") if isinstance(rel, dict) else None
                if not isinstance(to, str):
                    continue
                table, _, column = to.rpartition(".")
                qualified = table if "." in table else f"{contract.layer}.{table}"
                if qualified in project.unreadable:
                    continue  # that contract's own finding says what is wrong
                target = project.contracts.get(qualified)
                if target is None or target.column(column) is None:
                    yield _at(contract, "KG012", f"column '{prop.get('name')}' references '{to}', which is not "
                              "a column of any contract", *path, "relationships", i, "to")


# --- KG017 declared lineage (project-wide) ---------------------------------------------------------
@project_rule("KG017", "Declared column sources agree with the SQL")
def declared_lineage(project: Project) -> Iterator[Finding]:
    """``transformSourceObjects`` say which tables a column is made from; the model's SQL says it
    too (column lineage, :class:`kcrm_gov.lineage.graph.ColumnGraph`). Two things may not happen:
    the SQL computes the column from a table the contract does not declare, and the contract
    declares a table the model does not read at all. (A declared table the model reads only to
    join or filter is fine: lineage of the value does not show it.)"""
    from ..lineage.graph import column_graph

    declaring = [c for c in project.ordered() if c.qualified_name in project.models
                 and any(col.declared_sources for col in c.columns)]
    if not declaring:
        return
    graph = column_graph(project, [c.qualified_name for c in declaring])
    for contract in declaring:
        name = contract.qualified_name
        if name not in graph.models:
            continue  # the model cannot be analysed: `check` reports why
        try:
            reads = set(project.models[name].refs)
        except KcrmGovError:
            continue
        for column in contract.columns:
            declared = set(column.declared_sources)
            if not declared:
                continue
            where = (*column.yaml_path, "transformSourceObjects")
            computed = sorted({s.table for s in graph.inputs(name, column.name)} - declared)
            if computed:
                yield _at(contract, "KG017", f"column '{column.name}' is computed from {', '.join(computed)} in "
                          f"{project.models[name].path}, which transformSourceObjects does not declare", *where)
            unread = sorted(declared - reads)
            if unread:
                yield _at(contract, "KG017", f"column '{column.name}' declares {', '.join(unread)} in "
                          f"transformSourceObjects, but {project.models[name].path} does not read it", *where)


# --- KG018 no wall clock after stg -----------------------------------------------------------------
WALL_CLOCK_LAYERS = ("core", "enr", "retl", "marts")
_WALL_CLOCK_NODES = (exp.CurrentDate, exp.CurrentDatetime, exp.CurrentTime, exp.CurrentTimestamp)
_WALL_CLOCK_NAMES = frozenset({"NOW", "CURRENT_DATE", "CURRENT_DATETIME", "CURRENT_TIME", "CURRENT_TIMESTAMP",
                               "UNIX_SECONDS_NOW", "TODAY", "GETDATE", "SYSDATE", "LOCALTIMESTAMP"})
# one of those names as a whole word: "NOW" alone was in a fifth of the models' text (KNOWN, UNKNOWN)
_WALL_CLOCK_WORD = re.compile(r"\b(?:" + "|".join(sorted(_WALL_CLOCK_NAMES)) + r")\b", re.IGNORECASE)


@project_rule("KG018", "Models after stg compute as of a date from the data, never the wall clock")
def no_wall_clock(project: Project) -> Iterator[Finding]:
    """A core, enr, retl or marts model that calls ``CURRENT_DATE()``, ``CURRENT_TIMESTAMP()``,
    ``CURRENT_DATETIME()``, ``CURRENT_TIME()`` or ``NOW()`` gives a different answer every day on the
    same data: rebuilds, backfills and tests stop agreeing. Take "as of" from the data instead (e.g.
    the latest event or billing day). Reported at the call's line in the model."""
    for name, model in sorted(project.models.items()):
        if model.layer not in WALL_CLOCK_LAYERS or model.reference:
            continue
        if not _WALL_CLOCK_WORD.search(model.sql):
            continue  # a call's name is in its text: most models need no parse (lint was seconds of parsing)
        try:
            ast = model.ast
        except KcrmGovError:
            continue  # a model that does not parse: `check` reports it
        for node in ast.walk():
            called = node.sql_name().upper() if isinstance(node, exp.Anonymous | exp.Func) else ""
            if isinstance(node, exp.Anonymous):
                called = str(node.this).upper()
            if isinstance(node, _WALL_CLOCK_NODES) or called in _WALL_CLOCK_NAMES:
                line, column = _node_position(node)
                yield Finding.at(model.location(line, column), "KG018",
                                 f"{name} reads the wall clock ({called or node.key.upper()}()): compute as of a "
                                 "date from the data (e.g. MAX(event_date) of an input) so a rebuild gives the "
                                 "same answer")


def _node_position(node: exp.Expr) -> tuple[int, int]:
    """The line and column sqlglot kept for ``node`` (or its first token-bearing child)."""
    for sub in node.walk():
        meta = getattr(sub, "meta", None) or {}
        if meta.get("line"):
            return int(meta["line"]), int(meta.get("col") or 1)
    return 1, 1


# --- KG019 propensity models ------------------------------------------------------------------------
@project_rule("KG019", "A propensity model's spec, scoring SQL and coefficients agree")
def propensity_model(project: Project) -> Iterator[Finding]:
    """A scoring table's ``propensityModel`` custom property names a features table whose columns exist
    (numeric inputs and label), two contracted reference tables for the coefficients and metrics, and
    a model that reads every input; the coefficients file holds exactly the intercept and the inputs.
    Otherwise the SQL would score with a stale or partial model: retrain with ``kcrm-gov train``."""
    from ..propensity_spec import INTERCEPT, check_spec

    for name, contract in sorted(project.contracts.items()):
        try:
            spec = contract.propensity_model
            if spec is None:
                continue
            check_spec(project, name, spec)
        except ContractError as exc:
            yield Finding.at(exc.location or contract.location("customProperties"), "KG019", exc.message)
            continue
        model = project.models.get(name)
        if model is not None and not model.reference:
            try:
                read = {c.name for c in model.ast.find_all(exp.Column)}
            except KcrmGovError:
                read = set()  # a model that does not parse: `check` reports it
            for missing in [i for i in spec.inputs if read and i not in read]:
                yield Finding.at(model.location(1, 1), "KG019",
                                 f"{name} does not read input {missing!r} of its propensityModel: score every input")
        coefficients = project.models.get(spec.coefficients)
        if coefficients is not None and coefficients.source_text:
            terms = [row.get("term") for row in csv.DictReader(io.StringIO(coefficients.source_text))]
            if sorted(t or "" for t in terms) != sorted([INTERCEPT, *spec.inputs]):
                yield Finding.at(coefficients.location(1, 1), "KG019",
                                 f"{coefficients.path.as_posix()} holds terms {sorted(t or '' for t in terms)}, "
                                 f"not the intercept and the inputs of {name}: run `kcrm-gov train {name}`")


# --- KG020 metrics bound to columns (project-wide) -------------------------------------------------
@project_rule("KG020", "Metrics are bound to existing marts columns")
def metric_columns(project: Project) -> Iterator[Finding]:
    """A metric of ``catalog/metrics.yml`` names the dashboard-facing columns that hold it as
    ``columns: [marts.<table>.<column>, ...]``; each must be a column of a marts table's contract. A
    table that is only planned may be named under ``sources:``, never under ``columns:``: a binding to
    a column that does not exist would send Looker and the catalog to nothing. Reported at the entry's
    line of ``metrics.yml``. A metric without ``columns:`` is allowed (not bound yet). A bound metric
    declares ``aggregation:`` (sum, average, max, min, count, count_distinct, or a ratio
    ``{numerator: c, denominator: c}`` of columns of the same table) for each bound column: the
    measure `kcrm-gov generate lookml` gives the BI layer."""
    from ..metrics import binding_problems

    for location, message in binding_problems(project):
        yield Finding.at(location, "KG020", message)


# --- KG022..KG025 reverse-ETL destinations -----------------------------------------------------------
def _destination(contract: Contract) -> Destination | None:
    """The contract's destination, None when it has none or it does not parse (KG022 says why)."""
    try:
        return contract.destination
    except ContractError:
        return None


def _destination_at(contract: Contract, *keys: str | int) -> Location:
    """Where ``keys`` of the contract's destination value are written."""
    try:
        block = contract.custom_mapping("destination")
    except ContractError as exc:  # not a mapping: KG022 reports it; point at the block itself
        return exc.location or contract.location("customProperties")
    if block is None:
        return contract.location("customProperties")
    return contract.location(*block[1], *keys)


@rule("KG022", "A retl table declares its destination, keyed by its primary key; no other table does")
def destination_declared(contract: Contract, project: Project) -> Iterator[Finding]:
    """A `retl` table is synced to one destination object: `customProperties: [{property: destination, value:
    {system, instance, object, matchKey, onDelete, allowedClassifications, approvedPii, fields}}]` must be there and
    well-formed (a malformed one is reported at its line), and the table's primary key must be exactly the column
    mapped to the match key: one row per destination record. A table of any other layer may not declare a
    destination: only retl tables leave the warehouse through a sync."""
    try:
        destination = contract.destination
    except ContractError as exc:
        yield Finding.at(exc.location or contract.location("customProperties"), "KG022", exc.message)
        return
    if contract.layer != "retl":
        if destination is not None:
            yield Finding.at(destination.location, "KG022", f"{contract.layer} table {contract.qualified_name} "
                             "declares a destination: only retl tables are synced out of the warehouse")
        return
    if destination is None:
        yield _at(contract, "KG022", "retl table without a destination: add customProperties: [{property: "
                  "destination, value: {system, instance, object, matchKey, fields: [...]}}]", "customProperties")
        return
    key = destination.key_column
    if contract.primary_key != [key]:
        yield Finding.at(destination.key_mapping.location, "KG022",
                         f"the primary key is ({', '.join(contract.primary_key) or 'none'}) but the match key "
                         f"{destination.match_key} is held by column '{key}': the primary key must be exactly "
                         f"'{key}' (one row per {destination.system} {destination.object} record)")


@rule("KG023", "Each mapping names a writable field of the destination's property list")
def destination_fields(contract: Contract, project: Project) -> Iterator[Finding]:
    """Every `fields` entry of a destination names a field of its object's property list,
    `catalog/destinations/<system>/<object>.yml` (an object without a list is refused: nothing can be checked
    against it). A written mapping may not target a `readOnly` field (the destination computes it) and the match
    key must be `unique: true` in the list (the destination can look a record up by it). Reported at the
    mapping's line."""
    destination = _destination(contract)
    if destination is None:
        return
    obj = project.destination_object(destination)
    if obj is None:
        yield Finding.at(_destination_at(contract, "object"), "KG023",
                         f"no property list for {destination.system} object '{destination.object}': add "
                         f"catalog/destinations/{destination.system}/{destination.object}.yml (known: "
                         f"{', '.join(sorted(f'{s}/{o}' for s, o in project.destinations)) or 'none'})")
        return
    written = {m.column for m in destination.written}
    for mapping in destination.fields:
        prop = obj.properties.get(mapping.field)
        if prop is None:
            yield Finding.at(mapping.location, "KG023",
                             f"column '{mapping.column}' is mapped to {destination.system} {destination.object} "
                             f"field '{mapping.field}', which {obj.path.as_posix()} does not list")
            continue
        if mapping.column in written and prop.read_only:
            yield Finding.at(mapping.location, "KG023",
                             f"field '{mapping.field}' is read-only in {destination.system} {destination.object} "
                             "(the destination computes it): map it with write: false or drop it")
        if mapping.field == destination.match_key and not prop.unique:
            yield Finding.at(mapping.location, "KG023",
                             f"match key '{mapping.field}' is not unique: true in {obj.path.as_posix()}: "
                             f"{destination.system} cannot find a record by it")


@rule("KG024", "Mapped columns exist, and a picklist gets only values it offers")
def destination_values(contract: Contract, project: Project) -> Iterator[Finding]:
    """Every mapped `column` is a column of the retl table. A column mapped to a field with `options` (a picklist,
    enumeration or dropdown) declares its allowed values (an `invalidValues` quality rule's `validValues`, or
    `enum`) and every one of them is an option of the field:
    a value the destination does not offer is rejected by its API at sync time, or silently blanked. Reported at
    the mapping's line (missing column, no allowed values) or at the column's allowed values."""
    destination = _destination(contract)
    if destination is None:
        return
    obj = project.destination_object(destination)
    for mapping in destination.fields:
        column = contract.column(mapping.column)
        if column is None:
            yield Finding.at(mapping.location, "KG024",
                             f"mapped column '{mapping.column}' is not a column of {contract.qualified_name}")
            continue
        prop = obj.properties.get(mapping.field) if obj is not None else None
        if prop is None or not prop.options:
            continue
        values = column.accepted_values
        if not values:
            yield Finding.at(mapping.location, "KG024",
                             f"column '{mapping.column}' fills picklist '{mapping.field}' but declares no allowed "
                             "values: add an invalidValues quality rule with its validValues (options: "
                             f"{', '.join(prop.options)})")
            continue
        offered = set(prop.options)
        missing = [str(v) for v in values if str(v) not in offered]
        if missing:
            yield _at(contract, "KG024", f"column '{mapping.column}' may hold {', '.join(missing)}, which "
                      f"{destination.system} {destination.object} field '{mapping.field}' does not offer "
                      f"(options: {', '.join(prop.options)})", *_values_path(column))


def _values_path(column: Column) -> tuple[str | int, ...]:
    """Where a column's accepted values are written: its enum / allowedValues, else its invalidValues rule."""
    from ..contracts import valid_values_of

    if column.allowed_values:
        return column.allowed_values_path
    index = next((i for i, rule in enumerate(column.quality) if valid_values_of(rule) is not None), None)
    return column.yaml_path if index is None else (*column.yaml_path, "quality", index, "arguments", "validValues")


@rule("KG025", "A retl table holds no restricted column, only allowed classifications and approved PII")
def destination_classifications(contract: Contract, project: Project) -> Iterator[Finding]:
    """A retl table exists to be copied into another system, so what it holds leaves the warehouse: no column (nested
    fields included) may be classified `restricted`; every column's classification must be one of the destination's
    `allowedClassifications` (default public, internal); a column tagged `pii` must be listed in the destination's
    `approvedPii` by a steward, and then needs no further classification allowance (the approval is for that
    column). `approvedPii` may only name PII columns of the table."""
    if contract.layer != "retl":
        return
    try:
        destination = contract.destination
    except ContractError:
        destination = None  # KG022 reports it; the restricted check below still applies
        parsed = False
    else:
        parsed = True
    approved = set(destination.approved_pii) if destination else set()
    allowed = destination.allowed_classifications if destination else DEFAULT_CLASSIFICATIONS
    for path, column in contract.all_columns():
        where = (*column.yaml_path, "classification")
        level = (column.classification or "").lower()
        if level == "restricted":
            yield _at(contract, "KG025", f"column '{path}' is restricted: restricted data never leaves the "
                      "warehouse, so it may not be in a retl table", *where)
        elif column.is_pii:
            if parsed and path not in approved:
                yield _at(contract, "KG025", f"column '{path}' is PII and not in the destination's approvedPii: "
                          "a steward must approve each personal-data column a sync sends out", *column.yaml_path)
        elif parsed and level and level not in allowed:
            yield _at(contract, "KG025", f"column '{path}' is classified {level}, which the destination does not "
                      f"allow (allowedClassifications: {', '.join(allowed)})", *where)
    pii = {path for path, column in contract.all_columns() if column.is_pii}
    for name in sorted(approved - pii):
        yield Finding.at(_destination_at(contract, "approvedPii"), "KG025",
                         f"approvedPii names '{name}', which is not a PII column of {contract.qualified_name}")


# --- KG026 incremental models ----------------------------------------------------------------------
@rule("KG026", "An incremental model's declaration names its own columns and the sources it reads")
def incremental_declared(contract: Contract, project: Project) -> Iterator[Finding]:
    """A table built incrementally (`customProperties: [{property: incremental, value: {timeColumn, lookback,
    uniqueKey, sources: [{table, timeColumn, key}]}}]`) merges only the rows of a recent window into the existing
    table, so the declaration must be exact: it must be well-formed (reported at its line); the table must be a
    model's (raw tables are loaded, not built); `uniqueKey` (default: the primary key) must be required columns,
    since rows are replaced by key; every source must be a table the model reads, whose `timeColumn` is a column
    of that table of the same type (TIMESTAMP or DATE) as the table's own `timeColumn`, the one clock the
    high-water mark and the window share; a source's `key` must name columns of that table. Without it a build
    would filter a table the model never reads, compare a load time with an event time, or merge rows into the
    wrong ones."""
    try:
        spec = contract.incremental
    except ContractError as exc:
        yield Finding.at(exc.location or contract.location("customProperties"), "KG026", exc.message)
        return
    if spec is None:
        return
    model = project.models.get(contract.qualified_name)
    if model is None:
        yield Finding.at(spec.location, "KG026", f"{contract.qualified_name} has no model: only a built table can "
                         "be incremental")
        return
    for name in spec.unique_key:
        column = contract.column(name)
        if column is not None and not column.required:
            yield Finding.at(spec.location, "KG026", f"uniqueKey column '{name}' is not required: rows are merged "
                             "by key, and a NULL key matches nothing")
    own = contract.column(spec.time_column)
    own_type = typemap.logical_type_of(own.data_type) if own is not None else None
    reads = set(model.refs)
    for source in spec.sources:
        upstream = project.contracts.get(source.table)
        if source.table not in reads or upstream is None:
            yield Finding.at(source.location, "KG026", f"source {source.table} is not a table the model "
                             f"{contract.qualified_name} reads")
            continue
        column = upstream.column(source.time_column)
        kind = typemap.logical_type_of(column.data_type) if column is not None else None
        if kind != own_type:
            yield Finding.at(source.location, "KG026", f"source timeColumn {source.table}.{source.time_column} must "
                             f"be a {own_type} column of {source.table}, like timeColumn '{spec.time_column}'")
        for name in source.key:
            if upstream.column(name) is None:
                yield Finding.at(source.location, "KG026", f"source key '{name}' is not a column of {source.table}")


# --- KG027 a retl table's row hash --------------------------------------------------------------
ROW_HASH = "row_hash"


@rule("KG027", "A retl table's row_hash hashes exactly the fields it writes")
def destination_row_hash(contract: Contract, project: Project) -> Iterator[Finding]:
    """A sync sends a record only when its `row_hash` changed, so the hash must cover exactly the fields the
    destination block writes: a written field missing from it would change in the table and never be sent; an extra
    one would resend records whose written fields did not change. The model's `row_hash` is a hash of one
    `STRUCT(expr AS column, ...)` whose fields are the written mappings' columns in mapping order (the order fixes the
    JSON the hash is taken of), each the same expression the model selects for that column. Reported at the
    `row_hash` line of the model (or at the destination when the table has no `row_hash`)."""
    destination = _destination(contract)
    model = project.models.get(contract.qualified_name)
    if contract.layer != "retl" or destination is None or model is None or model.reference:
        return
    if contract.primary_key != [destination.key_column] or any(contract.column(m.column) is None
                                                                for m in destination.fields):
        return  # the mapping itself is wrong: KG022 / KG024 say so, once
    if contract.column(ROW_HASH) is None:
        yield Finding.at(destination.location, "KG027", f"{contract.qualified_name} has no {ROW_HASH} column: a sync "
                         "compares row hashes to send only the records that changed")
        return
    try:
        ast = model.ast
    except KcrmGovError:
        return  # a model that does not parse: `check` reports it
    selected = {p.alias_or_name: p.unalias() for p in ast.selects} if isinstance(ast, exp.Select) else {}
    row_hash = selected.get(ROW_HASH)
    struct = row_hash.find(exp.Struct) if row_hash is not None else None
    where = model.location(*_node_position(row_hash)) if row_hash is not None else destination.location
    if struct is None:
        yield Finding.at(where, "KG027", f"{model.path.as_posix()} must select {ROW_HASH} as a hash of one STRUCT of "
                         "the written fields, e.g. TO_HEX(MD5(TO_JSON_STRING(STRUCT(a AS a, ...)))) AS row_hash")
        return
    fields = [(f.this.name, f.expression) if isinstance(f, exp.PropertyEQ) else (f.alias_or_name, f.unalias())
              for f in struct.expressions]
    written = [m.column for m in destination.written]
    hashed = [name for name, _ in fields]
    if hashed != written:
        yield Finding.at(where, "KG027", f"{ROW_HASH} hashes ({', '.join(hashed)}) but the destination writes "
                         f"({', '.join(written)}): the STRUCT must list exactly the written columns, in mapping order")
        return
    for name, expression in fields:
        # a cast to the column's type (the models cast every output) changes no value's identity
        if name in selected and _uncast(selected[name]) != _uncast(expression):
            yield Finding.at(where, "KG027", f"{ROW_HASH} hashes {name} as {expression.sql('bigquery')} but the model "
                             f"selects {selected[name].sql('bigquery')} AS {name}: hash the value that is written")


def _uncast(node: exp.Expr) -> exp.Expr:
    """``node`` without its outer CASTs."""
    while isinstance(node, exp.Cast):
        node = node.this
    return node
