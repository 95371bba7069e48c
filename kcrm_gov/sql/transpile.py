"""BigQuery SQL → DuckDB SQL that returns BigQuery's answers.

sqlglot transpiles most BigQuery constructs, but a few run on DuckDB and silently give a different
answer (DEPENDENCIES.md, section "sqlglot BigQuery → DuckDB").  ``to_duckdb`` parses the BigQuery
text, applies the AST rewrites in ``REWRITES`` (in order, each bottom-up so nested calls are
rewritten too), and generates DuckDB SQL.  Constructs that cannot give identical values are refused
with a ``TranspileError`` rather than run with a different meaning.

Run the result with ``SET TimeZone='UTC'`` (BigQuery's default time zone): TIMESTAMP values become
DuckDB TIMESTAMPTZ, and EXTRACT/CAST on them follow the session time zone.
"""

from __future__ import annotations

import contextlib
import functools
from collections import deque
from collections.abc import Callable

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types

from kcrm_gov.errors import KcrmGovError, Location
from kcrm_gov.sqlerrors import SQL_ERRORS

__all__ = ["REWRITES", "TranspileError", "to_duckdb"]

DType = exp.DataType.Type

# sqlglot warns about this for every EXTRACT on a TIMESTAMP; it does not apply when DuckDB runs
# with TimeZone='UTC', which is how the transpiled SQL must be run (see the module docstring).
_IGNORED_UNSUPPORTED = ("EXTRACT from TIMESTAMPTZ",)


class TranspileError(KcrmGovError):
    """BigQuery SQL that cannot be parsed, or cannot run on DuckDB with BigQuery's answer."""

    def __init__(self, message: str, *, line: int = 0, col: int = 0, source: str | None = None) -> None:
        location = Location(source or "<sql>", line, col) if (source or line) else None
        super().__init__(message, location)
        self.line = line
        self.col = col


def _position(node: exp.Expr | None) -> tuple[int, int]:
    """(line, column of the first character) of a node, else of a descendant, else of an ancestor."""
    while node is not None:
        for candidate in node.walk():
            meta = candidate.meta
            if "line" in meta:
                # sqlglot records the column of a token's last character; report where it starts.
                width = meta.get("end", 0) - meta.get("start", 0)
                return meta["line"], max(1, meta["col"] - width)
        node = node.parent
    return 0, 0


def _refuse(node: exp.Expr, message: str) -> TranspileError:
    line, col = _position(node)
    return TranspileError(message, line=line, col=col)


@functools.cache
def _template(template: str) -> exp.Expr:
    return sqlglot.parse_one(template, read="duckdb")


def _duckdb(template: str, **values: exp.Expr) -> exp.Expr:
    """A DuckDB expression template whose placeholder columns (``_x``...) are replaced by nodes."""
    # parsed once per template (models use the same ones many times); transform() works on a copy
    return _template(template).transform(
        lambda n: values[n.name].copy() if isinstance(n, exp.Column) and n.name in values else n
    )


def _known_type(node: exp.Expr) -> exp.DataType | None:
    """The type sqlglot inferred for ``node``, or None when it is unknown (e.g. a bare column)."""
    typ = node.type
    if typ is None or typ.this in (DType.UNKNOWN, DType.NULL):
        return None
    return typ


# --------------------------------------------------------------------------------------- rewrites


def strip_catalog(node: exp.Expr) -> exp.Expr:
    """`project.dataset.table` reads dataset.table: the project is a BigQuery billing/catalog name."""
    if isinstance(node, exp.Table) and node.args.get("catalog"):
        node.set("catalog", None)
    return node


def numeric_is_38_9(node: exp.Expr) -> exp.Expr:
    """BigQuery NUMERIC (alias DECIMAL) is DECIMAL(38, 9); sqlglot leaves DuckDB's (18, 3) default."""
    if isinstance(node, exp.DataType):
        if node.this == DType.DECIMAL and not node.expressions:
            return exp.DataType.build("DECIMAL(38, 9)", dialect="duckdb")
        if node.this == DType.BIGDECIMAL:
            # BIGNUMERIC is DECIMAL(76.76, 38); DuckDB's DECIMAL stops at 38 digits, so any mapping
            # would round or overflow values that BigQuery keeps exactly.
            raise _refuse(
                node,
                "BIGNUMERIC (76 digits, scale 38) has no DuckDB equivalent: DuckDB DECIMAL holds at most "
                "38 digits. Use NUMERIC (DECIMAL(38, 9)) if the values fit, or FLOAT64.",
            )
    return node


