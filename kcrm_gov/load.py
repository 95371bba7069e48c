"""Contract-checked loading of export files into the raw layer, with quarantine.

``load(project, engine, table, files)`` reads CSV, JSONL (newline-delimited JSON) or
Parquet files into a staging table, checks every row against the table's contract and
then, in one transaction, appends the valid rows to the raw table and writes the invalid
ones to the quarantine table ``raw._quarantine``. ``loaded + quarantined == total``,
always; on any error (including a crash half-way) nothing is written.

Rules, checked per row in this order (a row is quarantined once, under the first rule it
breaks; ``message`` lists every problem found in the row):

* ``type``: a non-null value that does not convert to the column's type (``TRY_CAST``
  fails; integers must be written as whole numbers, ``10.5`` is not an INT64);
* ``required``: a null (or absent) value in a required column;
* ``allowed_values``: a value outside the column's allowed values (ODCS ``enum`` or the
  ``allowedValues`` custom property);
* ``duplicate_key``: a primary key seen earlier in the same load (the first occurrence,
  in file order, is kept);
* ``duplicate_key_loaded``: a primary key already present in the raw table.

The quarantine table (created when absent) has one row per rejected input row:
``load_id, loaded_at, target_table, source_file, row_number, rule, column_name, message,
original_values`` — ``row_number`` is the 1-based record number in the file (for CSV the
line is ``row_number + 1`` because of the header, for JSONL it is the line), and
``original_values`` the row's values as read, as JSON text.

Schema drift: a file with columns the contract does not know fails with a
:class:`SchemaDriftError` naming them. With ``allow_new_columns`` the load goes ahead with
the known columns, and each unknown column is recorded once per file in the quarantine
table with ``rule = 'new_column'``, ``column_name`` = the column, ``row_number`` NULL and
``original_values`` = ``{"non_null_values": N, "sample": [up to 5 distinct values]}``.
Those records are notices, not rejected rows: they do not count as quarantined.

Nested columns (GA4 records) are read from Parquet as they are, from JSONL as JSON objects
and arrays, and from CSV as JSON text in the cell (what ``kcrm-gov seed --format csv``
writes).
"""

from __future__ import annotations

import csv
import difflib
import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .ddl import quote, sql_string
from .errors import KcrmGovError, Location

if TYPE_CHECKING:
    from .contracts import Column, Contract
    from .engines import Engine
    from .project import Project

QUARANTINE_TABLE = "_quarantine"
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet",
           ".pq": "parquet"}
RULES = ("type", "required", "allowed_values", "duplicate_key", "duplicate_key_loaded")


class LoadError(KcrmGovError):
    """A load that cannot start: nothing was written."""


class UnknownTableError(LoadError):
    """The table named has no raw contract."""


class MissingFileError(LoadError):
    """An input file does not exist."""


class EmptyFileError(LoadError):
    """An input file holds no data rows."""


class GarbledFileError(LoadError):
    """An input file cannot be parsed (truncated, wrong number of fields, malformed JSON...)."""


class SchemaDriftError(LoadError):
    """An input file has columns the contract does not know."""


