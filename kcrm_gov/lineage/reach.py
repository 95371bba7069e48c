"""Which destination fields a warehouse column reaches: the one column-lineage graph
(:class:`kcrm_gov.lineage.graph.ColumnGraph`) down to retl columns, then each retl contract's own
field mapping (:attr:`kcrm_gov.contracts.Contract.destination`). ``diff`` (what an upstream change
reaches outside the warehouse) and the catalog (each column's destinations) both ask here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ContractError
from ..retl.destination import Destination

if TYPE_CHECKING:
    from ..project import Project
    from .graph import ColumnGraph


@dataclass(frozen=True)
class DestinationField:
    """A field of an external system filled from one retl column."""

    table: str  # the retl table, layer.table
    column: str
    destination: Destination
    field: str
    write: bool  # False: sent only to identify the record

    @property
    def uri(self) -> str:
        """``hubspot://kcrm-portal/companies.kcrm_icp_tier``: the destination dataset (namespace/object) and field."""
        return f"{self.destination.namespace}/{self.destination.object}.{self.field}"


def field_uri(destination: Destination, field: str) -> str:
    """How a destination field is named in reports (see :attr:`DestinationField.uri`)."""
    return f"{destination.namespace}/{destination.object}.{field}"


def destination_of(project: Project, table: str) -> Destination | None:
    """The destination of ``table``'s contract; None when it has none or it does not parse (lint says why)."""
    contract = project.contracts.get(table)
    if contract is None:
        return None
    try:
        return contract.destination
    except ContractError:
        return None


def destination_fields(project: Project, columns: Iterable[str]) -> list[DestinationField]:
    """The destination fields filled by ``columns`` (``layer.table.column``; nested paths count for their
    top-level column); columns without a mapping fill none. In the order of ``columns``, each once."""
    out: list[DestinationField] = []
    for name in columns:
        layer, table, column = [*name.split(".", 2), "", ""][:3]
        qualified = f"{layer}.{table}"
        destination = destination_of(project, qualified)
        if destination is None:
            continue
        top = column.split(".", 1)[0]
        for mapping in destination.fields:
            reached = DestinationField(qualified, mapping.column, destination, mapping.field,
                                       mapping.write and mapping.field != destination.match_key)
            if mapping.column == top and reached not in out:
                out.append(reached)
    return out


def reached_fields(project: Project, graph: ColumnGraph, table: str, column: str) -> list[DestinationField]:
    """The destination fields whose values derive from ``table.column`` (itself, when it is a mapped retl
    column, and every column downstream of it on ``graph``)."""
    downstream = graph.downstream(table, [column])
    return destination_fields(project, [f"{table}.{column}", *downstream])
