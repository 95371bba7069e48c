"""The embedded default engine: a DuckDB file, one schema per layer.

Timestamps are compared in UTC (``SET GLOBAL TimeZone='UTC'``) so that BigQuery TIMESTAMP
semantics hold. DuckDB allows one writing process per file: a second one gets a clear
"warehouse is in use" error instead of waiting or corrupting anything.

**Untrusted SQL.** Models and contract quality rules arrive in pull requests. The compiler
allows only reads of contracted tables (:func:`kcrm_gov.models.read_tables`); underneath that,
every connection this engine opens runs with ``enable_external_access=false`` (no file, URL,
extension or ATTACH: ``read_csv``, ``read_text``, ``glob``, ``COPY`` all fail) and
``lock_configuration=true`` (no statement can switch it back), set by :func:`harden` once the
connection holds what it needs. Raw loading reads its files on a connection of its own
(:mod:`kcrm_gov.load`). Error messages are scrubbed of data values (:mod:`kcrm_gov.redact`).
"""

from __future__ import annotations

import contextlib
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from .. import LAYERS, typemap
from ..ddl import duckdb as ddl
from .base import ActualColumn, BuildStats, Engine, EngineError, OutOfMemory, WarehouseBusy, WarehouseUnavailable

if TYPE_CHECKING:
    from pathlib import Path

    import duckdb
    import pyarrow as pa

    from ..config import Target
    from ..contracts import Contract
    from ..project import Project


BUILD_THREADS = 1
"""DuckDB threads per statement when building (``build`` and ``seed``).

A build runs several models at once (the target's ``threads``) and the seed writes Arrow tables one
after the other. Measured at scale 1 on a 2-core machine, one DuckDB thread per statement instead
of one per core used a quarter less CPU for the same models in about the same time, and seeded in
about half the time and half the CPU: the models already keep the cores busy, and a second thread
per statement mostly waits for them (or, writing Arrow, for the first thread)."""


_SIZE = r"\d+(?:\.\d+)? [KMGTP]?i?B"
_OOM_SIZES = re.compile(rf"of size ({_SIZE}) \(({_SIZE})/({_SIZE}) used\)")
"""DuckDB's out-of-memory message: the block it asked for, what it held and its limit (sizes, not data)."""
_OOM_REDACTED = re.compile(r"of size \S+ [KMGTP]?i?B \(\S+ [KMGTP]?i?B/\S+ [KMGTP]?i?B used\)")

SEED_COMMIT_BYTES = 192 * 2**20
"""Arrow bytes :meth:`DuckDBEngine.replace_with_chunks` writes per transaction (a scale-1 table is one)."""


