"""The one place that knows how to spell a type.

A contract column's type is parsed once into a sqlglot ``DataType`` (the AST every generator
shares, as sqlglot shares one AST between dialects) from its BigQuery ``physicalType`` — the
production engine's spelling — or, where that is absent, from its ODCS ``logicalType``.
Nested STRUCT and ARRAY types are built from the contract's nested ``properties``/``items``.
Every DDL, schema comparison and lineage facet renders types through this module.
"""

from __future__ import annotations

import re

from sqlglot import exp

from .sqlerrors import SQL_ERRORS

# ODCS logicalType -> the BigQuery type used when a contract gives no physicalType.
LOGICAL_DEFAULTS: dict[str, str] = {
    "string": "STRING",
    "integer": "INT64",
    "number": "NUMERIC",
    "boolean": "BOOL",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "time": "TIME",
}

T = exp.DataType.Type
# sqlglot type -> the ODCS logicalType it belongs to (used to check that both agree).
_LOGICAL_OF: dict[T, str] = {  # type: ignore[valid-type]
    T.TEXT: "string", T.VARCHAR: "string", T.JSON: "string", T.BINARY: "string",
    T.BIGINT: "integer", T.INT: "integer", T.SMALLINT: "integer", T.TINYINT: "integer",
    T.DOUBLE: "number", T.FLOAT: "number", T.DECIMAL: "number", T.BIGDECIMAL: "number",
    T.BOOLEAN: "boolean",
    T.DATE: "date",
    T.TIMESTAMP: "timestamp", T.TIMESTAMPTZ: "timestamp",
    T.TIME: "time",
    T.STRUCT: "object",
    T.ARRAY: "array",
}

# BigQuery NUMERIC is DECIMAL(38, 9); sqlglot's DuckDB output would leave DuckDB's default
# DECIMAL(18, 3), which silently rounds money. BIGNUMERIC has no DuckDB equivalent wider than 38.
_DUCKDB_DECIMAL = "DECIMAL(38, 9)"


class TypeError_(ValueError):
    """A type in a contract that cannot be understood."""


# Other spellings BigQuery accepts for the same types.
_ALIASES = {"INTEGER": "INT64", "INT": "INT64", "BIGINT": "INT64", "SMALLINT": "INT64", "FLOAT": "FLOAT64",
            "BOOLEAN": "BOOL", "RECORD": "STRUCT", "DECIMAL": "NUMERIC", "BIGDECIMAL": "BIGNUMERIC"}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _squash(text: str) -> str:
    text = _WORD.sub(lambda m: _ALIASES.get(m.group(0).upper(), m.group(0).upper()), text)
    return re.sub(r"\s+", "", text)


def parse_bigquery_type(text: str) -> exp.DataType:
    """Parse a BigQuery type name (``INT64``, ``ARRAY<STRUCT<a STRING>>``...).

    The parse is strict: sqlglot ignores trailing tokens, so the type is rendered back and
    must equal the input (up to case, spacing and BigQuery's own aliases).
    """
    known = _PARSED.get(text)
    if known is not None:
        return known.copy()  # callers own their tree; a copy costs a thirtieth of a parse
    try:
        dt = exp.DataType.build(text, dialect="bigquery", udt=False)
    except (*SQL_ERRORS, ValueError) as exc:
        raise TypeError_(f"'{text}' is not a BigQuery type") from exc
    if dt.this in (None, T.USERDEFINED) or _squash(dt.sql(dialect="bigquery")) != _squash(text):
        raise TypeError_(f"'{text}' is not a BigQuery type")
    if len(_PARSED) < 4096:
        _PARSED[text] = dt.copy()
    return dt


_PARSED: dict[str, exp.DataType] = {}
"""Types already parsed, by their text (a project spells a few dozen types a thousand times)."""


def struct_type(fields: list[tuple[str, exp.DataType]]) -> exp.DataType:
    """A STRUCT of ``(name, type)`` fields, in order."""
    return exp.DataType(
        this=T.STRUCT,
        expressions=[exp.ColumnDef(this=exp.to_identifier(name), kind=dt) for name, dt in fields],
        nested=True,
    )


def array_type(element: exp.DataType) -> exp.DataType:
    """An ARRAY of ``element``."""
    return exp.DataType(this=T.ARRAY, expressions=[element], nested=True)


def logical_type_of(dt: exp.DataType) -> str | None:
    """The ODCS logicalType that a type belongs to, or None when there is none."""
    return _LOGICAL_OF.get(dt.this)


def to_bigquery(dt: exp.DataType) -> str:
    """The type as BigQuery DDL spells it."""
    return dt.sql(dialect="bigquery")


def _duckdb_fix(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.DataType) and node.this in (T.DECIMAL, T.BIGDECIMAL) and not node.expressions:
        return exp.DataType.build(_DUCKDB_DECIMAL, dialect="duckdb")
    return node


def to_duckdb(dt: exp.DataType) -> str:
    """The type as DuckDB spells it (NUMERIC keeps BigQuery's precision and scale)."""
    return dt.transform(_duckdb_fix).sql(dialect="duckdb")  # transform() works on a copy


def to_arrow(dt: exp.DataType):  # -> pyarrow.DataType (pyarrow imported lazily: it is heavy)
    """The Arrow type that carries values of ``dt`` into either engine without loss."""
    import pyarrow as pa

    kind = dt.this
    if kind == T.ARRAY:
        return pa.list_(to_arrow(dt.expressions[0]))
    if kind == T.STRUCT:
        return pa.struct([pa.field(f.name, to_arrow(f.args["kind"])) for f in dt.expressions])
    if kind in (T.DECIMAL, T.BIGDECIMAL):
        if dt.expressions:
            precision, scale = (int(e.this.this) for e in dt.expressions)
            return pa.decimal128(precision, scale)
        return pa.decimal128(38, 9)
    simple = {
        T.BIGINT: pa.int64(), T.INT: pa.int64(), T.DOUBLE: pa.float64(), T.FLOAT: pa.float64(),
        T.BOOLEAN: pa.bool_(), T.TEXT: pa.string(), T.VARCHAR: pa.string(), T.JSON: pa.string(),
        T.DATE: pa.date32(), T.TIMESTAMPTZ: pa.timestamp("us", tz="UTC"), T.TIMESTAMP: pa.timestamp("us"),
        T.TIME: pa.time64("us"), T.BINARY: pa.binary(),
    }
    if kind in simple:
        return simple[kind]
    raise TypeError_(f"no Arrow type for {to_bigquery(dt)}")
