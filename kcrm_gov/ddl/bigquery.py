"""BigQuery DDL and the BigQuery JSON table schema, from a contract.

``create_table`` writes one ``CREATE TABLE `project.dataset.table``` statement:

* every column, nested ``STRUCT`` / ``ARRAY<STRUCT>`` fields included, rendered from the
  contract's nested fields, with ``OPTIONS(description=...)`` on every column and field;
* ``NOT NULL`` for required columns and required nested fields (never on ARRAY columns:
  BigQuery arrays are REPEATED, they cannot be REQUIRED; an empty array stands for NULL);
* ``PRIMARY KEY (...) NOT ENFORCED`` and ``FOREIGN KEY (col) REFERENCES ... NOT ENFORCED`` from
  the contract's relationships (BigQuery keeps key relations inside one dataset, so only
  references into the same layer become foreign keys; a table cannot reference itself);
* ``PARTITION BY`` from the partitioned column and the ``partitionGranularity`` custom property
  (a DATE column as is or ``DATE_TRUNC``; a TIMESTAMP column as ``DATE(col)`` or
  ``TIMESTAMP_TRUNC``), or ingestion time (``partitioning: ingestion_time``);
* ``CLUSTER BY`` from the ``clusterBy`` custom property;
* table ``OPTIONS(description=..., labels=[layer, domain, owner, classification])``, the
  classification label being the highest classification of any column or nested field.

Every string literal and identifier is rendered by sqlglot's BigQuery generator (escaping),
every type by :mod:`kcrm_gov.typemap`. Policy tags cannot be set by DDL: they are in the JSON
schema (``json_schema``) and applied by the BigQuery engine after creation.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from .. import typemap
from ..errors import KcrmGovError, Location
from ..escape import sql_text
from ..policy_tags import Taxonomy, column_policy_tags

if TYPE_CHECKING:
    from ..contracts import Column, Contract

T = exp.DataType.Type
GRANULARITIES = ("HOUR", "DAY", "MONTH", "YEAR")
INGESTION_TIME = "ingestion_time"
MAX_CLUSTER_COLUMNS = 4
MAX_COLUMN_DESCRIPTION = 1024  # BigQuery refuses longer column descriptions
MAX_TABLE_DESCRIPTION = 16384
# Standard SQL type name -> the legacy name the JSON table schema (`bq`, tables.insert) uses.
LEGACY_TYPE_NAMES = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN", "STRUCT": "RECORD"}
STANDARD_TYPE_NAMES = {legacy: standard for standard, legacy in LEGACY_TYPE_NAMES.items()}


class DdlError(KcrmGovError):
    """A contract asks for something BigQuery DDL cannot express."""


# --- rendering helpers --------------------------------------------------------------------------
def ident(name: str) -> str:
    """An identifier as BigQuery spells it (backticked only when it must be)."""
    return exp.to_identifier(name).sql(dialect="bigquery")


def literal(text: str) -> str:
    """A BigQuery string literal (quotes, backslashes and newlines escaped by sqlglot)."""
    return sql_text(text, "bigquery")


def qualified(project: str, dataset: str, table: str) -> str:
    """```project.dataset.table``` (one backticked path, as BigQuery writes it)."""
    return "`" + f"{project}.{dataset}.{table}".replace("`", "") + "`"


def label_value(text: str) -> str:
    """``text`` as a BigQuery label key/value: lowercase letters, digits, ``_`` and ``-``, ≤ 63."""
    return re.sub(r"[^a-z0-9_-]", "_", text.strip().lower())[:63]


def _description(text: str | None, limit: int) -> str | None:
    text = " ".join((text or "").split())  # folded YAML: one line, single spaces
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _options(description: str | None, limit: int = MAX_COLUMN_DESCRIPTION) -> str:
    text = _description(description, limit)
    return f" OPTIONS(description={literal(text)})" if text else ""


# --- columns ------------------------------------------------------------------------------------
def _is_array(column: Column) -> bool:
    return column.data_type.this == T.ARRAY


def _field_list(fields: list[Column], depth: int, nested_required: bool) -> str:
    # top-level columns sit at one indent, the fields of a column at depth d at d + 2
    body = ",\n".join("  " * (depth + 2) + _column(f, depth + 1, nested_required, top=False) for f in fields)
    return f"\n{body}\n{'  ' * (depth + 1)}"


def _type(column: Column, depth: int, nested_required: bool) -> str:
    """The column's type; STRUCT fields are spelled out so each can carry its own OPTIONS."""
    dt = column.data_type
    if column.fields and dt.this == T.ARRAY:
        return f"ARRAY<STRUCT<{_field_list(column.fields, depth, nested_required)}>>"
    if column.fields and dt.this == T.STRUCT:
        return f"STRUCT<{_field_list(column.fields, depth, nested_required)}>"
    return typemap.to_bigquery(dt)