class DuckDBEngine(Engine):
    kind = "duckdb"

    def __init__(self, project: Project, target: Target, *, read_only: bool = False,
                 connection: duckdb.DuckDBPyConnection | None = None, statement_threads: int | None = None) -> None:
        super().__init__(project, target)
        import duckdb

        self.path = target.path
        self._local = threading.local()
        if connection is not None:
            self._root = connection
        else:
            if target.path is None:
                raise WarehouseUnavailable(f"target '{target.name}' has no path")
            if read_only and not target.path.exists():
                raise WarehouseUnavailable(f"the warehouse {target.path} does not exist yet: run `kcrm-gov build` "
                                           "first")
            try:
                target.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                blocking = next((p for p in target.path.parents if p.exists() and not p.is_dir()), None)
                reason = f"{blocking} is a file, not a folder" if blocking else (exc.strerror or str(exc))
                raise WarehouseUnavailable(f"cannot create the folder of the warehouse {target.path}: "
                                           f"{reason}") from None
            if not read_only and not target.path.exists():
                _create_database(target.path)
            try:
                # memory_limit is fixed at connect: harden() locks the configuration afterwards
                config: dict[str, str | bool | int | float | list[str]] = (
                    {"memory_limit": target.memory_limit} if target.memory_limit else {})
                self._root = duckdb.connect(str(target.path), read_only=read_only, config=config)
            except duckdb.IOException as exc:
                if "lock" in str(exc).lower():
                    raise WarehouseBusy(
                        f"the warehouse {target.path} is in use by another kcrm-gov process "
                        "(DuckDB allows one writer); wait for it to finish and retry") from None
                raise WarehouseUnavailable(f"cannot open the warehouse {target.path}: {exc}") from None
            except (duckdb.InvalidInputException, duckdb.ParserException) as exc:  # a memory_limit DuckDB cannot parse
                raise WarehouseUnavailable(f"cannot open the warehouse {target.path}: {exc}") from None
        self._local.con = self._root
        row = self._root.execute("SELECT current_database()").fetchone()
        catalog = row[0] if row else None
        if catalog in {target.dataset(layer) for layer in LAYERS}:
            self._root.close()
            raise EngineError(f"the warehouse file {target.path} is named like the schema '{catalog}': DuckDB "
                              "names a database after its file, and `raw.table` would then be ambiguous; "
                              "rename the file (for example to warehouse.duckdb)")
        self._schemas: set[str] = set()
        self._schema_lock = threading.Lock()
        self._cursor_lock = threading.Lock()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        if not read_only:
            # every layer's schema exists before any transaction starts: a schema created inside
            # one cursor's transaction is invisible to the others until it commits
            for layer in LAYERS:
                self.ensure_schema(layer)
        if statement_threads:  # before harden() locks the configuration
            # only a matter of speed: a database this process already opened and locked keeps its own
            with contextlib.suppress(duckdb.Error):
                self._root.execute(f"SET threads={int(statement_threads)}")
        harden(self._root)

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """This thread's connection: the main one, or a cursor of it (each has its own transaction)."""
        con = getattr(self._local, "con", None)
        if con is None:  # a cursor inherits the global settings harden() fixed
            con = self._local.con = self.cursor()
        return con

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor of the warehouse connection, closed with the engine (an open cursor keeps the
        database open in this process, with the configuration :func:`harden` locked)."""
        cursor = self._root.cursor()
        with self._cursor_lock:
            self._cursors.append(cursor)
        return cursor

    def _aside(self, *statements: str) -> list[tuple[Any, ...]]:
        """Run ``statements`` on a cursor of their own, outside this thread's transaction (which a
        failed statement has aborted, or which a schema must not join), and return the last one's rows."""
        cursor = self._root.cursor()
        try:
            rows: list[tuple[Any, ...]] = []
            for statement in statements:
                rows = cursor.execute(statement).fetchall()
            return rows
        finally:
            cursor.close()

    def project_words(self) -> set[str]:
        # the warehouse's own files are named in I/O errors (a full disk): paths, not data
        return super().project_words() | ({str(self.path), f"{self.path}.wal"} if self.path else set())

    @classmethod
    def in_memory(cls, project: Project, target: Target) -> DuckDBEngine:
        """An engine on a fresh in-memory database (check compiles models against it)."""
        import duckdb

        return cls(project, target, connection=duckdb.connect(":memory:"))

    # --- names ---------------------------------------------------------------------------------
    def relation(self, layer: str, table: str) -> str:
        return ddl.relation(self.schema(layer), table)

    def ensure_schema(self, layer: str) -> None:
        name = self.schema(layer)
        with self._schema_lock:  # concurrent CREATE SCHEMA on one catalog is a write-write conflict
            if name not in self._schemas:
                self._aside(f"CREATE SCHEMA IF NOT EXISTS {ddl.quote(name)}")
                self._schemas.add(name)

    # --- statements ----------------------------------------------------------------------------
    def error(self, exc: BaseException, sql: str | None = None, prefix: str = "") -> EngineError:
        """``exc`` as an :class:`EngineError` whose message holds no data value: only the SQL's own
        words and the project's table and column names survive (:func:`kcrm_gov.redact.scrub`)."""
        import duckdb

        if isinstance(exc, duckdb.OutOfMemoryException):
            return OutOfMemory(prefix + self._out_of_memory(str(exc), sql))
        return EngineError(prefix + self.scrubbed(str(exc), sql))

    def _out_of_memory(self, message: str, sql: str | None) -> str:
        """DuckDB's out-of-memory message with its own sizes (which the scrubber, seeing numbers, would
        redact) and the memory DuckDB still holds after the failure, by use (``duckdb_memory()``): sizes
        and DuckDB's fixed tag names, never a data value."""
        import duckdb

        text = self.scrubbed(message, sql)
        sizes = _OOM_SIZES.search(message)
        if sizes:
            text = _OOM_REDACTED.sub(f"of size {sizes[1]} ({sizes[2]}/{sizes[3]} used)", text, count=1)
        try:  # aside: the failed statement's transaction is aborted
            rows = self._aside("SELECT tag, memory_usage_bytes, temporary_storage_bytes FROM duckdb_memory() "
                               "WHERE memory_usage_bytes + temporary_storage_bytes >= 1048576 "
                               "ORDER BY memory_usage_bytes DESC")
        except duckdb.Error:
            rows = []
        uses = [f"{str(tag).lower()} {_mib(memory)}" + (f" (+{_mib(spilled)} on disk)" if spilled else "")
                for tag, memory, spilled in rows if re.fullmatch(r"[A-Z_]+", str(tag))]
        return text + (f" (held after the failure: {', '.join(uses)})" if uses else "")

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        import duckdb

        try:
            self.con.execute(sql, params or [])
        except duckdb.Error as exc:
            raise self.error(exc, sql) from None

    def query_arrow(self, sql: str) -> pa.Table:
        import duckdb

        try:
            return self.con.execute(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise self.error(exc, sql) from None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing. A COMMIT that fails (a full disk, a file size limit) rolls back and raises
        :class:`EngineError`: the tables stay as they were before the transaction."""
        import duckdb

        if getattr(self._local, "in_transaction", False):  # nested scopes join the outer transaction
            yield
            return
        con = self.con
        con.execute("BEGIN TRANSACTION")
        self._local.in_transaction = True
        try:
            yield
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # the original error is the one to report
                con.execute("ROLLBACK")
            raise
        else:
            try:
                con.execute("COMMIT")
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise self.error(exc, prefix="could not commit (nothing was changed): ") from None
        finally:
            self._local.in_transaction = False

    # --- tables --------------------------------------------------------------------------------
    def create_table(self, contract: Contract, *, replace: bool = False, table: str | None = None) -> None:
        self.ensure_schema(contract.layer)
        for statement in ddl.create_table(contract, self.schema(contract.layer), table, replace=replace):
            self.execute(statement)

    def write_arrow(self, contract: Contract, data: pa.Table, *, mode: str = "replace") -> int:
        if mode not in ("replace", "append"):
            raise ValueError(f"mode must be 'replace' or 'append', not {mode!r}")
        columns = _column_list(contract)
        with self.transaction():
            if mode == "replace" or not self.table_exists(contract.layer, contract.table):
                self.create_table(contract, replace=True)
            return self._insert_arrow(self.relation(contract.layer, contract.table), columns, data)

    def replace_with_chunks(self, contract: Contract, chunks: Iterable[pa.Table]) -> int:
        """Write the chunks into a staging table, committing every ``SEED_COMMIT_BYTES`` of Arrow data,
        and swap it in for the live table in the last transaction; on any failure drop the staging table.

        All or nothing, as in one transaction, but with memory bounded by a batch of chunks: DuckDB
        keeps a transaction's appended rows in memory until it commits, beyond ``memory_limit`` (6.4 GB
        for 9 M Mixpanel rows at scale 30 in one transaction, 2.0 GB committed chunk by chunk). A table
        smaller than one batch (every table at scale 1) is one transaction, as cheap as before: each
        commit writes a partial row group, which costs time and file size on small tables.
        """
        import duckdb

        if getattr(self._local, "in_transaction", False):  # inside a caller's transaction: one transaction
            return super().replace_with_chunks(contract, chunks)
        schema = self.schema(contract.layer)
        name = f"__kcrm_seed__{contract.table}"
        staging = ddl.relation(schema, name)
        columns = _column_list(contract)
        self.ensure_schema(contract.layer)
        remaining, rows, created = iter(chunks), 0, False
        try:
            while True:
                with self.transaction():
                    if not created:
                        for statement in ddl.create_table(contract, schema, name, replace=True):
                            self.execute(statement)
                        created = True
                    batch = 0
                    for chunk in remaining:
                        rows += self._insert_arrow(staging, columns, chunk)
                        batch += chunk.nbytes
                        del chunk  # let the chunk go before the next one is taken
                        if batch >= SEED_COMMIT_BYTES:
                            break  # commit this batch, go on in a new transaction
                    else:  # every chunk is in: swap the staging table in, in this last transaction
                        self._swap_in(contract, name)
                        return rows
        except BaseException:
            if created:
                with contextlib.suppress(duckdb.Error):  # the original error is the one to report
                    self.con.execute(f"DROP TABLE IF EXISTS {staging}")
            raise

    def _swap_in(self, contract: Contract, staging: str) -> None:
        """Replace the contract's live table with the staging table ``staging`` of its schema (inside
        the caller's transaction, so the swap is atomic)."""
        self.execute(f"DROP TABLE IF EXISTS {self.relation(contract.layer, contract.table)}")
        self.execute(f"ALTER TABLE {ddl.relation(self.schema(contract.layer), staging)} "
                     f"RENAME TO {ddl.quote(contract.table)}")

    def _insert_arrow(self, relation: str, columns: str, data: pa.Table) -> int:
        view = f"_kcrm_arrow_{uuid.uuid4().hex[:12]}"
        self.con.register(view, data)
        try:
            self.execute(f"INSERT INTO {relation} ({columns}) SELECT {columns} FROM {view}")
        finally:
            self.con.unregister(view)
        return data.num_rows

    def table_exists(self, layer: str, table: str) -> bool:
        # literals, not parameters: DuckDB imports pandas (a third of a second) to inspect parameters
        schema, name = self.schema(layer).replace("'", "''"), table.replace("'", "''")
        row = self.con.execute(
            f"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{schema}' "
            f"AND table_name = '{name}'").fetchone()
        return bool(row and row[0])

    def iter_tables(self, layer: str) -> Iterator[str]:
        # a literal, not a parameter: DuckDB imports pandas (a quarter second) to inspect parameters
        schema = self.schema(layer).replace("'", "''")
        rows = self.con.execute(f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}' "
                                "ORDER BY table_name").fetchall()
        yield from (name for (name,) in rows)

    # --- building models -----------------------------------------------------------------------
    def table_sql(self, layer: str, table: str) -> exp.Table:
        return exp.table_(table, db=self.schema(layer), quoted=True)

    def prepare(self, bigquery_sql: str) -> str:
        from ..sql.transpile import to_duckdb

        return to_duckdb(bigquery_sql)

    def model_schema(self, sql: str, *, stage_for: Contract | None = None) -> list[ActualColumn]:
        import duckdb

        try:
            rows = self.con.execute(f"DESCRIBE {sql}").fetchall()
        except duckdb.Error as exc:
            raise self.error(exc, sql) from None
        return [ActualColumn(name, exp.DataType.build(dtype, dialect="duckdb", udt=True), null == "YES")
                for name, dtype, null, *_ in rows]

    def type_text(self, data_type: exp.DataType) -> str:
        return typemap.to_duckdb(data_type)

    def replace_table(self, contract: Contract, sql: str) -> BuildStats:
        """Insert into a temporary table made from the contract's DDL (DuckDB enforces its NOT NULLs),
        check its primary key, then swap it in, all in one transaction."""
        schema = self.schema(contract.layer)
        temp = f"__kcrm_build__{contract.table}"
        columns = _column_list(contract)
        self.ensure_schema(contract.layer)
        with self.transaction():
            for statement in ddl.create_table(contract, schema, temp, replace=True):
                self.execute(statement)
            row = self._insert(contract, f"INSERT INTO {ddl.relation(schema, temp)} ({columns}) ", sql)
            self._require_unique_key(contract, ddl.relation(schema, temp))
            self._swap_in(contract, temp)
        return BuildStats(rows_written=int(row[0]) if row else None)

    STATE_SCHEMA, STATE_TABLE = "_kcrm", "incremental_state"
    """Outside the six layers: one row per incremental table, the contract fingerprint it was built from."""

    def _state(self) -> str:
        """The state table's name, created on first use (outside any transaction: see ensure_schema)."""
        relation = ddl.relation(self.STATE_SCHEMA, self.STATE_TABLE)
        with self._schema_lock:
            if relation not in self._schemas:
                self._aside(f"CREATE SCHEMA IF NOT EXISTS {ddl.quote(self.STATE_SCHEMA)}",
                            f"CREATE TABLE IF NOT EXISTS {relation} (table_name VARCHAR NOT NULL, "
                            "fingerprint VARCHAR NOT NULL, built_at TIMESTAMPTZ NOT NULL)")
                self._schemas.add(relation)
        return relation

    def stored_fingerprint(self, contract: Contract) -> str | None:
        name = ddl.sql_string(contract.qualified_name)
        row = self.con.execute(f"SELECT max(fingerprint) FROM {self._state()} WHERE table_name = {name}").fetchone()
        return str(row[0]) if row and row[0] is not None else None

    def record_fingerprint(self, contract: Contract, fingerprint: str) -> None:
        state, name = self._state(), ddl.sql_string(contract.qualified_name)
        with self.transaction():
            self.execute(f"DELETE FROM {state} WHERE table_name = {name}")
            self.execute(f"INSERT INTO {state} VALUES ({name}, {ddl.sql_string(fingerprint)}, now())")

    def merge_table(self, contract: Contract, sql: str, cutoff: Any, fingerprint: str) -> BuildStats:
        """Insert the window's rows into a temporary table made from the contract's DDL, delete from the
        live table every row the window recomputes (see :mod:`kcrm_gov.incremental`), insert the new rows
        (the live table's primary key and NOT NULLs hold for the merged result) and record the
        fingerprint: one transaction, so a failure anywhere leaves the previous table."""
        spec = contract.incremental
        assert spec is not None
        schema = self.schema(contract.layer)
        temp = ddl.relation(schema, f"__kcrm_build__{contract.table}")
        live = self.relation(contract.layer, contract.table)
        columns = _column_list(contract)
        kind = "DATE" if isinstance(cutoff, date) and not isinstance(cutoff, datetime) else "TIMESTAMPTZ"
        since = f"CAST({ddl.sql_string(cutoff.isoformat())} AS {kind})"

        # the keys the window touches: its new rows', and those of source rows changed or deleted
        # upstream (their old version goes). One IN over a UNION ALL: a hash semi-join, about four
        # times faster on DuckDB than an OR of correlated EXISTS.
        keys = [f"SELECT {_key_row(spec.unique_key)} FROM {temp}"]
        for source in spec.sources:
            if source.key:
                layer, table = source.table.split(".", 1)
                keys.append(f"SELECT {_key_row(source.key)} FROM {self.relation(layer, table)} "
                            f"WHERE {ddl.quote(source.time_column)} >= {since}")
        recomputed = (f"{ddl.quote(spec.time_column)} >= {since} OR {_key_row(spec.unique_key)} IN "
                      f"({' UNION ALL '.join(keys)})")
        self._state()
        with self.transaction():
            for statement in ddl.create_table(contract, schema, f"__kcrm_build__{contract.table}", replace=True):
                self.execute(statement)
            inserted = self._insert(contract, f"INSERT INTO {temp} ({columns}) ", sql)
            self._require_unique_key(contract, temp)
            self.execute(f"DELETE FROM {live} WHERE {recomputed}")
            # the rows kept must not share a key with the window's: the merged table's key is unique
            self._require_unique_key(contract, temp, kept=live)
            self._insert(contract, f"INSERT INTO {live} ({columns}) ", f"SELECT {columns} FROM {temp}")
            self.execute(f"DROP TABLE {temp}")
            self.record_fingerprint(contract, fingerprint)
        return BuildStats(rows_written=int(inserted[0]) if inserted else None)

    def _insert(self, contract: Contract, insert: str, select: str) -> tuple | None:
        """Run ``insert + select``, the INSERT of a build. A broken contract constraint is reported
        by column and row count, never by the offending values (which DuckDB's message quotes)."""
        import duckdb

        sql = insert + select
        try:
            return self.con.execute(sql).fetchone()
        except duckdb.ConstraintException as exc:
            text = str(exc)
            if "NOT NULL constraint failed" in text:
                column = text.splitlines()[0].rsplit(".", 1)[-1].strip()
                rows = self._count(f"SELECT COUNT(*) FROM ({select}) AS m WHERE {ddl.quote(column)} IS NULL")
                raise EngineError(f"column '{column}' is required by the contract, but the model produced NULL "
                                  f"in {_rows(rows)}") from None
            raise self.error(exc, sql) from None
        except duckdb.Error as exc:
            raise self.error(exc, sql, prefix="the model failed at run time: ") from None

    def _require_unique_key(self, contract: Contract, relation: str, *, kept: str | None = None) -> None:
        """Raise when the contract's primary key repeats in ``relation`` (a build's new rows), or, with
        ``kept``, when a key of ``relation`` is also in the table ``kept``: the check DuckDB's key index
        made, by a query (see :mod:`kcrm_gov.ddl.duckdb` for why there is no index). Reports how many
        key values, never which."""
        names = contract.primary_key
        if not names:
            return
        if kept is None:
            columns = ", ".join(ddl.quote(c) for c in names)
            sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM {relation} GROUP BY {columns} HAVING COUNT(*) > 1) AS d"
            where = "in the model's output"
        else:
            # the live table probes the window's keys (hashed: the smaller side); both sides are unique
            # (checked before), so the rows found are the key values repeated
            key = _key_row(names)
            sql = f"SELECT COUNT(*) FROM {kept} WHERE {key} IN (SELECT {key} FROM {relation})"
            where = "in the merged table (rows kept from the previous build have the same key)"
        row = self.con.execute(sql).fetchone()
        repeated = int(row[0]) if row else 0
        if repeated:
            raise EngineError(f"primary key ({', '.join(names)}) of the contract is not unique {where}: "
                              f"{_rows(repeated, 'key value')} repeated")

    def _count(self, sql: str) -> int | None:
        """A diagnostic count after a failure (None when even that fails)."""
        import duckdb

        try:
            rows = self._aside(sql)  # outside the failed transaction
        except duckdb.Error:
            return None
        return int(rows[0][0]) if rows else None

    def checkpoint(self) -> None:
        """``CHECKPOINT``: DuckDB keeps a table's primary-key index in memory, where it cannot be evicted,
        until a checkpoint writes it to the file; a checkpoint cannot run while another write is open,
        so in a build with several models at once such memory piles up (8.4 GiB of key indexes once
        the event tables were built at scale 100, before the build's tables lost their index). Nothing
        to do when it cannot run."""
        import duckdb

        with contextlib.suppress(duckdb.Error):
            self._aside("CHECKPOINT")

    def columns(self, layer: str, table: str) -> list[tuple[str, str, bool]]:
        """``(name, DuckDB type, nullable)`` of an existing table or view, in order."""
        rows = self.con.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [self.schema(layer), table]).fetchall()
        return [(name, dtype, nullable == "YES") for name, dtype, nullable in rows]

    # --- the seeded sources' clock ------------------------------------------------------------------
    SEED_TABLE = "_kcrm_seed"
    """One row in the raw schema: when the synthetic sources seeded here were last synced."""

    def seed_clock(self) -> datetime | None:
        if not self.table_exists("raw", self.SEED_TABLE):
            return None
        row = self.con.execute(f"SELECT max(synced_until) FROM {self.relation('raw', self.SEED_TABLE)}").fetchone()
        value = row[0] if row else None
        return value if isinstance(value, datetime) else None

    def record_seed_clock(self, clock: datetime) -> None:
        relation = self.relation("raw", self.SEED_TABLE)
        with self.transaction():
            self.execute(f"CREATE OR REPLACE TABLE {relation} (synced_until TIMESTAMPTZ NOT NULL)")
            self.execute(f"INSERT INTO {relation} VALUES (CAST({ddl.sql_string(clock.isoformat())} AS TIMESTAMPTZ))")

    def forget_seed_clock(self) -> None:
        self.execute(f"DROP TABLE IF EXISTS {self.relation('raw', self.SEED_TABLE)}")

    def close(self) -> None:
        for cursor in self._cursors:
            with contextlib.suppress(Exception):  # already closed by its user
                cursor.close()
        self._root.close()


