"""DuckDB DDL from a contract: types, NOT NULL and COMMENT ON descriptions.

No ``PRIMARY KEY`` clause: DuckDB backs one with an index that it keeps in memory, where it cannot
be evicted, until a checkpoint writes it out, and no checkpoint runs while another write is open (a
build runs several models at once). At scale 100 the event tables' indexes held 8.4 GiB of a 16GB
limit, and most of an incremental merge's time went to updating them. The build checks the key with
a query instead (:class:`kcrm_gov.engines.duckdb.DuckDBEngine`), as BigQuery, which enforces no key,
leaves it to the generated duplicate check.
"""

from __future__ import annotations

from ..contracts import Contract
from . import quote, sql_string


def relation(schema: str, table: str) -> str:
    """``"schema"."table"``."""
    return f"{quote(schema)}.{quote(table)}"


def create_table(contract: Contract, schema: str, table: str | None = None, *, replace: bool = False,
                 constraints: bool = True) -> list[str]:
    """The statements that create ``contract``'s table as ``schema.table`` in DuckDB.

    ``constraints`` adds NOT NULL to required and primary-key columns (DuckDB enforces it). The
    statements are returned as a list: the CREATE, then one COMMENT ON per described table and column.
    """
    name = relation(schema, table or contract.table)
    key = set(contract.primary_key)
    lines = []
    for column in contract.columns:
        not_null = " NOT NULL" if constraints and (column.required or column.name in key) else ""
        lines.append(f"  {quote(column.name)} {column.duckdb_type}{not_null}")
    verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE"
    statements = [f"{verb} {name} (\n" + ",\n".join(lines) + "\n)"]
    if contract.description:
        statements.append(f"COMMENT ON TABLE {name} IS {sql_string(contract.description.strip())}")
    for column in contract.columns:
        if column.description:
            statements.append(
                f"COMMENT ON COLUMN {name}.{quote(column.name)} IS {sql_string(column.description.strip())}")
    return statements