def _column(column: Column, depth: int, nested_required: bool, top: bool = True) -> str:
    text = f"{ident(column.name)} {_type(column, depth, nested_required)}"
    if column.required and not _is_array(column) and (top or nested_required):
        text += " NOT NULL"
    return text + _options(column.description)


# --- table clauses ------------------------------------------------------------------------------
def table_labels(contract: Contract) -> dict[str, str]:
    """The labels every BigQuery table of the contract carries."""
    raw = {"layer": contract.layer, "domain": contract.model.domain, "owner": contract.owner_team,
           "classification": contract.highest_classification}
    return {k: label_value(str(v)) for k, v in raw.items() if v}


def is_ingestion_time_partitioned(contract: Contract) -> bool:
    return str(contract.properties.get("partitioning") or "").lower() == INGESTION_TIME


def partition_expression(contract: Contract) -> str | None:
    """The ``PARTITION BY`` expression of the contract's table, or None."""
    granularity = str(contract.properties.get("partitionGranularity") or "DAY").upper()
    where = Location(contract.path)
    if granularity not in GRANULARITIES:
        raise DdlError(f"partitionGranularity '{granularity}' is not one of {', '.join(GRANULARITIES)}", where)
    if is_ingestion_time_partitioned(contract):
        return "_PARTITIONDATE" if granularity == "DAY" else f"TIMESTAMP_TRUNC(_PARTITIONTIME, {granularity})"
    column = contract.partition_column
    if column is None:
        return None
    name, kind = ident(column.name), column.data_type.this
    if kind == T.DATE:
        if granularity == "HOUR":
            raise DdlError(f"DATE column '{column.name}' cannot be partitioned by HOUR", where)
        return name if granularity == "DAY" else f"DATE_TRUNC({name}, {granularity})"
    if kind == T.TIMESTAMPTZ:
        return f"DATE({name})" if granularity == "DAY" else f"TIMESTAMP_TRUNC({name}, {granularity})"
    if kind == T.TIMESTAMP:  # BigQuery DATETIME
        return f"DATE({name})" if granularity == "DAY" else f"DATETIME_TRUNC({name}, {granularity})"
    raise DdlError(f"partitioned column '{column.name}' is {column.bigquery_type}: BigQuery partitions "
                   "by a DATE, TIMESTAMP or DATETIME column (integer ranges need bounds no contract gives)",
                   where)


def cluster_columns(contract: Contract) -> list[str]:
    columns = contract.cluster_by
    if len(columns) > MAX_CLUSTER_COLUMNS:
        raise DdlError(f"clusterBy names {len(columns)} columns; BigQuery clusters by at most "
                       f"{MAX_CLUSTER_COLUMNS}", Location(contract.path))
    unknown = [c for c in columns if contract.column(c) is None]
    if unknown:
        raise DdlError(f"clusterBy names unknown top-level columns: {', '.join(unknown)}", Location(contract.path))
    return columns


def foreign_keys(contract: Contract) -> list[tuple[str, str, str]]:
    """``(column, referenced table, referenced column)`` of the FOREIGN KEYs BigQuery can hold:
    references to another table of the same layer (``table.column`` or ``layer.table.column``)."""
    out = []
    for column in contract.columns:
        for ref in column.references:
            parts = ref.split(".")
            if len(parts) == 3 and parts[0] == contract.layer:
                parts = parts[1:]
            if len(parts) != 2 or parts[0] == contract.table:
                continue  # another dataset, or a self-reference: BigQuery allows neither
            out.append((column.name, parts[0], parts[1]))
    return out


