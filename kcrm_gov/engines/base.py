"""The small interface every engine implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ..errors import KcrmGovError

if TYPE_CHECKING:
    import pyarrow as pa

    from ..config import Target
    from ..contracts import Contract
    from ..project import Project


class EngineError(KcrmGovError):
    """The warehouse refused or failed a statement."""

    exit_code = 1


class WarehouseBusy(EngineError):
    """Another process holds the warehouse (a second build on one DuckDB file)."""

    exit_code = 2


class Engine(ABC):
    """A warehouse: one schema (DuckDB) or dataset (BigQuery) per layer."""

    kind: str = ""

    def __init__(self, project: Project, target: Target) -> None:
        self.project = project
        self.target = target

    def schema(self, layer: str) -> str:
        """The schema or dataset that holds ``layer``."""
        return self.target.dataset(layer)

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

    def row_count(self, contract: Contract) -> int | None:
        """Rows in the contract's table, or None when it does not exist."""
        if not self.table_exists(contract.layer, contract.table):
            return None
        return int(self.query_arrow(f"SELECT COUNT(*) AS n FROM {self.relation(contract.layer, contract.table)}")
                   .column(0)[0].as_py())

    def close(self) -> None:  # noqa: B027 - optional for engines that hold nothing
        """Release the connection."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def iter_tables(self, layer: str) -> Iterator[str]:  # pragma: no cover - engines override
        raise NotImplementedError
