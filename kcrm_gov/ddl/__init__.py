"""DDL generators: one module per engine, each turning a contract into CREATE statements.

Nothing else in kcrm-gov spells a column type or a CREATE TABLE: engines create tables
from these statements.
"""

from __future__ import annotations

from ..escape import sql_text


def sql_string(text: str | None) -> str:
    """``text`` as a DuckDB string literal (quotes escaped by sqlglot; see :mod:`kcrm_gov.escape`)."""
    return sql_text(text or "", "duckdb")


def quote(name: str) -> str:
    """A double-quoted identifier. Lint guarantees names are plain identifiers; quoting
    keeps them from colliding with keywords a future engine version reserves."""
    return '"' + name.replace('"', '""') + '"'
