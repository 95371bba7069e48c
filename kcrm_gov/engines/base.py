"""The small interface every engine implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import KcrmGovError

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlglot import exp

    from ..config import Target
    from ..contracts import Contract
    from ..project import Project


class EngineError(KcrmGovError):
    """The warehouse refused or failed a statement."""

    exit_code = 1


class WarehouseBusy(EngineError):
    """Another process holds the warehouse (a second build on one DuckDB file)."""

    exit_code = 2


class OutOfMemory(EngineError):
    """The statement ran out of the engine's memory limit. Beside other models it may fit alone:
    a build retries such a model once, with nothing else running (see :func:`kcrm_gov.build.build`)."""


class WarehouseUnavailable(EngineError):
    """The command cannot run at all: the warehouse does not exist, cannot be opened or reached,
    or there are no credentials for it. Exit code 2, as for any unusable input, so a scheduler
    can tell "could not run" from "ran and found problems" (exit 1)."""

    exit_code = 2


@dataclass(frozen=True)
class ActualColumn:
    """A column as the engine sees it (the output of a model, or an existing table)."""

    name: str
    data_type: exp.DataType  # parsed in the engine's dialect
    nullable: bool = True


@dataclass(frozen=True)
class BuildStats:
    """What replacing one table cost."""

    rows_written: int | None = None
    bytes_processed: int | None = None


class Engine(ABC):
    """A warehouse: one schema (DuckDB) or dataset (BigQuery) per layer."""

    kind: str = ""
    concurrent: bool = True  # whether independent models may run on several threads
    prices_queries: bool = False  # whether dry_run() reports bytes (BigQuery), so a build can be priced

    def __init__(self, project: Project, target: Target) -> None:
        self.project = project
        self.target = target

    def schema(self, layer: str) -> str:
        """The schema or dataset that holds ``layer``."""
        return self.target.dataset(layer)

    def project_words(self) -> set[str]:
        """Names that are code, not data: every contract's table and column names and the
        target's schema names (an error message may repeat them)."""
        from .. import LAYERS

        words = {self.schema(layer) for layer in LAYERS} | set(LAYERS)
        for contract in self.project.contracts.values():
            words.add(contract.table)
            words.add(contract.qualified_name)
            for path, col in contract.all_columns():
                words.update((path, col.name))
        return words

    def scrubbed(self, message: str, sql: str | None = None) -> str:
        """``message`` (from the warehouse) with every data value removed: only the SQL's own words
        and the project's table and column names survive (:func:`kcrm_gov.redact.scrub`)."""
        from ..redact import scrub, sql_words

        return scrub(message, sql_words(sql, self.kind) | self.project_words())

    @abstractmethod
    def relation(self, layer: str, table: str) -> str:
        """The quoted, qualified name of ``layer.table`` in this engine's SQL."""

    @abstractmethod
    def create_table(self, contract: Contract, *, replace: bool = False) -> None:
        """Create the contract's table (empty) from its generated DDL."""

    @abstractmethod
    def write_arrow(self, contract: Contract, data: pa.Table, *, mode: str = "replace") -> int:
        """Write ``data`` (columns in contract order) to the contract's table; return rows written.

        ``mode='replace'`` recreates the table from the contract first; ``'append'`` adds rows.
        """

    def replace_with_chunks(self, contract: Contract, chunks: Iterable[pa.Table]) -> int:
        """Replace the contract's table with the rows of ``chunks`` (Arrow tables, columns in contract
        order); return the rows written.

        This default writes every chunk inside :meth:`transaction`: all or nothing where the engine
        has transactions (on BigQuery, a no-op scope, each chunk is its own load job). DuckDB, whose
        transactions hold their appended rows in memory, writes through a staging table instead.
        """
        rows = 0
        with self.transaction():
            for number, chunk in enumerate(chunks):
                rows += self.write_arrow(contract, chunk, mode="replace" if number == 0 else "append")
                del chunk  # let the chunk go before the next one is taken
        return rows

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """All-or-nothing scope: everything inside commits together or not at all."""

    @abstractmethod
    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        """Run one statement written in this engine's dialect."""

    @abstractmethod
    def query_arrow(self, sql: str) -> pa.Table:
        """Run a query and return its result as Arrow."""

    @abstractmethod
    def table_exists(self, layer: str, table: str) -> bool:
        """Whether ``layer.table`` exists."""

    # --- building models ---------------------------------------------------------------------------
    @abstractmethod
    def table_sql(self, layer: str, table: str) -> exp.Table:
        """The table node that names ``layer.table`` in this engine (models' refs are rewritten to it)."""

    @abstractmethod
    def prepare(self, bigquery_sql: str) -> str:
        """A model's BigQuery SQL (refs already rewritten) in this engine's dialect."""

    @abstractmethod
    def model_schema(self, sql: str, *, stage_for: Contract | None = None) -> list[ActualColumn]:
        """The output columns of ``sql`` (engine dialect) without replacing anything. ``stage_for``:
        the contract whose :meth:`replace_table` or :meth:`merge_table` comes next with this ``sql``
        (an engine may build the model's rows now and reuse them there)."""

    @abstractmethod
    def type_text(self, data_type: exp.DataType) -> str:
        """A type in this engine's canonical spelling (to compare model output with contracts)."""

    @abstractmethod
    def replace_table(self, contract: Contract, sql: str) -> BuildStats:
        """Build ``sql`` into a temporary relation created from the contract's DDL, then replace the
        live table atomically. On any error the live table is left as it was."""

    # --- incremental models (see kcrm_gov.incremental) ------------------------------------------
    def high_water_mark(self, contract: Contract, column: str) -> Any:
        """The newest ``column`` value in the contract's table (a date or datetime), None when empty."""
        from sqlglot import exp

        name = exp.to_identifier(column, quoted=True).sql(dialect=self.kind)
        data = self.query_arrow(f"SELECT MAX({name}) AS m FROM {self.relation(contract.layer, contract.table)}")
        return data.column(0)[0].as_py()

    def stored_fingerprint(self, contract: Contract) -> str | None:
        """The contract fingerprint the incremental table was last built from (None: not recorded)."""
        return None

    def record_fingerprint(self, contract: Contract, fingerprint: str) -> None:  # noqa: B027
        """Remember the contract fingerprint the table was just built from."""

    def merge_table(self, contract: Contract, sql: str, cutoff: Any, fingerprint: str) -> BuildStats:
        """Fold the rows of ``sql`` (an incremental model's window from ``cutoff`` on) into the live
        table by key, all or nothing, and record ``fingerprint``."""
        raise EngineError(f"the {self.kind} engine cannot build {contract.qualified_name} incrementally; "
                          "run with --full-refresh")

    # --- the seeded sources' clock ------------------------------------------------------------------
    def seed_clock(self) -> datetime | None:
        """When the synthetic sources seeded into this warehouse were last synced, or None (a
        warehouse holding loaded or production data measures against the real clock)."""
        return None

    def record_seed_clock(self, clock: datetime) -> None:  # noqa: B027 - only the embedded engine keeps one
        """Remember that the raw layer holds synthetic sources last synced at ``clock``."""

    def forget_seed_clock(self) -> None:  # noqa: B027
        """Real data was loaded: from now on the real clock applies."""

    def dry_run(self, sql: str) -> int | None:
        """Bytes ``sql`` would scan, where the engine can tell (BigQuery); None otherwise."""
        return None

    def table_bytes(self, layer: str, table: str) -> int | None:
        """The stored size of ``layer.table`` as the warehouse bills a full scan of it, where the
        engine can tell (BigQuery); None otherwise or when the table does not exist."""
        return None

    def row_count(self, contract: Contract) -> int | None:
        """Rows in the contract's table, or None when it does not exist."""
        if not self.table_exists(contract.layer, contract.table):
            return None
        return int(self.query_arrow(f"SELECT COUNT(*) AS n FROM {self.relation(contract.layer, contract.table)}")
                   .column(0)[0].as_py())

    def checkpoint(self) -> None:  # noqa: B027 - optional: a service keeps its own memory
        """Write out what the warehouse keeps in this process's memory for committed changes, so it can
        be freed. Call it when no other statement runs (DuckDB cannot while another write is open)."""

    def close(self) -> None:  # noqa: B027 - optional for engines that hold nothing
        """Release the connection."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def iter_tables(self, layer: str) -> Iterator[str]:
        """The tables of ``layer`` (one call per layer, where ``table_exists`` is one per table)."""
