"""Contract enforcement: a model's output schema compared with its contract, as dbt does.

Names and types are compared here before anything is replaced; required columns are
enforced by the NOT NULL constraints of the DDL the engine builds into.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from .contracts import Contract
from .engines.base import ActualColumn
from .errors import KcrmGovError


@dataclass(frozen=True)
class Mismatch:
    """One difference between a model's output and its contract."""

    column: str
    contract_type: str
    actual_type: str
    reason: str


class ContractViolation(KcrmGovError):
    """The model's output does not match its contract."""

    exit_code = 1

    def __init__(self, contract: Contract, mismatches: list[Mismatch]) -> None:
        self.mismatches = mismatches
        super().__init__(f"{contract.qualified_name} does not match its contract "
                         f"({contract.path}):\n{format_mismatches(mismatches)}")


def compare_schema(contract: Contract, actual: list[ActualColumn],
                   type_text: Callable[[exp.DataType], str]) -> list[Mismatch]:
    """Every difference between ``actual`` (a model's output) and the contract's columns."""
    out: list[Mismatch] = []
    got = {c.name: c for c in actual}
    for column in contract.columns:
        expected = type_text(column.data_type)
        found = got.get(column.name)
        if found is None:
            out.append(Mismatch(column.name, expected, "-", "missing from the model's output"))
            continue
        actual_type = type_text(found.data_type)
        if actual_type != expected:
            out.append(Mismatch(column.name, expected, actual_type, "type differs: cast it in the model"))
    names = {c.name for c in contract.columns}
    for output in actual:
        if output.name not in names:
            out.append(Mismatch(output.name, "-", type_text(output.data_type), "not in the contract"))
    seen: set[str] = set()
    for output in actual:
        if output.name in seen:
            out.append(Mismatch(output.name, "-", "-", "the model outputs this column twice"))
        seen.add(output.name)
    return out


def format_mismatches(mismatches: list[Mismatch]) -> str:
    """A plain-text table: column | contract type | actual type | reason."""
    rows = [("column", "contract type", "actual type", "reason")]
    rows += [(m.column, m.contract_type, m.actual_type, m.reason) for m in mismatches]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  " + "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