def _mib(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


def _key_row(names: Sequence[str]) -> str:
    """Key columns, quoted, as one value for ``IN``: ``"a"``, or the row ``("a", "b")``."""
    quoted = ", ".join(ddl.quote(n) for n in names)
    return f"({quoted})" if len(names) > 1 else quoted


def _column_list(contract: Contract) -> str:
    """The contract's columns, quoted, in its order: the column list of every INSERT."""
    return ", ".join(ddl.quote(c.name) for c in contract.columns)


def _rows(count: int | None, noun: str = "row") -> str:
    if count is None:
        return f"some {noun}s"
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


STORAGE_VERSION = "latest"
"""The storage format a new warehouse file is created with: the format of the DuckDB the project
pins (requirements/lock.txt), which reads and writes it. DuckDB's default writes files older
releases can read, at a cost: every table's primary-key index is converted to the pre-1.2 layout at
each checkpoint. Measured at scale 1 on 2 cores: the seed 6.2 -> 5.2 s, closing the warehouse after
a build (its checkpoint) 3.1-3.7 -> 1.3 s; a DuckDB older than the pinned one cannot open the file."""


def _create_database(path: Path) -> None:
    """Create an empty warehouse file in :data:`STORAGE_VERSION`. Only at creation: later connections
    open it with no configuration of their own (a process may hold it open twice, and DuckDB refuses
    a second connection whose configuration differs from the first)."""
    import duckdb

    with contextlib.suppress(duckdb.Error):  # a failure here is met, and reported, by the real connect
        duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_VERSION}).close()


def harden(con: duckdb.DuckDBPyConnection) -> None:
    """Make ``con`` fit to run untrusted SQL: UTC for every cursor, no file, network, extension or
    ATTACH access, and the configuration locked so no statement can change that back.

    Call it once the connection holds what it needs (schemas created, files attached): from
    here on it can read and write only the tables of its own database.
    """
    con.execute("SET GLOBAL TimeZone='UTC'")
    con.execute("SET enable_external_access=false")
    con.execute("SET lock_configuration=true")
