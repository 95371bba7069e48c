"""Reference tables: a CSV file under ``models/<layer>/`` becomes a table, like a dbt seed.

Points, thresholds, title rules, internal domains: data a steward changes in a pull request,
not constants buried in SQL. ``models/<layer>/<table>.csv`` has a contract like every other
table; kcrm-gov turns its rows into one SELECT over literals (``SELECT ... FROM UNNEST([STRUCT(...),
...])``), so the reference table is built, enforced, checked, documented and diffed by the same
machinery as a model, on every engine.

The file is untrusted input: it is bounded in size, every value is parsed by its column's
contract type (a bad value is refused at ``file:line`` with the column's name, never shown when
the column is classified) and reaches SQL only as an escaped literal
(:func:`kcrm_gov.escape.sql_literal`). The header must name the contract's columns.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .contracts import SENSITIVE_CLASSIFICATIONS
from .errors import Location
from .escape import sql_literal

if TYPE_CHECKING:
    from .contracts import Column, Contract

REFERENCE_SUFFIX = ".csv"
MAX_BYTES = 1024 * 1024
MAX_ROWS = 10_000

_TRUE, _FALSE = {"true", "t", "yes", "y", "1"}, {"false", "f", "no", "n", "0"}
_INT = re.compile(r"^[+-]?\d+$")


class ReferenceError(ValueError):
    """A reference file that cannot become its table (carries where)."""

    def __init__(self, message: str, location: Location) -> None:
        super().__init__(message)
        self.message = message
        self.location = location


def parse_rows(text: str, rel: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the data rows (with their 1-based line numbers) of a CSV text."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise ReferenceError(f"the file is larger than {MAX_BYTES:,} bytes; a reference table is small data",
                             Location(rel))
    if "\x00" in text:
        raise ReferenceError("the file holds a NUL character", Location(rel))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ReferenceError("the file is empty: the first line must name the columns", Location(rel, 1)) from None
    except csv.Error as exc:
        raise ReferenceError(f"malformed CSV: {exc}", Location(rel, 1)) from None
    rows: list[tuple[int, list[str]]] = []
    try:
        for record in reader:
            if not record or all(not v.strip() for v in record):
                continue  # blank lines are not rows
            if len(rows) >= MAX_ROWS:
                raise ReferenceError(f"more than {MAX_ROWS:,} rows; a reference table is small data",
                                     Location(rel, reader.line_num))
            rows.append((reader.line_num, record))
    except csv.Error as exc:
        raise ReferenceError(f"malformed CSV: {exc}", Location(rel, reader.line_num)) from None
    return header, rows


def reference_sql(rel: Path, text: str, contract: Contract | None) -> str:
    """The BigQuery SELECT that yields the file's rows, typed by ``contract``.

    Without a contract every column is a STRING (the DAG then reports the missing contract).
    """
    header, rows = parse_rows(text, rel)
    columns = _columns(rel, header, contract)
    names = [name for name, _ in columns]
    selects = ", ".join(f"reference_row.`{n}` AS `{n}`" for n in names)
    if not rows:
        nulls = ", ".join(f"CAST(NULL AS {t}) AS `{n}`" for n, t in columns)
        return f"SELECT {nulls} FROM UNNEST([1]) AS _none WHERE FALSE"
    position = {h: i for i, h in enumerate(header)}
    structs = []
    for line, record in rows:
        if len(record) != len(header):
            raise ReferenceError(f"{len(record)} values where the header names {len(header)} columns",
                                 Location(rel, line))
        cells = []
        for name, type_ in columns:
            column = contract.column(name) if contract is not None else None
            value = _value(record[position[name]], name, type_, column, rel, line)
            cells.append(f"CAST({sql_literal(value).sql(dialect='bigquery')} AS {type_}) AS `{name}`")
        structs.append(f"STRUCT({', '.join(cells)})")
    return f"SELECT {selects}\nFROM UNNEST([\n  " + ",\n  ".join(structs) + "\n]) AS reference_row\n"


def _columns(rel: Path, header: list[str], contract: Contract | None) -> list[tuple[str, str]]:
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise ReferenceError(f"column '{dup}' is named twice in the header", Location(rel, 1))
    for h in header:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", h):
            raise ReferenceError(f"'{h}' is not a column name (letters, digits and _)", Location(rel, 1))
    if contract is None:
        return [(h, "STRING") for h in header]
    declared = [c.name for c in contract.columns]
    unknown = [h for h in header if h not in declared]
    if unknown:
        raise ReferenceError(f"column '{unknown[0]}' is not in the contract ({contract.qualified_name} declares "
                             f"{', '.join(declared)})", Location(rel, 1))
    missing = [d for d in declared if d not in header]
    if missing:
        raise ReferenceError(f"the header has no column '{missing[0]}' that the contract declares", Location(rel, 1))
    try:
        return [(c.name, _type_name(c)) for c in contract.columns]
    except ReferenceError as exc:
        raise ReferenceError(exc.message, Location(rel, 1)) from None


# the types a reference file may hold, as written into the generated SQL: nothing else from the
# contract's physicalType text ever reaches SQL
_TYPES = {"STRING": "STRING", "INT64": "INT64", "INTEGER": "INT64", "INT": "INT64", "BIGINT": "INT64",
          "SMALLINT": "INT64", "NUMERIC": "NUMERIC", "DECIMAL": "NUMERIC", "BIGNUMERIC": "BIGNUMERIC",
          "FLOAT64": "FLOAT64", "FLOAT": "FLOAT64", "DOUBLE": "FLOAT64", "BOOL": "BOOL", "BOOLEAN": "BOOL",
          "DATE": "DATE", "TIMESTAMP": "TIMESTAMP", "DATETIME": "DATETIME"}


def _type_name(column: Column) -> str:
    """The column's type among :data:`_TYPES` (parameters such as NUMERIC(10, 2) dropped)."""
    written = (column.physical_type or "STRING").upper().split("(")[0].strip()
    if written not in _TYPES:
        raise ReferenceError(f"column '{column.name}': type {written[:40]!r} cannot be written in a reference file "
                             "(use STRING, INT64, NUMERIC, FLOAT64, BOOL, DATE or TIMESTAMP)", Location(Path(".")))
    return _TYPES[written]