# --- statements ---------------------------------------------------------------------------------
def create_table(contract: Contract, project: str, dataset: str, *, replace: bool = False,
                 table: str | None = None, as_select: str | None = None, key_constraints: bool = True,
                 nested_required: bool = True, if_not_exists: bool = False) -> str:
    """``CREATE [OR REPLACE] TABLE `project.dataset.table` (...)`` for ``contract``.

    ``as_select`` appends ``AS <select>`` (its columns are matched to the contract's by position,
    so BigQuery coerces them to the contract's types and enforces its NOT NULLs).
    ``key_constraints=False`` leaves out PRIMARY/FOREIGN KEY and ``nested_required=False`` the NOT
    NULL of nested fields: only for the API emulator, which cannot parse them.
    """
    name = qualified(project, dataset, table or contract.table)
    lines = [_column(c, 0, nested_required) for c in contract.columns]
    if key_constraints and contract.primary_key:
        lines.append(f"PRIMARY KEY ({', '.join(ident(c) for c in contract.primary_key)}) NOT ENFORCED")
    if key_constraints:
        for column, ref_table, ref_column in foreign_keys(contract):
            lines.append(f"FOREIGN KEY ({ident(column)}) REFERENCES {qualified(project, dataset, ref_table)}"
                         f"({ident(ref_column)}) NOT ENFORCED")
    verb = "CREATE OR REPLACE TABLE" if replace else (
        "CREATE TABLE IF NOT EXISTS" if if_not_exists else "CREATE TABLE")
    sql = f"{verb} {name} (\n" + ",\n".join("  " + line for line in lines) + "\n)"
    partition = partition_expression(contract)
    if partition and as_select is not None and is_ingestion_time_partitioned(contract):
        raise DdlError("an ingestion-time partitioned table cannot be created from a query "
                       "(BigQuery refuses PARTITION BY _PARTITIONTIME with AS SELECT): load it instead",
                       Location(contract.path))
    if partition:
        sql += f"\nPARTITION BY {partition}"
    clusters = cluster_columns(contract)
    if clusters:
        sql += f"\nCLUSTER BY {', '.join(ident(c) for c in clusters)}"
    options = []
    description = _description(contract.description, MAX_TABLE_DESCRIPTION)
    if description:
        options.append(f"description={literal(description)}")
    labels = table_labels(contract)
    if labels:
        pairs = ", ".join(f"({literal(k)}, {literal(v)})" for k, v in labels.items())
        options.append(f"labels=[{pairs}]")
    if options:
        sql += "\nOPTIONS(\n" + ",\n".join("  " + o for o in options) + "\n)"
    if as_select is not None:
        sql += f"\nAS\n{as_select.strip()}"
    return sql


# --- JSON table schema --------------------------------------------------------------------------
def legacy_type(dt: exp.DataType) -> str:
    """The JSON-schema (legacy) type name of a scalar or STRUCT type: INTEGER, FLOAT, RECORD..."""
    if dt.this == T.STRUCT:
        return "RECORD"
    bare = typemap.to_bigquery(exp.DataType(this=dt.this, nested=False))
    return LEGACY_TYPE_NAMES.get(bare, bare)


def _schema_field(column: Column, path: str, tags: dict[str, str]) -> dict[str, Any]:
    dt = column.data_type
    repeated = dt.this == T.ARRAY
    element = dt.expressions[0] if repeated else dt
    entry: dict[str, Any] = {"name": column.name, "type": legacy_type(element),
                             "mode": "REPEATED" if repeated else "REQUIRED" if column.required else "NULLABLE"}
    if element.this in (T.DECIMAL, T.BIGDECIMAL) and element.expressions:
        precision, *scale = (int(e.this.this) for e in element.expressions)
        entry["precision"] = str(precision)
        if scale:
            entry["scale"] = str(scale[0])
    elif element.this in (T.TEXT, T.VARCHAR, T.BINARY) and element.expressions:
        entry["maxLength"] = str(int(element.expressions[0].this.this))
    description = _description(column.description, MAX_COLUMN_DESCRIPTION)
    if description:
        entry["description"] = description
    if column.fields:
        entry["fields"] = [_schema_field(f, f"{path}.{f.name}", tags) for f in column.fields]
    elif path in tags:
        entry["policyTags"] = {"names": [tags[path]]}
    return entry


def json_schema(contract: Contract, taxonomy: Taxonomy | None = None) -> list[dict[str, Any]]:
    """The BigQuery JSON table schema (as ``bq mk --schema`` and ``tables.insert`` take it), with
    ``policyTags`` on every classified leaf field."""
    tags = column_policy_tags(contract, taxonomy)
    return [_schema_field(c, c.name, tags) for c in contract.columns]


def creation_order(contracts: list[Contract]) -> list[Contract]:
    """``contracts`` ordered so that each table comes after the tables its FOREIGN KEYs reference
    (BigQuery checks that a referenced table exists when the referencing one is created)."""
    by_name = {c.qualified_name: c for c in contracts}
    done: dict[str, Contract] = {}
    visiting: set[str] = set()

    def visit(contract: Contract) -> None:
        key = contract.qualified_name
        if key in done or key in visiting:
            return  # a reference cycle: BigQuery has the same problem, order within it is arbitrary
        visiting.add(key)
        for _, ref_table, _ in foreign_keys(contract):
            target = by_name.get(f"{contract.layer}.{ref_table}")
            if target is not None:
                visit(target)
        visiting.discard(key)
        done[key] = contract

    for contract in contracts:
        visit(contract)
    return list(done.values())
