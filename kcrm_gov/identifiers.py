"""Safe SQL identifiers.

Every generator (DDL, checks, models, lineage) writes table, column and label names into
SQL and YAML. Lint refuses any name that is not a plain lower-case identifier or that is a
reserved word of BigQuery or DuckDB, so later code can trust the names it is given.
"""

from __future__ import annotations

import re

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")
# BigQuery labels: lower-case letters, digits, underscores and dashes, at most 63 characters.
LABEL = re.compile(r"^[a-z0-9_-]{1,63}$")

# BigQuery's reserved keywords (GoogleSQL lexical structure) and DuckDB's reserved keywords
# (duckdb_keywords() where keyword_category = 'reserved', DuckDB 1.5).
RESERVED_WORDS: frozenset[str] = frozenset("""
all and any array as asc assert_rows_modified at between by case cast collate contains create cross cube
current default define desc distinct else end enum escape except exclude exists extract false fetch
following for from full group grouping groups hash having if ignore in inner intersect interval into is
join lateral left like limit lookup merge natural new no not null nulls of on or order outer over
partition preceding proto qualify range recursive respect right rollup rows select set some struct
tablesample then to treat true unbounded union unnest using when where window with within
analyse analyze asymmetric both check column constraint deferrable describe do foreign initially
lambda leading offset only pivot pivot_longer pivot_wider placing primary references returning show
summarize symmetric table trailing unique unpivot variadic
""".split())


def identifier_problem(name: object) -> str | None:
    """Why ``name`` is not a safe identifier, or None when it is."""
    if not isinstance(name, str) or not name:
        return "is empty"
    if not IDENTIFIER.match(name):
        return ("is not a safe identifier: use lower-case letters, digits and underscores, "
                "starting with a letter or underscore")
    if name in RESERVED_WORDS:
        return "is a reserved word in BigQuery or DuckDB"
    return None


def label_problem(value: object) -> str | None:
    """Why ``value`` cannot be a BigQuery label value, or None when it can."""
    if not isinstance(value, str) or not LABEL.match(value):
        return "is not a valid BigQuery label (lower-case letters, digits, _ and -, at most 63 characters)"
    return None