def _value(cell: str, name: str, type_: str, column: Column | None, rel: Path, line: int) -> Any:
    """The cell parsed as its column's type; an empty cell is NULL."""
    text = cell.strip()
    where = Location(rel, line)
    if text == "":
        if column is not None and (column.required or column.primary_key_position is not None):
            raise ReferenceError(f"column '{name}' is required but empty", where)
        return None
    shown = "the value" if column is not None and column.classification in SENSITIVE_CLASSIFICATIONS else repr(text)
    try:
        if type_ in ("INT64", "INTEGER", "INT", "BIGINT", "SMALLINT"):
            if not _INT.match(text):
                raise ValueError
            return int(text)
        if type_ in ("NUMERIC", "BIGNUMERIC", "DECIMAL", "FLOAT64", "FLOAT", "DOUBLE"):
            number = Decimal(text)
            if not number.is_finite():
                raise ValueError
            # a string literal keeps every digit; the CAST types it (no float rounding on the way)
            return str(number)
        if type_ in ("BOOL", "BOOLEAN"):
            low = text.lower()
            if low not in _TRUE | _FALSE:
                raise ValueError
            return low in _TRUE
        if type_ == "DATE":
            return date.fromisoformat(text).isoformat()
        if type_ in ("TIMESTAMP", "DATETIME"):
            return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
        if type_ == "STRING":
            return text  # surrounding spaces are the CSV's layout, not data
    except (ValueError, InvalidOperation):
        raise ReferenceError(f"column '{name}': {shown} is not a {type_}", where) from None
    raise ReferenceError(f"column '{name}': type {type_} cannot be written in a reference file "
                         "(use STRING, INT64, NUMERIC, FLOAT64, BOOL, DATE or TIMESTAMP)", where)


def row_changes(old_text: str, new_text: str, key: list[str], rel: Path) -> list[tuple[str, str, str | None]]:
    """``(change, message, column)`` for each row added, removed or changed between two versions of
    a reference file, rows matched on ``key`` (the contract's primary key; else the whole row)."""
    def keyed(text: str) -> dict[tuple[str, ...], dict[str, str]]:
        header, rows = parse_rows(text, rel)
        out: dict[tuple[str, ...], dict[str, str]] = {}
        for _, record in rows:
            row = {h: (record[i].strip() if i < len(record) else "") for i, h in enumerate(header)}
            out[tuple(row.get(k, "") for k in (key or header))] = row
        return out

    def label(k: tuple[str, ...]) -> str:
        return ", ".join(f"{name}={value}" for name, value in zip(key or ["row"], k, strict=False))

    before, after = keyed(old_text), keyed(new_text)
    changes: list[tuple[str, str, str | None]] = []
    for k in after.keys() - before.keys():
        changes.append(("reference_row_added", f"row added ({label(k)})", None))
    for k in before.keys() - after.keys():
        changes.append(("reference_row_removed", f"row removed ({label(k)})", None))
    for k in sorted(before.keys() & after.keys()):
        for column in after[k]:
            was, now = before[k].get(column), after[k][column]
            if was != now:
                changes.append(("reference_value_changed", f"row {label(k)}: {column} {was!r} -> {now!r}", column))
    return sorted(changes, key=lambda c: c[1])