@dataclass
class LoadResult:
    table: str
    files: list[str]
    total: int
    loaded: int
    quarantined: int
    rules: dict[str, int] = field(default_factory=dict)
    new_columns: list[str] = field(default_factory=list)
    load_id: str = ""
    quarantine_table: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_table(project: Project, table: str) -> Contract:
    """The raw contract named ``table`` (``raw.x`` or ``x``)."""
    name = table if "." in table else f"raw.{table}"
    contract = project.contracts.get(name)
    if contract is None or contract.layer != "raw":
        raw = [c.qualified_name for c in project.layer("raw")]
        close = difflib.get_close_matches(name, raw, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UnknownTableError(f"no raw contract for table '{table}'{hint}; loading goes into raw tables only")
    return contract


def _format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise LoadError(f"cannot tell the format of {path.name}: use .csv, .jsonl/.ndjson or .parquet",
                        Location(path))
    return fmt


def _duckdb_error(exc: Exception, keep: set[str]) -> str:
    """DuckDB's reason, without the file's data (its CSV errors quote the offending line)."""
    from .redact import scrub

    return scrub(str(exc).strip().splitlines()[0], keep)


def _csv_problem(path: Path) -> tuple[int, str] | None:
    """The first line of a CSV file that does not parse: (line, message). Only runs on failure."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f, strict=True)
            header = next(reader, None)
            if header is None:
                return None
            for row in reader:
                if len(row) != len(header):
                    return reader.line_num, f"expected {len(header)} fields, found {len(row)}"
    except csv.Error as exc:
        return reader.line_num, str(exc)
    except UnicodeDecodeError as exc:
        return 0, f"not UTF-8 text ({exc.reason})"
    return None


class _Stager:
    """Reads files into TEMP staging tables of the engine's DuckDB connection.

    The engine's connection runs untrusted SQL and therefore has no file access at all
    (:func:`kcrm_gov.engines.duckdb.harden`); the files are read here on a private in-memory
    connection that only ever runs this module's own statements, then handed over as Arrow.
    """

    def __init__(self, con: Any) -> None:
        import duckdb

        self.engine_con = con
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET TimeZone='UTC'")

    def close(self) -> None:
        self.con.close()

    def stage(self, path: Path, index: int) -> tuple[str, list[str], str]:
        """Stage one file; return (temp table, its data columns, expression for the original values)."""
        name, cols, original = self._read(path, index)
        data = self.con.execute(f"SELECT * FROM {name} ORDER BY rowid").to_arrow_table()
        self.con.execute(f"DROP TABLE {name}")
        view = f"{name}_arrow"
        self.engine_con.register(view, data)
        try:  # insertion order is file order: rowid numbers the records as the file does
            self.engine_con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {view}")
        finally:
            self.engine_con.unregister(view)
        return name, cols, original

    def _read(self, path: Path, index: int) -> tuple[str, list[str], str]:
        import duckdb

        fmt = _format_of(path)
        name = f"_kcrm_stage_{index}"
        file = sql_string(str(path))
        try:
            if fmt == "csv":
                with path.open(newline="", encoding="utf-8", errors="replace") as f:
                    header = next(csv.reader(f), None)
                if not header or not any(h.strip() for h in header):
                    raise EmptyFileError("the file has no header line", Location(path))
                if len(set(header)) != len(header):
                    raise GarbledFileError("the header names a column twice", Location(path, 1))
                columns = "{" + ", ".join(f"{sql_string(h)}: 'VARCHAR'" for h in header) + "}"
                self.con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM read_csv({file}, header=true, "
                    f"auto_detect=false, columns={columns}, delim=',', quote='\"', escape='\"', "
                    f"strict_mode=true, null_padding=false)")
                cols = header
                original = "to_json(struct_pack(" + ", ".join(f"{quote(c)} := {quote(c)}" for c in cols) + "))"
            elif fmt == "jsonl":
                self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name}_raw AS SELECT json AS _j "
                                 f"FROM read_json_objects({file}, format='newline_delimited')")
                bad = self.con.execute(f"SELECT rowid + 1 FROM {name}_raw WHERE json_type(_j) <> 'OBJECT' "
                                       f"ORDER BY rowid LIMIT 1").fetchone()
                if bad:
                    raise GarbledFileError(f"record {bad[0]} is not a JSON object", Location(path, bad[0]))
                cols = [r[0] for r in self.con.execute(
                    f"SELECT k FROM (SELECT unnest(json_keys(_j)) AS k, rowid AS r FROM {name}_raw) "
                    f"GROUP BY k ORDER BY min(r), k").fetchall()]
                # scalars as text (->>), nested values as JSON text (->) so they cast to STRUCT/LIST
                select = ", ".join(
                    f"CASE WHEN json_type(_j -> {sql_string('$.' + _json_key(c))}) IN ('OBJECT', 'ARRAY') "
                    f"THEN CAST(_j -> {sql_string('$.' + _json_key(c))} AS VARCHAR) "
                    f"ELSE _j ->> {sql_string('$.' + _json_key(c))} END AS {quote(c)}" for c in cols)
                self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {select or '1 AS _none'}, "
                                 f"CAST(_j AS VARCHAR) AS _orig FROM {name}_raw ORDER BY rowid")
                self.con.execute(f"DROP TABLE {name}_raw")
                original = "_orig"
            else:
                self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * "
                                 f"FROM read_parquet({file})")
                cols = [r[0] for r in self.con.execute(f"DESCRIBE {name}").fetchall()]
                original = "CAST(to_json(struct_pack(" + ", ".join(
                    f"{quote(c)} := {quote(c)}" for c in cols) + ")) AS VARCHAR)"
        except KcrmGovError:
            raise
        except duckdb.Error as exc:
            line, message = None, _duckdb_error(exc, {str(path), path.name})
            if fmt == "csv":
                found = _csv_problem(path)
                if found:
                    line, message = found
            else:
                m = re.search(r"line (\d+)", str(exc))
                line = int(m.group(1)) if m else None
            raise GarbledFileError(f"cannot read the {fmt.upper()} file: {message}", Location(path, line or 0)
                                   ) from None
        return name, cols, original


def _json_key(name: str) -> str:
    return '"' + name.replace('"', '\\"') + '"'


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return sql_string(str(value))


def _checks(column: Column, source: str | None, source_type: str | None) -> tuple[str, list[tuple[str, str]]]:
    """The cast expression of a column and its (rule, SQL condition) checks."""
    target = column.duckdb_type
    if source is None:  # the file does not have the column at all
        value = f"CAST(NULL AS {target})"
        checks = [("required", "TRUE")] if column.required else []
        return value, checks
    src = f"s.{quote(source)}"
    text = source_type in (None, "VARCHAR")
    if column.fields and text:  # nested, as JSON text
        value = f"CASE WHEN json_valid({src}) THEN TRY_CAST(CAST({src} AS JSON) AS {target}) END"
    else:
        value = f"TRY_CAST({src} AS {target})"
    bad_type = f"({src} IS NOT NULL AND {value} IS NULL)"
    if text and column.data_type.is_type("bigint", "int", "smallint", "tinyint"):
        bad_type = f"({bad_type} OR ({src} IS NOT NULL AND NOT regexp_full_match(trim({src}), '[+-]?[0-9]+')))"
    elif source_type in ("DOUBLE", "FLOAT") and column.data_type.is_type("bigint", "int"):
        bad_type = f"({bad_type} OR ({src} IS NOT NULL AND {src} <> round({src})))"
    checks = [("type", bad_type)]
    if column.required:
        checks.append(("required", f"({src} IS NULL)"))
    if column.allowed_values:
        allowed = ", ".join(_literal(v) for v in column.allowed_values)
        checks.append(("allowed_values", f"({value} IS NOT NULL AND {value} NOT IN ({allowed}))"))
    return value, checks


def load(project: Project, engine: Engine, table: str, files: list[Path] | list[str],
         allow_new_columns: bool = False) -> LoadResult:
    """Load ``files`` into the raw table ``table``; see the module docstring."""
    contract = resolve_table(project, table)
    paths = [Path(f) for f in files]
    if not paths:
        raise LoadError("no files to load")
    for path in paths:
        if not path.exists():
            raise MissingFileError("no such file", Location(path))
        if not path.is_file():
            raise MissingFileError("not a file", Location(path))
        _format_of(path)
        if path.stat().st_size == 0:
            raise EmptyFileError("the file is empty", Location(path))
    con = getattr(engine, "con", None)
    if engine.kind != "duckdb" or con is None:
        raise LoadError(f"load writes through a DuckDB target; target '{engine.target.name}' is {engine.kind}")
    stager = _Stager(con)
    staged = []
    try:
        for i, path in enumerate(paths):
            name, cols, original = stager.stage(path, i)
            n = con.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
            if n == 0:
                raise EmptyFileError("the file holds no data rows", Location(path))
            staged.append((path, name, cols, original))
        return _check_and_write(project, engine, contract, staged, allow_new_columns)
    finally:
        stager.close()
        for i in range(len(paths)):
            con.execute(f"DROP TABLE IF EXISTS _kcrm_stage_{i}")
        con.execute("DROP TABLE IF EXISTS _kcrm_checked")


def _check_and_write(project: Project, engine: Engine, contract: Contract,
                     staged: list[tuple[Path, str, list[str], str]], allow_new_columns: bool) -> LoadResult:
    con = engine.con  # type: ignore[attr-defined]
    known = {c.name for c in contract.columns}
    new_columns: dict[Path, list[str]] = {}
    for path, _, cols, _ in staged:
        unknown = [c for c in cols if c not in known and c != "_none"]
        if unknown:
            if not allow_new_columns:
                raise SchemaDriftError(
                    f"columns not in the contract of {contract.qualified_name}: {', '.join(unknown)} "
                    "(schema drift; update the contract, or load with --allow-new-columns to record them "
                    "in the quarantine table)", Location(path))
            new_columns[path] = unknown
    load_id = uuid.uuid4().hex[:12]
    selects = []
    for index, (path, name, cols, original) in enumerate(staged):
        types = dict(con.execute(f"SELECT column_name, data_type FROM duckdb_columns() "
                                 f"WHERE table_name = {sql_string(name)} AND database_name = 'temp'").fetchall())
        values, problems = [], []
        for column in contract.columns:
            source = column.name if column.name in cols else None
            value, checks = _checks(column, source, types.get(column.name))
            values.append(f"{value} AS {quote(column.name)}")
            for rule, condition in checks:
                problems.append(f"CASE WHEN {condition} THEN {sql_string(rule + chr(9) + column.name)} END")
        problem_list = f"list_filter([{', '.join(problems)}], x -> x IS NOT NULL)" if problems else "[]"
        selects.append(
            f"SELECT {index} AS _file_index, {sql_string(str(path))} AS _file, s.rowid + 1 AS _row, "
            f"{original} AS _orig, {problem_list} AS _problems, {', '.join(values)} FROM {name} s")
    con.execute("CREATE OR REPLACE TEMP TABLE _kcrm_checked AS " + " UNION ALL ".join(selects))
    relation = engine.relation(contract.layer, contract.table)
    exists = engine.table_exists(contract.layer, contract.table)
    pk = contract.primary_key
    if pk:
        key = ", ".join(quote(c) for c in pk)
        con.execute(f"""
            UPDATE _kcrm_checked AS c SET _problems = ['duplicate_key' || chr(9) || {sql_string(', '.join(pk))}]
            FROM (SELECT _file_index, _row, row_number() OVER (PARTITION BY {key} ORDER BY _file_index, _row) AS n
                  FROM _kcrm_checked WHERE len(_problems) = 0) d
            WHERE c._file_index = d._file_index AND c._row = d._row AND d.n > 1""")
        if exists:
            match = " AND ".join(f"r.{quote(c)} = c.{quote(c)}" for c in pk)
            con.execute(f"""
                UPDATE _kcrm_checked AS c
                SET _problems = ['duplicate_key_loaded' || chr(9) || {sql_string(', '.join(pk))}]
                WHERE len(_problems) = 0 AND EXISTS (SELECT 1 FROM {relation} r WHERE {match})""")
    total, loaded = con.execute(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE len(_problems) = 0) FROM _kcrm_checked").fetchone()
    rules = dict(con.execute(
        "SELECT split_part(_problems[1], chr(9), 1), COUNT(*) FROM _kcrm_checked WHERE len(_problems) > 0 "
        "GROUP BY 1").fetchall())
    quarantine = engine.relation("raw", QUARANTINE_TABLE)
    with engine.transaction():
        if not exists:
            engine.create_table(contract)
        _ensure_quarantine(engine, quarantine)
        _write_quarantine(engine, quarantine, load_id, contract, new_columns, staged)
        _append_valid(engine, contract, relation)
    engine.forget_seed_clock()  # real data now: freshness is measured against the real clock
    return LoadResult(table=contract.qualified_name, files=[str(p) for p, *_ in staged], total=int(total),
                      loaded=int(loaded), quarantined=int(total - loaded), rules={k: int(v) for k, v in rules.items()},
                      new_columns=sorted({c for cols in new_columns.values() for c in cols}), load_id=load_id,
                      quarantine_table=f"{engine.schema('raw')}.{QUARANTINE_TABLE}")


def _ensure_quarantine(engine: Engine, quarantine: str) -> None:
    engine.execute(f"""CREATE TABLE IF NOT EXISTS {quarantine} (
        load_id VARCHAR NOT NULL, loaded_at TIMESTAMPTZ NOT NULL, target_table VARCHAR NOT NULL,
        source_file VARCHAR NOT NULL, row_number BIGINT, rule VARCHAR NOT NULL, column_name VARCHAR,
        message VARCHAR, original_values VARCHAR)""")


def _write_quarantine(engine: Engine, quarantine: str, load_id: str, contract: Contract,
                      new_columns: dict[Path, list[str]], staged: list[tuple[Path, str, list[str], str]]) -> None:
    target = sql_string(contract.qualified_name)
    engine.execute(f"""
        INSERT INTO {quarantine}
        SELECT {sql_string(load_id)}, now(), {target}, _file, _row, split_part(_problems[1], chr(9), 1),
               split_part(_problems[1], chr(9), 2),
               array_to_string(list_transform(_problems, x -> replace(x, chr(9), ': ')), '; '),
               CAST(_orig AS VARCHAR)
        FROM _kcrm_checked WHERE len(_problems) > 0 ORDER BY _file_index, _row""")
    for path, name, _, _ in staged:
        for column in new_columns.get(path, []):
            q = quote(column)
            row = engine.con.execute(  # type: ignore[attr-defined]
                f"SELECT COUNT({q}), to_json(list(DISTINCT CAST({q} AS VARCHAR) ORDER BY CAST({q} AS VARCHAR))"
                f"[1:5]) FROM {name} WHERE {q} IS NOT NULL").fetchone()
            original = json.dumps({"non_null_values": int(row[0]), "sample": json.loads(row[1] or "[]")})
            engine.execute(
                f"INSERT INTO {quarantine} VALUES ({sql_string(load_id)}, now(), {target}, "
                f"{sql_string(str(path))}, NULL, 'new_column', {sql_string(column)}, "
                f"{sql_string(f'column {column} is not in the contract; its values were not loaded')}, "
                f"{sql_string(original)})")


def _append_valid(engine: Engine, contract: Contract, relation: str) -> None:
    columns = ", ".join(quote(c.name) for c in contract.columns)
    engine.execute(f"INSERT INTO {relation} ({columns}) SELECT {columns} FROM _kcrm_checked "
                   f"WHERE len(_problems) = 0 ORDER BY _file_index, _row")
