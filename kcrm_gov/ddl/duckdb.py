"""DuckDB DDL from a contract: types, NOT NULL, PRIMARY KEY and COMMENT ON descriptions."""

from __future__ import annotations

from ..contracts import Contract
from . import quote, sql_string


def relation(schema: str, table: str) -> str:
    """``"schema"."table"``."""
    return f"{quote(schema)}.{quote(table)}"


def create_table(contract: Contract, schema: str, table: str | None = None, *, replace: bool = False,
                 constraints: bool = True) -> list[str]:
    """The statements that create ``contract``'s table as ``schema.table`` in DuckDB.

    ``constraints`` adds NOT NULL and PRIMARY KEY (DuckDB enforces both). The statements are
    returned as a list: the CREATE, then one COMMENT ON per described table and column.
    """
    name = relation(schema, table or contract.table)
    # Raw tables get no PRIMARY KEY index: they hold what loaders land (one row per sync), the
    # loader (`kcrm-gov load`) checks key uniqueness itself and the generated Soda duplicate check
    # verifies it, while DuckDB's index would cost two thirds of the load time at 3M rows.
    with_key = constraints and contract.layer != "raw"
    lines = []
    for column in contract.columns:
        not_null = " NOT NULL" if constraints and column.required else ""
        lines.append(f"  {quote(column.name)} {column.duckdb_type}{not_null}")
    if with_key and contract.primary_key:
        lines.append(f"  PRIMARY KEY ({', '.join(quote(c) for c in contract.primary_key)})")
    verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE"
    statements = [f"{verb} {name} (\n" + ",\n".join(lines) + "\n)"]
    if contract.description:
        statements.append(f"COMMENT ON TABLE {name} IS {sql_string(contract.description.strip())}")
    for column in contract.columns:
        if column.description:
            statements.append(
                f"COMMENT ON COLUMN {name}.{quote(column.name)} IS {sql_string(column.description.strip())}")
    return statements