# BigQuery (ZetaSQL StringToNumeric<int64>): leading spaces, an optional sign, decimal digits, trailing
# whitespace; or a hex literal `[+-]0x...`.  Anything else ('10.5', '1e3', '1_000') is an error.
_INT64_STRING = r"""CASE
  WHEN _s IS NULL THEN NULL
  WHEN REGEXP_FULL_MATCH(_s, '\s*[+-]?[0-9]+\s*') THEN {cast}(_s AS BIGINT)
  WHEN REGEXP_FULL_MATCH(_s, ' *[+-]?0[xX][0-9a-fA-F]+\s*')
    THEN {cast}(REGEXP_EXTRACT(_s, '0[xX][0-9a-fA-F]+') AS BIGINT)
      * CASE WHEN CONTAINS(_s, '-') THEN -1 ELSE 1 END
  ELSE {fail}
END"""
# BigQuery FLOAT64 → INT64 rounds halfway cases away from zero; DuckDB's cast rounds half to even.
_INT64_FLOAT = "{cast}(ROUND(_f) AS BIGINT)"


def _int64_from_string(value: exp.Expr, safe: bool) -> exp.Expr:
    # BigQuery's own message quotes the value ('Bad int64 value: ann@example.com'); this one names
    # the expression instead, so no row's data reaches a log, a run result or a lineage event
    cast, fail = ("TRY_CAST", "NULL") if safe else ("CAST", "ERROR(_msg)")
    message = exp.Literal.string(f"Bad int64 value in CAST({_source_text(value)} AS INT64): a string that is not "
                                 "a whole number")
    return _duckdb(_INT64_STRING.format(cast=cast, fail=fail), _s=value, _msg=message)


def _source_text(value: exp.Expr) -> str:
    """The BigQuery SQL of the expression being cast (the model's own code, never a value)."""
    inner = value.this if isinstance(value, exp.TryCast) and value.meta.get("kcrm_probe") else value
    return inner.sql(dialect="bigquery")


def _int64_from_float(value: exp.Expr, safe: bool) -> exp.Expr:
    return _duckdb(_INT64_FLOAT.format(cast="TRY_CAST" if safe else "CAST"), _f=value)


def int64_cast(node: exp.Expr) -> exp.Expr:
    """CAST/SAFE_CAST(x AS INT64): only integer-literal strings convert; FLOAT64 rounds half away from zero.

    '10.5' is NULL (SAFE_CAST) or an error (CAST) in BigQuery, where DuckDB rounds it to 11.  The rule is
    chosen from the inferred input type, or at run time with TYPEOF() when the type is unknown.
    """
    if not (isinstance(node, exp.Cast) and node.to.this == DType.BIGINT):
        return node
    safe = isinstance(node, exp.TryCast) or bool(node.args.get("safe"))
    value = node.this
    typ = _known_type(value)
    if typ is not None:
        if typ.this in exp.DataType.TEXT_TYPES:
            return _int64_from_string(value, safe)
        if typ.this in (DType.FLOAT, DType.DOUBLE):
            return _int64_from_float(value, safe)
        return node  # integers, NUMERIC and BOOL cast the same way in both engines
    # Unknown input type (typically a column): pick the rule from DuckDB's runtime type of the value.
    as_text = exp.TryCast(this=value.copy(), to=exp.DataType.build("VARCHAR"))
    as_text.meta["kcrm_probe"] = True  # a message names the model's expression, not this probe
    as_float = exp.TryCast(this=value.copy(), to=exp.DataType.build("DOUBLE"))
    return _duckdb(
        "CASE TYPEOF(_v) WHEN 'VARCHAR' THEN _text WHEN 'DOUBLE' THEN _float WHEN 'FLOAT' THEN _float "
        "ELSE _other END",
        _v=value,
        _text=_int64_from_string(as_text, safe),
        _float=_int64_from_float(as_float, safe),
        _other=node,
    )


_ORDINAL = "_kcrm_ordinal"


def unnest_offset_from_zero(node: exp.Expr) -> exp.Expr:
    """UNNEST(...) WITH OFFSET numbers elements from 0; DuckDB's WITH ORDINALITY counts from 1."""
    if not (isinstance(node, exp.Unnest) and node.args.get("offset")) or node.meta.get(_ORDINAL):
        return node
    offset = node.args["offset"]
    offset_name = offset.name if isinstance(offset, exp.Identifier) else "offset"
    alias = node.args.get("alias")
    columns = list(alias.columns) if alias else []
    # BigQuery names an unaliased element column f0_.
    value = columns[0].copy() if columns else exp.to_identifier("f0_")
    inner = exp.Unnest(
        expressions=[e.copy() for e in node.expressions],
        alias=exp.TableAlias(columns=[value.copy()]),
        offset=exp.to_identifier(_ORDINAL),
    )
    inner.meta[_ORDINAL] = True
    select = exp.select(
        exp.column(value.copy()),
        exp.alias_(exp.Sub(this=exp.column(_ORDINAL), expression=exp.Literal.number(1)), offset_name),
    ).from_(inner)
    # A lateral derived table: DuckDB resolves correlated references (FROM t, UNNEST(t.arr)) itself.
    return exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier(f"_unnest_{offset_name}")))


