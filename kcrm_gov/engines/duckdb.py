"""The embedded default engine: a DuckDB file, one schema per layer.

Timestamps are compared in UTC (``SET TimeZone='UTC'``) so that BigQuery TIMESTAMP
semantics hold. DuckDB allows one writing process per file: a second one gets a clear
"warehouse is in use" error instead of waiting or corrupting anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..ddl import duckdb as ddl
from .base import Engine, EngineError, WarehouseBusy

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from ..config import Target
    from ..contracts import Contract
    from ..project import Project


class DuckDBEngine(Engine):
    kind = "duckdb"

    def __init__(self, project: Project, target: Target, *, read_only: bool = False,
                 connection: duckdb.DuckDBPyConnection | None = None) -> None:
        super().__init__(project, target)
        import duckdb

        self.path = target.path
        self._in_transaction = False
        if connection is not None:
            self.con = connection
        else:
            if target.path is None:
                raise EngineError(f"target '{target.name}' has no path")
            if read_only and not target.path.exists():
                raise EngineError(f"the warehouse {target.path} does not exist yet: run `kcrm-gov build` first")
            target.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.con = duckdb.connect(str(target.path), read_only=read_only)
            except duckdb.IOException as exc:
                if "lock" in str(exc).lower():
                    raise WarehouseBusy(
                        f"the warehouse {target.path} is in use by another kcrm-gov process "
                        "(DuckDB allows one writer); wait for it to finish and retry") from None
                raise EngineError(f"cannot open the warehouse {target.path}: {exc}") from None
        self.con.execute("SET TimeZone='UTC'")
        self._schemas: set[str] = set()

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
        if name not in self._schemas:
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {ddl.quote(name)}")
            self._schemas.add(name)

    # --- statements ----------------------------------------------------------------------------
    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        import duckdb

        try:
            self.con.execute(sql, params or [])
        except duckdb.Error as exc:
            raise EngineError(str(exc).strip()) from None

    def query_arrow(self, sql: str) -> pa.Table:
        import duckdb

        try:
            return self.con.execute(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise EngineError(str(exc).strip()) from None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._in_transaction:  # nested scopes join the outer transaction
            yield
            return
        self.con.execute("BEGIN TRANSACTION")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")
        finally:
            self._in_transaction = False

    # --- tables --------------------------------------------------------------------------------
    def create_table(self, contract: Contract, *, replace: bool = False, table: str | None = None) -> None:
        self.ensure_schema(contract.layer)
        for statement in ddl.create_table(contract, self.schema(contract.layer), table, replace=replace):
            self.execute(statement)

    def write_arrow(self, contract: Contract, data: pa.Table, *, mode: str = "replace") -> int:
        if mode not in ("replace", "append"):
            raise ValueError(f"mode must be 'replace' or 'append', not {mode!r}")
        columns = ", ".join(ddl.quote(c.name) for c in contract.columns)
        view = f"_kcrm_arrow_{uuid.uuid4().hex[:12]}"
        self.con.register(view, data)
        try:
            with self.transaction():
                if mode == "replace" or not self.table_exists(contract.layer, contract.table):
                    self.create_table(contract, replace=True)
                self.execute(f"INSERT INTO {self.relation(contract.layer, contract.table)} ({columns}) "
                             f"SELECT {columns} FROM {view}")
        finally:
            self.con.unregister(view)
        return data.num_rows

    def table_exists(self, layer: str, table: str) -> bool:
        row = self.con.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [self.schema(layer), table]).fetchone()
        return bool(row and row[0])

    def columns(self, layer: str, table: str) -> list[tuple[str, str, bool]]:
        """``(name, DuckDB type, nullable)`` of an existing table or view, in order."""
        rows = self.con.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [self.schema(layer), table]).fetchall()
        return [(name, dtype, nullable == "YES") for name, dtype, nullable in rows]

    def close(self) -> None:
        self.con.close()