def extract_parts(node: exp.Expr) -> exp.Expr:
    """EXTRACT parts with BigQuery numbering: DAYOFWEEK Sunday=1, WEEK Sunday-based 0..53, ISOWEEK, DATE."""
    if not isinstance(node, exp.Extract):
        return node
    part, value = node.this, node.expression
    if isinstance(part, exp.WeekStart):  # WEEK(<weekday>)
        day = part.this.name.upper()
        formats = {"SUNDAY": "%U", "MONDAY": "%W"}
        if day not in formats:
            raise _refuse(
                node, f"EXTRACT(WEEK({day}) ...) is not supported: only WEEK(SUNDAY), WEEK(MONDAY)."
            )
        return _duckdb(f"CAST(STRFTIME(_v, '{formats[day]}') AS BIGINT)", _v=value)
    name = part.name.upper()
    if name == "DAYOFWEEK":
        return exp.Paren(this=exp.Add(this=node, expression=exp.Literal.number(1)))
    if name == "WEEK":  # weeks begin on Sunday; days before the first Sunday are week 0
        return _duckdb("CAST(STRFTIME(_v, '%U') AS BIGINT)", _v=value)
    if name == "ISOWEEK":  # DuckDB's WEEK is the ISO 8601 week
        return exp.Extract(this=exp.var("WEEK"), expression=value)
    if name in ("DATE", "TIME"):
        return exp.cast(value, name)
    return node


_TIMESTAMP_TYPES = {DType.TIMESTAMP, DType.TIMESTAMPTZ, DType.TIMESTAMPLTZ, DType.DATETIME}


def date_functions_return_date(node: exp.Expr) -> exp.Expr:
    """DATE_TRUNC/DATE_ADD/DATE_SUB on a DATE return a DATE in BigQuery; DuckDB returns a TIMESTAMP."""
    if isinstance(node, exp.DateTrunc):
        typ = _known_type(node.this)
        if typ is not None and typ.this in _TIMESTAMP_TYPES:
            return node  # DATE_TRUNC(timestamp, ...) returns the input's type in BigQuery too
        return exp.cast(node, "DATE")
    if isinstance(node, (exp.DateAdd, exp.DateSub)):
        return exp.cast(node, "DATE")
    return node


def timestamp_diff_whole_units(node: exp.Expr) -> exp.Expr:
    """TIMESTAMP_DIFF counts whole units (01:00 - 00:00:01 is 0 HOUR); DuckDB DATE_DIFF counts boundaries."""
    if not isinstance(node, exp.TimestampDiff):
        return node
    unit = node.args.get("unit")
    unit_name = unit.name.upper() if unit else "DAY"
    # DuckDB DATE_SUB(part, start, end) is the number of complete parts from start to end.
    return exp.Anonymous(
        this="DATE_SUB", expressions=[exp.Literal.string(unit_name), node.expression, node.this]
    )


def refuse_farm_fingerprint(node: exp.Expr) -> exp.Expr:
    """FARM_FINGERPRINT: DuckDB has no FarmHash, so no function returns BigQuery's INT64 values."""
    if isinstance(node, exp.FarmFingerprint):
        raise _refuse(
            node,
            "FARM_FINGERPRINT has no DuckDB equivalent giving identical values (DuckDB has no FarmHash "
            "Fingerprint64). For a portable key use TO_HEX(MD5(...)) (or TO_HEX(SHA256(...))), which both "
            "engines compute identically; keep FARM_FINGERPRINT only in models that never run on DuckDB.",
        )
    return node


def refuse_unaliased_unnest(node: exp.Expr) -> exp.Expr:
    """FROM UNNEST(structs) without an alias: BigQuery exposes the struct's fields as columns, DuckDB
    one column named ``unnest``, so ``WHERE key = ...`` cannot bind there."""
    if isinstance(node, exp.Unnest) and node.arg_key in ("this", "expressions") \
            and isinstance(node.parent, (exp.From, exp.Join)) and not node.args.get("alias"):
        raise _refuse(
            node,
            "UNNEST without an alias: BigQuery lets the array's struct fields be read as bare columns, "
            "DuckDB does not. Alias it and qualify its fields, e.g. "
            "(SELECT p.value.string_value FROM UNNEST(event_params) AS p WHERE p.key = 'page_location').",
        )
    return node


def safe_parse(node: exp.Expr) -> exp.Expr:
    """SAFE.PARSE_DATE/SAFE.PARSE_TIMESTAMP return NULL for unparseable text: DuckDB TRY_STRPTIME."""
    if not isinstance(node, exp.SafeFunc):
        return node
    inner = node.this
    if isinstance(inner, (exp.StrToDate, exp.StrToTime)):
        # The format is already in strptime form (sqlglot maps %F, %T...); DuckDB emits TRY_STRPTIME.
        inner.set("safe", True)
        return inner
    name = inner.meta.get("bigquery_name") or inner.sql_name()
    raise _refuse(
        node,
        f"SAFE.{name} is not supported on DuckDB; only SAFE.PARSE_DATE, SAFE.PARSE_TIMESTAMP and SAFE_CAST.",
    )


def array_agg_limit(node: exp.Expr) -> exp.Expr:
    """ARRAY_AGG(x ORDER BY y LIMIT n) keeps the first n elements; DuckDB has no LIMIT there: slice it."""
    if not (isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Limit)):
        return node
    limit = node.this
    node.set("this", limit.this)
    return exp.Anonymous(this="LIST_SLICE", expressions=[node, exp.Literal.number(1), limit.expression])


Rewrite = Callable[[exp.Expr], exp.Expr]

REWRITES: list[Rewrite] = [
    strip_catalog,
    numeric_is_38_9,
    int64_cast,
    unnest_offset_from_zero,
    extract_parts,
    date_functions_return_date,
    timestamp_diff_whole_units,
    refuse_farm_fingerprint,
    refuse_unaliased_unnest,
    safe_parse,
    array_agg_limit,
]
"""The AST rewrites ``to_duckdb`` applies, in this order."""


def _apply(tree: exp.Expr, rewrite: Rewrite) -> exp.Expr:
    """Apply ``rewrite`` to every node, children before parents, never revisiting the nodes it builds.

    (``Expression.transform`` is top-down and skips the inside of a replaced node, which would leave
    ``DATE_ADD(DATE_TRUNC(...), ...)``'s inner call unrewritten.)
    """
    for node, parent, arg_key, index in reversed(_positions(tree)):
        new = rewrite(node)
        if new is node:
            continue
        if parent is None:
            tree = new
        else:
            parent.set(arg_key or "this", new, index)
    return tree


def _positions(tree: exp.Expr) -> list[tuple[exp.Expr, exp.Expr | None, str | None, int | None]]:
    """Every node with the parent, argument and index it was reached from, breadth first.

    The position is recorded during the walk, not read from ``node.parent``: type annotation
    shares DataType nodes between a CAST and its STRUCT's type, and the shared node's ``parent``
    then points into the type, so a rewrite set there would miss the CAST.
    """
    out: list[tuple[exp.Expr, exp.Expr | None, str | None, int | None]] = []
    queue: deque[tuple[exp.Expr, exp.Expr | None, str | None, int | None]] = deque([(tree, None, None, None)])
    while queue:
        item = queue.popleft()
        out.append(item)
        node = item[0]
        for key, value in node.args.items():
            if isinstance(value, exp.Expr):
                queue.append((value, node, key, None))
            elif isinstance(value, list):
                queue.extend((v, node, key, i) for i, v in enumerate(value) if isinstance(v, exp.Expr))
    return out


def to_duckdb(sql: str, *, source: str | None = None) -> str:
    """Transpile one BigQuery statement to DuckDB SQL that gives the same result.

    ``source`` (a file name) is only used to locate errors.  Raises ``TranspileError`` for a syntax
    error (with line and column) and for constructs that cannot give BigQuery's answer on DuckDB.
    """
    try:
        tree = sqlglot.parse_one(sql, read="bigquery")
    except ParseError as e:
        first = e.errors[0] if e.errors else {}
        raise TranspileError(
            f"BigQuery SQL syntax error: {first.get('description') or e}",
            line=first.get("line") or 0,
            col=first.get("col") or 0,
            source=source,
        ) from None
    except SQL_ERRORS as e:  # tokenizer errors (e.g. an unterminated string) carry no position
        raise TranspileError(f"BigQuery SQL syntax error: {e}", source=source) from None

    # Types only sharpen the rewrites: unknown types get the run-time (TYPEOF) dispatch instead.
    with contextlib.suppress(SqlglotError):
        annotate_types(tree, dialect="bigquery")

    try:
        for rewrite in REWRITES:
            tree = _apply(tree, rewrite)
    except TranspileError as e:
        raise TranspileError(e.message, line=e.line, col=e.col, source=source) from None

    generator = Dialect.get_or_raise("duckdb").generator(unsupported_level=ErrorLevel.IGNORE)
    out = generator.generate(tree, copy=False)  # the tree is this call's own: no defensive copy
    problems = [m for m in generator.unsupported_messages if not m.startswith(_IGNORED_UNSUPPORTED)]
    if problems:
        raise TranspileError("not supported on DuckDB: " + "; ".join(problems), source=source)
    return out
